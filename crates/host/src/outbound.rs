//! Outbound HTTP: `allowed_outbound_hosts` enforcement and service chaining.
//!
//! Follows Spin's rules: entries are `scheme://host[:port]`, each part may be
//! `*`, hosts may be `*.domain` or an IP/CIDR, a missing port means the
//! scheme's well-known port, and `self`/`self.alt` allow relative URLs (the
//! app's own origin). A request that no entry allows fails with the wasi-http
//! error `HttpRequestDenied` before any connection is made.
//!
//! Requests to `http://<component-id>.spin.internal/...` never leave the
//! process: like Spin's interceptor they are dispatched to that component as
//! if it matched a `/...` route, with `spin-client-addr: 0.0.0.0:0`.

use std::sync::{Arc, Weak};

use bytes::Bytes;
use http::uri::Authority;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

pub use crate::allowed_hosts::{AllowedHost, AllowedHosts};
use crate::engine::AppRuntime;

/// The service chaining domain.
pub const CHAINING_SUFFIX: &str = ".spin.internal";

/// The component id of a `<id>.spin.internal` authority, if it is one.
pub fn chaining_target(authority: &Authority) -> Option<&str> {
    let host = authority.host();
    let (first, rest) = host.split_once('.')?;
    (format!(".{rest}") == CHAINING_SUFFIX && !first.is_empty()).then_some(first)
}

/// The `WasiHttpHooks` of one instance: policy for its outgoing requests.
pub struct OutboundHooks {
    pub component_id: Arc<str>,
    pub allowed: Arc<AllowedHosts>,
    pub runtime: Weak<AppRuntime>,
}

type SendResult = Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ),
    HttpError,
>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let allowed = self.allowed.clone();
        let runtime = self.runtime.clone();
        let component = self.component_id.clone();
        Box::new(async move {
            // wasmtime fills in an empty authority for relative URLs.
            let is_self = match request.uri().authority() {
                Some(a) => a.host().is_empty() || a.host() == "self.alt",
                None => true,
            };
            let permitted = if is_self {
                allowed.allows_relative()
            } else {
                allowed.allows_url(&request.uri().to_string(), "https")
            };
            if !permitted {
                eprintln!(
                    "[{component}] outbound request to {} denied: not in allowed_outbound_hosts",
                    describe(request.uri())
                );
                return Err(HttpError::HttpRequestDenied);
            }
            let runtime = runtime
                .upgrade()
                .ok_or_else(|| HttpError::InternalError(Some("app is shutting down".into())))?;
            if is_self {
                let origin = runtime
                    .self_origin()
                    .ok_or(HttpError::HttpRequestUriInvalid)?;
                let paq = request
                    .uri()
                    .path_and_query()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_else(|| "/".to_owned());
                *request.uri_mut() = format!("{origin}{paq}")
                    .parse()
                    .map_err(|_| HttpError::HttpRequestUriInvalid)?;
                if let Some(host) = request
                    .uri()
                    .authority()
                    .and_then(|a| http::HeaderValue::from_str(a.as_str()).ok())
                {
                    request.headers_mut().insert(http::header::HOST, host);
                }
            }

            let target = request
                .uri()
                .authority()
                .and_then(chaining_target)
                .map(str::to_owned);
            if let Some(target) = target {
                // Spin strips a service-chaining Host before dispatch.
                request.headers_mut().remove(http::header::HOST);
                let resp: http::Response<HyperOutgoingBody> = runtime
                    .handle_chained(&target, request)
                    .await
                    .map_err(|e| {
                        eprintln!("[{component}] chained request to {target:?} failed: {e:#}");
                        HttpError::InternalError(Some(format!("{e:#}")))
                    })?;
                let done: Box<dyn Future<Output = Result<(), HttpError>> + Send> =
                    Box::new(async { Ok(()) });
                return Ok((resp, done));
            }

            let (resp, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            let resp = resp.map(|b| {
                use http_body_util::BodyExt as _;
                b.boxed_unsync()
            });
            let io: Box<dyn Future<Output = Result<(), HttpError>> + Send> = Box::new(io);
            Ok((resp, io))
        })
    }
}

/// scheme://authority of a URI, for logs (never the path or query).
fn describe(uri: &http::Uri) -> String {
    format!(
        "{}://{}",
        uri.scheme_str().unwrap_or("https"),
        uri.authority().map(|a| a.as_str()).unwrap_or("")
    )
}

/// An empty body of the wasi-http body type.
pub fn empty_body() -> HyperOutgoingBody {
    use http_body_util::BodyExt as _;
    http_body_util::Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chaining_targets() {
        let a: Authority = "notifications.spin.internal".parse().expect("authority");
        assert_eq!(chaining_target(&a), Some("notifications"));
        let a: Authority = "notifications.spin.internal:80".parse().expect("authority");
        assert_eq!(chaining_target(&a), Some("notifications"));
        let a: Authority = "a.b.spin.internal".parse().expect("authority");
        assert_eq!(chaining_target(&a), None);
        let a: Authority = "example.com".parse().expect("authority");
        assert_eq!(chaining_target(&a), None);
    }
}
