//! The route table and the component entry point.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};

use edgedesk_core::ApiError;

use crate::ctx::Ctx;
use crate::request::{JSON_LIMIT, Req};
use crate::response::Resp;

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
/// mail. Answering first keeps the relay's latency out of the response time,
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
    let (resp, kick) = respond(incoming, routes, limit).await;
    if let Err(e) = resp.send(out).await {
        eprintln!("response body: {e}");
    }
    if kick {
        kick_delivery().await;
    }
}

/// The whole life of a request, up to the answer; also says whether to kick.
async fn respond(incoming: IncomingRequest, routes: &[Route], limit: usize) -> (Resp, bool) {
    let req = match Req::read(incoming, limit).await {
        Ok(r) => r,
        Err(e) => return (Resp::error(&e).secured(), false),
    };
    let ctx = Ctx::new(req);
    let resp = match handle(&ctx, routes) {
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
    (resp, ctx.kick.get())
}

fn handle(ctx: &Ctx, routes: &[Route]) -> Result<Resp, ApiError> {
    let (route, params) = find(routes, &ctx.req.method, &ctx.req.path)?;
    ctx.check_csrf()?;
    (route.handler)(ctx, &params)
}

/// Local service chaining to the notifications component. Failure is logged, not
/// fatal: the mail stays queued and the scheduled kick delivers it later.
async fn kick_delivery() {
    let req = spin_sdk::http::Request::post(
        "http://notifications.spin.internal/api/notifications/deliver",
        Vec::<u8>::new(),
    )
    .build();
    match spin_sdk::http::send::<_, spin_sdk::http::Response>(req).await {
        Ok(r) if (200..300).contains(r.status()) => {}
        Ok(r) => eprintln!("mail kick: notifications answered {}", r.status()),
        Err(e) => eprintln!("mail kick failed: {e}"),
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
