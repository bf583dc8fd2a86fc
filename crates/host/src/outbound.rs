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

use std::net::IpAddr;
use std::sync::{Arc, Weak};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http::uri::Authority;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use crate::engine::AppRuntime;

/// The service chaining domain.
pub const CHAINING_SUFFIX: &str = ".spin.internal";

/// One parsed `allowed_outbound_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// `*.example.com`, stored as `.example.com`.
    AnySubdomain(String),
    /// `self` / `self.alt`: relative URLs only.
    ToSelf,
    Exact(String),
    Cidr(IpAddr, u8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    Port(u16),
    /// Half-open range `start..end`, as Spin.
    Range(u16, u16),
}

fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        _ => None,
    }
}

impl AllowedHost {
    /// Parses one entry (templates must already be resolved).
    pub fn parse(entry: &str) -> anyhow::Result<Self> {
        let url = entry.trim();
        let Some((scheme, rest)) = url.split_once("://") else {
            if matches!(url, "*" | ":" | "" | "?") {
                bail!(
                    "{url:?} is not an allowed outbound host format: hosts must be <scheme>://<host>[:<port>], with '*' wildcards allowed for each ('*://*:*' allows everything)"
                );
            }
            bail!("{url:?} does not contain a scheme (e.g. 'http://' or '*://')");
        };
        let (host, port) = rest.rsplit_once(':').unwrap_or((rest, ""));
        let port = match port.split_once('/') {
            Some((p, path)) => {
                if !path.is_empty() {
                    bail!("{url:?} has a path but is not allowed to");
                }
                p
            }
            None => port,
        };
        let scheme_pattern = if scheme == "*" {
            None
        } else if scheme.chars().all(|c| c.is_ascii_alphabetic()) && !scheme.is_empty() {
            Some(scheme.to_owned())
        } else {
            bail!("scheme {scheme:?} contains a non-alphabetic character");
        };
        let host = parse_host(host.trim())?;
        let port = if port.is_empty() {
            match well_known_port(scheme) {
                Some(p) => PortPattern::Port(p),
                None => bail!(
                    "{url:?}: no port was provided and the scheme {scheme:?} has no well-known port"
                ),
            }
        } else if port == "*" {
            PortPattern::Any
        } else if let Some((a, b)) = port.split_once("..") {
            let a = a
                .parse()
                .with_context(|| format!("port range {port:?} is not numeric"))?;
            let b = b
                .parse()
                .with_context(|| format!("port range {port:?} is not numeric"))?;
            PortPattern::Range(a, b)
        } else {
            PortPattern::Port(
                port.parse()
                    .with_context(|| format!("port {port:?} is not a number"))?,
            )
        };
        Ok(Self {
            scheme: scheme_pattern,
            host,
            port,
        })
    }

    fn allows(&self, url: &OutboundUrl) -> bool {
        let scheme_ok = self.scheme.as_deref().is_none_or(|s| s == url.scheme);
        let host_ok = match &self.host {
            HostPattern::Any => true,
            HostPattern::AnySubdomain(suffix) => url.host.ends_with(suffix.as_str()),
            HostPattern::ToSelf => false,
            HostPattern::Exact(h) => *h == url.host,
            HostPattern::Cidr(net, prefix) => url
                .host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| cidr_contains(*net, *prefix, ip)),
        };
        let port_ok = match &self.port {
            PortPattern::Any => true,
            other => match url.port.or_else(|| well_known_port(&url.scheme)) {
                Some(p) => match other {
                    PortPattern::Port(q) => p == *q,
                    PortPattern::Range(a, b) => (*a..*b).contains(&p),
                    PortPattern::Any => true,
                },
                None => false,
            },
        };
        scheme_ok && host_ok && port_ok
    }

    fn allows_relative(&self) -> bool {
        let scheme_ok = self
            .scheme
            .as_deref()
            .is_none_or(|s| s == "http" || s == "https");
        scheme_ok && matches!(self.host, HostPattern::Any | HostPattern::ToSelf)
    }
}

fn parse_host(host: &str) -> anyhow::Result<HostPattern> {
    if host == "*" {
        return Ok(HostPattern::Any);
    }
    if host == "self" || host == "self.alt" {
        return Ok(HostPattern::ToSelf);
    }
    if host.starts_with('{') {
        bail!("host lists are not yet supported");
    }
    let (ip_part, prefix) = match host.split_once('/') {
        Some((ip, prefix)) => (ip, Some(prefix)),
        None => (host, None),
    };
    if let Ok(ip) = ip_part.parse::<IpAddr>() {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .with_context(|| format!("invalid CIDR prefix in {host:?}"))?,
            None => max,
        };
        return Ok(HostPattern::Cidr(ip, prefix));
    }
    if prefix.is_some_and(|p| !p.is_empty()) {
        bail!("hosts must not contain paths");
    }
    if let Some(domain) = host.strip_prefix("*.") {
        if domain.contains('*') {
            bail!("invalid allowed host {host}: wildcards are allowed only as prefixes");
        }
        return Ok(HostPattern::AnySubdomain(format!(".{domain}")));
    }
    if host.contains('*') {
        bail!("invalid allowed host {host}: wildcards are allowed only as subdomains");
    }
    Ok(HostPattern::Exact(host.trim_end_matches('/').to_owned()))
}

fn cidr_contains(net: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            (u32::from(n) & mask) == (u32::from(i) & mask)
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            (u128::from(n) & mask) == (u128::from(i) & mask)
        }
        _ => false,
    }
}

/// A component's parsed allow list.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    hosts: Vec<AllowedHost>,
}

impl AllowedHosts {
    /// Parses resolved entries; `insecure:allow-all` is refused as Spin does.
    pub fn parse(entries: &[String]) -> anyhow::Result<Self> {
        if entries.len() == 1 && entries[0] == "insecure:allow-all" {
            bail!("'insecure:allow-all' is not allowed - use '*://*:*' instead");
        }
        let hosts = entries
            .iter()
            .map(|e| {
                AllowedHost::parse(e).with_context(|| format!("allowed_outbound_hosts entry {e:?}"))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { hosts })
    }

    /// Whether an absolute URL may be requested; the default scheme applies
    /// when `url` has none.
    pub fn allows_url(&self, url: &str, default_scheme: &str) -> bool {
        match OutboundUrl::parse(url, default_scheme) {
            Some(u) => self.hosts.iter().any(|h| h.allows(&u)),
            None => false,
        }
    }

    /// Whether relative (self) requests are allowed.
    pub fn allows_relative(&self) -> bool {
        self.hosts.iter().any(AllowedHost::allows_relative)
    }
}

#[derive(Debug)]
struct OutboundUrl {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl OutboundUrl {
    fn parse(url: &str, default_scheme: &str) -> Option<Self> {
        let parsed = match url::Url::parse(url) {
            Ok(u) if u.has_host() => u,
            _ => url::Url::parse(&format!("{default_scheme}://{url}")).ok()?,
        };
        Some(Self {
            scheme: parsed.scheme().to_owned(),
            host: parsed.host_str()?.to_owned(),
            port: parsed.port(),
        })
    }
}

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

    fn hosts(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("parse")
    }

    #[test]
    fn exact_hosts_and_default_ports() {
        let h = hosts(&["https://example.com"]);
        assert!(h.allows_url("https://example.com/x?y", "https"));
        assert!(h.allows_url("https://example.com:443/", "https"));
        assert!(!h.allows_url("https://example.com:8443/", "https"));
        assert!(!h.allows_url("http://example.com/", "https"));
        assert!(!h.allows_url("https://www.example.com/", "https"));
        assert!(!h.allows_relative());
    }

    #[test]
    fn wildcards() {
        let h = hosts(&["http://*.spin.internal", "*://localhost:*"]);
        assert!(h.allows_url("http://notifications.spin.internal/api", "https"));
        assert!(!h.allows_url("https://notifications.spin.internal/api", "https"));
        assert!(h.allows_url("http://localhost:1234/", "https"));
        assert!(h.allows_url("https://localhost/", "https"));
        assert!(!h.allows_url("http://127.0.0.1:1234/", "https"));
        let all = hosts(&["*://*:*"]);
        assert!(all.allows_url("ftp://anything:21/", "https"));
        assert!(all.allows_relative());
    }

    #[test]
    fn ports_ranges_and_cidrs() {
        let h = hosts(&["http://127.0.0.1:8000..8002", "https://10.0.0.0/8"]);
        assert!(h.allows_url("http://127.0.0.1:8001/", "https"));
        assert!(!h.allows_url("http://127.0.0.1:8002/", "https"));
        assert!(h.allows_url("https://10.1.2.3/", "https"));
        assert!(!h.allows_url("https://11.1.2.3/", "https"));
    }

    #[test]
    fn self_allows_relative_only() {
        let h = hosts(&["http://self"]);
        assert!(h.allows_relative());
        assert!(!h.allows_url("http://self/", "https"));
    }

    #[test]
    fn bad_entries_are_rejected() {
        for bad in [
            "example.com",
            "*",
            "https://ex*ample.com",
            "https://example.com/path",
            "h1ttp://x",
            "gopher://x",
        ] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad}");
        }
        assert!(AllowedHosts::parse(&["insecure:allow-all".to_owned()]).is_err());
    }

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
