//! Component `notifications`: the only component that reaches outside the app.
//!
//! Routes: `POST /api/notifications/deliver` (internal: service-chained callers,
//! the host's scheduler, or an outside scheduler holding the secret
//! `deliver_token`), `GET /api/admin/outbox` and
//! `POST /api/admin/outbox/{id}/retry` (operators; the retry is audited).
//! Owns table `outbox` (rows are inserted by other components through
//! `edgedesk_core::outbox::enqueue` inside their own transactions).
//!
//! Retries without a timer (issue 13): real Spin runs nothing between
//! requests, so a failed delivery is retried (1) inside the same request, a
//! few tries with short waits ([`delivery`]), then (2) by the due-check that
//! every request opening the database runs after answering
//! (`core::outbox::should_kick`), at most once per few seconds across
//! instances, and (3) optionally by an outside scheduler (docs/DEPLOY.md).

mod delivery;
mod outbox;
mod preferences;
mod transport;

use edgedesk_core::ApiError;
use edgedesk_core::token::{ct_eq, sha256_hex};
use edgedesk_web::request::{JSON_LIMIT, JsonBody};
use edgedesk_web::router::{Kick, answer, kick_after_answer, route, send};
use edgedesk_web::{Ctx, Params, Req, Resp, Route};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};

/// The route table (public so the OpenAPI test can compare it with openapi.yaml).
pub const ROUTES: &[Route] = &[
    route("POST", "/api/notifications/deliver", deliver_placeholder),
    route("GET", "/api/admin/outbox", admin_outbox),
    route("POST", "/api/admin/outbox/{id}/retry", admin_outbox_retry),
    route("GET", "/api/notifications/preferences", preferences_get),
    route("PATCH", "/api/notifications/preferences", preferences_patch),
    route("GET", "/api/notifications/unsubscribe", unsubscribe_show),
    route("POST", "/api/notifications/unsubscribe", unsubscribe_post),
];

fn preferences_get(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let s = ctx.require_full()?;
    Ok(Resp::json(200, &preferences::get(ctx.sql()?, &s.user_id)?))
}

fn preferences_patch(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let s = ctx.require_full()?;
    let patch: preferences::Patch = ctx.req.json()?;
    let prefs = preferences::update(ctx.sql()?, &s.user_id, &patch, ctx.now())?;
    Ok(Resp::json(200, &prefs))
}

fn key_prefix(ctx: &Ctx) -> String {
    ctx.var_or("ticket_key_prefix", "SD").trim().to_owned()
}

/// The page behind a request mail's "turn off" link: shows, changes nothing.
fn unsubscribe_show(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let token = ctx.req.query_param("token").unwrap_or_default();
    let v = preferences::describe(
        ctx.sql()?,
        &ctx.link_keys()?,
        &key_prefix(ctx),
        &token,
        ctx.now(),
    )?;
    Ok(Resp::json(200, &v))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenInput {
    token: String,
}

fn unsubscribe_post(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let input: TokenInput = ctx.req.json()?;
    let v = preferences::unsubscribe(
        ctx.sql()?,
        &ctx.link_keys()?,
        &key_prefix(ctx),
        &input.token,
        ctx.now(),
    )?;
    Ok(Resp::json(200, &v))
}

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
        return send(deliver(req).await.secured(), out).await;
    }
    // Like `edgedesk_web::serve_to`, but a due-check here delivers in this
    // instance instead of kicking itself through service chaining.
    let ctx = match Req::read(req, JSON_LIMIT).await {
        Ok(r) => Ctx::new(r),
        Err(e) => return send(Resp::error(&e).secured(), out).await,
    };
    send(answer(&ctx, ROUTES), out).await;
    if kick_after_answer(&ctx) != Kick::No
        && let Err(e) = delivery::run(&ctx).await
    {
        eprintln!("deliver after answering: {e}");
    }
}

/// The deliver route is async (it awaits the relay), so it is handled before the
/// synchronous route table; the table entry keeps 405/404 answers consistent.
fn deliver_placeholder(_: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    Err(ApiError::NotFound)
}

async fn deliver(incoming: IncomingRequest) -> Resp {
    let req = match Req::read(incoming, 1024).await {
        Ok(r) => r,
        Err(e) => return Resp::error(&e),
    };
    let ctx = Ctx::new(req);
    let sent = ctx
        .req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "));
    if !ctx.req.is_chained() && !scheduler_may_deliver(&ctx.var_or("deliver_token", ""), sent) {
        // One answer for "no token", "wrong token" and "no token configured".
        let e = ApiError::forbidden(
            "internal_only",
            "This address is for the app's own components.",
        );
        return Resp::error(&e);
    }
    match delivery::run(&ctx).await {
        Ok(report) => Resp::json(200, &report),
        Err(e) => {
            if let ApiError::Internal(cause) = &e {
                eprintln!("deliver: {cause}");
            }
            Resp::error(&e)
        }
    }
}

/// Shortest `deliver_token` accepted: a shorter one is treated as unset, so a
/// placeholder such as "changeme" never opens the route.
pub const MIN_DELIVER_TOKEN_LEN: usize = 24;

/// An outside scheduler may call deliver with `Authorization: Bearer
/// <deliver_token>`. Compared as SHA-256 digests in constant time, so neither
/// the content nor the length of the secret leaks through timing.
fn scheduler_may_deliver(configured: &str, sent: Option<&str>) -> bool {
    let Some(sent) = sent else { return false };
    configured.trim().len() >= MIN_DELIVER_TOKEN_LEN
        && ct_eq(
            sha256_hex(sent.trim()).as_bytes(),
            sha256_hex(configured.trim()).as_bytes(),
        )
}

fn admin_outbox(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    // Customers get 404, like every /api/admin route.
    ctx.require_operator()?;
    let page = outbox::Paging::from_query(
        ctx.req.query_param("page").as_deref(),
        ctx.req.query_param("per_page").as_deref(),
    )?;
    let list = outbox::list(
        ctx.sql()?,
        &page,
        ctx.req.query_param("state").as_deref(),
        ctx.now(),
    )?;
    Ok(Resp::json(200, &list))
}

/// An operator sends a pending or given-up message again now: it goes out
/// with the delivery kicked after this answer. Audited in the same transaction.
fn admin_outbox_retry(ctx: &Ctx, p: &Params) -> Result<Resp, ApiError> {
    let (s, _) = ctx.require_operator()?;
    let sql = ctx.sql()?;
    let label = edgedesk_core::audit::user_label(sql, &s.user_id)?;
    let actor = edgedesk_core::audit::Actor::user(&s.user_id, &label);
    let item = outbox::retry(sql, p.get("id"), actor, &ctx.req.client_ip(), ctx.now())?;
    ctx.kick_mail();
    Ok(Resp::json(200, &item))
}

/// Every JSON body of this component's routes, parsed as the route parses it
/// (fuzzed natively: fuzz/ and docs/SECURITY.md, "Fuzzing").
#[doc(hidden)]
pub const JSON_BODIES: &[JsonBody] = &[
    JsonBody::of::<preferences::Patch>("PATCH /api/notifications/preferences"),
    JsonBody::of::<TokenInput>("POST /api/notifications/unsubscribe"),
];

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdefghijklmnopqrstuv";

    #[test]
    fn the_scheduler_needs_the_configured_token() {
        assert!(scheduler_may_deliver(TOKEN, Some(TOKEN)));
        assert!(!scheduler_may_deliver(TOKEN, None));
        assert!(!scheduler_may_deliver(TOKEN, Some("")));
        assert!(!scheduler_may_deliver(TOKEN, Some(&TOKEN[1..])));
        assert!(!scheduler_may_deliver(TOKEN, Some(&format!("{TOKEN}x"))));
    }

    #[test]
    fn an_unset_or_short_token_opens_nothing() {
        assert!(!scheduler_may_deliver("", Some("")));
        assert!(!scheduler_may_deliver("changeme", Some("changeme")));
        let short = &TOKEN[..MIN_DELIVER_TOKEN_LEN - 1];
        assert!(!scheduler_may_deliver(short, Some(short)));
    }
}
