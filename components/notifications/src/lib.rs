//! Component `notifications`: the only component that reaches outside the app.
//!
//! Routes: `POST /api/notifications/deliver` (internal: service-chained callers
//! and the host's scheduler only), `GET /api/admin/outbox` (operators).
//! Owns table `outbox` (rows are inserted by other components through
//! `edgedesk_core::outbox::enqueue` inside their own transactions).

mod outbox;
mod transport;

use edgedesk_core::ApiError;
use edgedesk_core::users;
use edgedesk_web::router::route;
use edgedesk_web::{Ctx, Params, Resp, Route};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};

/// The route table (public so the OpenAPI test can compare it with openapi.yaml).
pub const ROUTES: &[Route] = &[
    route("POST", "/api/notifications/deliver", deliver_placeholder),
    route("GET", "/api/admin/outbox", admin_outbox),
];

/// Most messages one kick sends, so a kick stays short; the rest wait for the next.
const BATCH: usize = 25;

/// The wasi:http export (wasm only: native builds are for unit tests). The
/// macro's glue needs `unsafe`; nothing else may.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod entry {
    use spin_sdk::http::{IncomingRequest, ResponseOutparam};

    #[spin_sdk::http_component]
    async fn handle(req: IncomingRequest, out: ResponseOutparam) {
        super::handle(req, out).await
    }
}

/// Entry point (public so native builds see it used).
pub async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    let path = req.path_with_query().unwrap_or_default();
    let is_post = req.method().to_string() == "POST";
    if is_post && path.split('?').next() == Some("/api/notifications/deliver") {
        let resp = deliver(req).await.secured();
        if let Err(e) = resp.send(out).await {
            eprintln!("response body: {e}");
        }
        return;
    }
    edgedesk_web::serve_to(req, ROUTES, out).await
}

/// The deliver route is async (it awaits the relay), so it is handled before the
/// synchronous route table; the table entry keeps 405/404 answers consistent.
fn deliver_placeholder(_: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    Err(ApiError::NotFound)
}

async fn deliver(incoming: IncomingRequest) -> Resp {
    let req = match edgedesk_web::Req::read(incoming, 1024).await {
        Ok(r) => r,
        Err(e) => return Resp::error(&e),
    };
    if !req.is_chained() {
        let e = ApiError::forbidden(
            "internal_only",
            "This address is for the app's own components.",
        );
        return Resp::error(&e);
    }
    let ctx = Ctx::new(req);
    match run_delivery(&ctx).await {
        Ok(report) => Resp::json(200, &report),
        Err(e) => {
            if let ApiError::Internal(cause) = &e {
                eprintln!("deliver: {cause}");
            }
            Resp::error(&e)
        }
    }
}

async fn run_delivery(ctx: &Ctx) -> Result<serde_json::Value, ApiError> {
    let settings = transport::Settings::from_ctx(ctx)?;
    let sql = ctx.sql()?;
    let retry_base = ctx
        .var_or("mail_retry_base_s", "30")
        .parse::<i64>()
        .unwrap_or(30)
        .clamp(1, 3600);
    let (mut delivered, mut failed) = (0, 0);
    for _ in 0..BATCH {
        let Some(mail) = outbox::claim_next(sql, ctx.now())? else {
            break;
        };
        match transport::send(&settings, &mail).await {
            Ok(()) => {
                outbox::mark_delivered(sql, &mail.id, ctx.now())?;
                delivered += 1;
            }
            Err(err) => {
                outbox::mark_failed(sql, &mail, &err, ctx.now(), retry_base)?;
                failed += 1;
            }
        }
    }
    Ok(serde_json::json!({ "delivered": delivered, "failed": failed }))
}

fn admin_outbox(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let s = ctx.require_full()?;
    let role = users::role(ctx.sql()?, &s.user_id)?;
    if !role.is_some_and(|r| r.is_operator()) {
        return Err(ApiError::forbidden(
            "operators_only",
            "Only operators may see the outbox.",
        ));
    }
    let page = outbox::Paging::from_query(
        ctx.req.query_param("page").as_deref(),
        ctx.req.query_param("per_page").as_deref(),
    )?;
    let list = outbox::list(ctx.sql()?, &page, ctx.req.query_param("state").as_deref())?;
    Ok(Resp::json(200, &list))
}
