//! `allowed_outbound_hosts` entries: parsing and matching, Spin's rules (see
//! [`crate::outbound`], which enforces them). Kept apart from the runtime so
//! the manifest loader builds without wasmtime (feature `runtime` off, as the
//! fuzz targets build it).

use std::net::IpAddr;

use anyhow::{Context as _, bail};

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
}
