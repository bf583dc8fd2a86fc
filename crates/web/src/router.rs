//! The route table and the component entry point.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};

use edgedesk_core::ApiError;

use crate::ctx::Ctx;
use crate::request::{JSON_LIMIT, Req};
use crate::response::Resp;
use crate::session::COOKIE;

/// Path parameters by name, e.g. `{id}`.
#[derive(Debug, Default)]
pub struct Params(Vec<(&'static str, String)>);

impl Params {
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

pub type Handler = fn(&Ctx, &Params) -> Result<Resp, ApiError>;

/// One row of a component's route table: `METHOD /path/{param}`.
pub struct Route {
    pub method: &'static str,
    pub pattern: &'static str,
    pub handler: Handler,
}

/// Shorthand for route tables.
pub const fn route(method: &'static str, pattern: &'static str, handler: Handler) -> Route {
    Route {
        method,
        pattern,
        handler,
    }
}

/// Matches `path` against `pattern`; `{name}` matches one non-empty segment.
fn matches(pattern: &'static str, path: &str) -> Option<Params> {
    let mut params = Vec::new();
    let mut ps = pattern.trim_end_matches('/').split('/');
    let mut xs = path.trim_end_matches('/').split('/');
    loop {
        match (ps.next(), xs.next()) {
            (None, None) => return Some(Params(params)),
            (Some(p), Some(x)) => {
                if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    let v = crate::request::percent_decode(x)?;
                    if v.is_empty() {
                        return None;
                    }
                    params.push((name, v));
                } else if p != x {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// Finds the handler: 404 when no pattern matches, 405 when only the method is wrong.
pub fn find<'a>(
    routes: &'a [Route],
    method: &str,
    path: &str,
) -> Result<(&'a Route, Params), ApiError> {
    let mut allow = Vec::new();
    for r in routes {
        if let Some(p) = matches(r.pattern, path) {
            if r.method == method || (method == "HEAD" && r.method == "GET") {
                return Ok((r, p));
            }
            allow.push(r.method);
        }
    }
    if allow.is_empty() {
        Err(ApiError::NotFound)
    } else {
        Err(ApiError::MethodNotAllowed { allow })
    }
}

/// The whole life of a request in a component: read it (with a body limit),
/// route it, answer, and only then kick mail delivery if the handler queued
/// mail or the due-check finds mail due for a retry. Answering first keeps the
/// relay's latency out of the response time,
/// so a forgot-password answer takes as long whether or not a mail was queued.
/// (Spin, like our host, keeps running the guest after the response is set.)
///
/// The answer goes through Spin's response outparam, which keeps repeated
/// headers: `spin_sdk::http::Response` holds one value per header name, so a
/// second `Set-Cookie` (session rotation plus a trusted-device cookie) would be
/// lost. Entry form: `async fn handle(req: IncomingRequest, out: ResponseOutparam)`.
pub async fn serve_to(incoming: IncomingRequest, routes: &[Route], out: ResponseOutparam) {
    serve_with_limit(incoming, routes, out, JSON_LIMIT).await
}

/// [`serve_to`] with a body limit other than the JSON default.
pub async fn serve_with_limit(
    incoming: IncomingRequest,
    routes: &[Route],
    out: ResponseOutparam,
    limit: usize,
) {
    let ctx = match Req::read(incoming, limit).await {
        Ok(req) => Ctx::new(req),
        Err(e) => return send(Resp::error(&e).secured(), out).await,
    };
    send(answer(&ctx, routes), out).await;
    after_answer(&ctx).await;
}

/// After the answer went out: the handler's mail, or the due-check (for
/// components that answer on their own, e.g. streamed bodies).
pub async fn after_answer(ctx: &Ctx) {
    let kick = kick_after_answer(ctx);
    if kick != Kick::No {
        kick_delivery(ctx, kick).await;
    }
}

/// What [`kick_after_answer`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kick {
    No,
    /// The handler queued mail.
    Queued,
    /// Queued mail is due and this request won the kick slot claimed at
    /// `claimed_at` (given back if the kick cannot reach the component).
    Due {
        claimed_at: i64,
    },
}

/// Run after the answer went out: should this request kick mail delivery?
/// Yes when the handler queued mail. Otherwise the due-check decides, for
/// requests with a session cookie: they looked the session up, so the database
/// is open already (nearly every page of a signed-in or returning visitor).
/// Real Spin has no timer: this is how a failed delivery is retried without
/// waiting for the next mail to be queued. Nothing to read when the request's
/// opening statement carried the check (`core::session::Opening`), else one
/// indexed read; one exact claim when something is due
/// (`core::outbox::claim_kick`).
pub fn kick_after_answer(ctx: &Ctx) -> Kick {
    if ctx.kick.get() {
        return Kick::Queued;
    }
    // Only where the handler opened the database already: a component
    // without one (the portal's health route) would fail to open it.
    if ctx.req.cookie(COOKIE).is_none() || !ctx.sql_opened() {
        return Kick::No;
    }
    let now = ctx.now();
    let known_due = ctx.mail_due_at_opening();
    match ctx
        .sql()
        .and_then(|sql| edgedesk_core::outbox::should_kick(sql, now, known_due))
    {
        Ok(true) => Kick::Due { claimed_at: now },
        Ok(false) => Kick::No,
        Err(e) => {
            eprintln!("mail due-check: {e}");
            Kick::No
        }
    }
}

/// Writes the answer; a client gone away is only logged.
pub async fn send(resp: Resp, out: ResponseOutparam) {
    if let Err(e) = resp.send(out).await {
        eprintln!("response body: {e}");
    }
}

/// The answer to a request read into `ctx`: route, CSRF rule, handler, the
/// contract's error body, security headers and session cookies.
pub fn answer(ctx: &Ctx, routes: &[Route]) -> Resp {
    respond(ctx, handle(ctx, routes))
}

/// A handler's result as the answer: the contract's error body (an internal
/// cause goes to the log only), security headers and session cookies.
pub fn respond(ctx: &Ctx, result: Result<Resp, ApiError>) -> Resp {
    let resp = match result {
        Ok(r) => r,
        Err(e) => {
            if let ApiError::Internal(cause) = &e {
                // The cause goes to the log only; it may name tables or paths.
                eprintln!("error: {} {}: {cause}", ctx.req.method, ctx.req.path);
            }
            Resp::error(&e)
        }
    };
    let mut resp = resp.secured();
    for c in ctx.set_cookies.borrow().iter() {
        resp.headers.push(("set-cookie".into(), c.clone()));
    }
    resp
}

fn handle(ctx: &Ctx, routes: &[Route]) -> Result<Resp, ApiError> {
    let (route, params) = find(routes, &ctx.req.method, &ctx.req.path)?;
    ctx.check_csrf()?;
    (route.handler)(ctx, &params)
}

/// Local service chaining to the notifications component. Failure is logged, not
/// fatal: the mail stays queued and a later request's due-check kicks again. A
/// due-check kick that did not get through gives its slot back, so that a
/// component missing `http://notifications.spin.internal` in its
/// `allowed_outbound_hosts` cannot hold delivery back.
async fn kick_delivery(ctx: &Ctx, kick: Kick) {
    if let Ok(sql) = ctx.sql()
        && matches!(edgedesk_core::outbox::runner_busy(sql, ctx.now()), Ok(true))
    {
        return;
    }
    let req = spin_sdk::http::Request::post(
        "http://notifications.spin.internal/api/notifications/deliver",
        Vec::<u8>::new(),
    )
    .build();
    let reached = match spin_sdk::http::send::<_, spin_sdk::http::Response>(req).await {
        Ok(r) => {
            if !(200..300).contains(r.status()) {
                eprintln!("mail kick: notifications answered {}", r.status());
            }
            true
        }
        Err(e) => {
            eprintln!("mail kick failed: {e}");
            false
        }
    };
    if let (false, Kick::Due { claimed_at }) = (reached, kick)
        && let Ok(sql) = ctx.sql()
        && let Err(e) = edgedesk_core::outbox::release_kick(sql, claimed_at)
    {
        eprintln!("mail kick: releasing the slot: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(_: &Ctx, _: &Params) -> Result<Resp, ApiError> {
        Ok(Resp::no_content())
    }

    const ROUTES: &[Route] = &[
        route("GET", "/api/things/{id}", ok),
        route("DELETE", "/api/things/{id}", ok),
        route("GET", "/api/things", ok),
        route("POST", "/api/things/{id}/rating", ok),
    ];

    #[test]
    fn params_are_extracted_and_decoded() {
        let (r, p) = find(ROUTES, "GET", "/api/things/SD%2D12").unwrap();
        assert_eq!(r.pattern, "/api/things/{id}");
        assert_eq!(p.get("id"), "SD-12");
        let (r, p) = find(ROUTES, "POST", "/api/things/7/rating").unwrap();
        assert_eq!(r.pattern, "/api/things/{id}/rating");
        assert_eq!(p.get("id"), "7");
    }

    #[test]
    fn wrong_method_is_405_with_allow_and_unknown_is_404() {
        match find(ROUTES, "PUT", "/api/things/1") {
            Err(ApiError::MethodNotAllowed { allow }) => assert_eq!(allow, vec!["GET", "DELETE"]),
            _ => panic!("expected 405"),
        }
        assert!(matches!(
            find(ROUTES, "GET", "/api/nothing"),
            Err(ApiError::NotFound)
        ));
        assert!(matches!(
            find(ROUTES, "GET", "/api/things//rating"),
            Err(ApiError::NotFound)
        ));
        assert!(find(ROUTES, "HEAD", "/api/things").is_ok());
    }
}
