//! Spin's request headers, set on every request a component receives.
//!
//! Same names and values as Spin's HTTP trigger (`crates/trigger-http`
//! `headers.rs`): the full URL, the matched route, the path below a wildcard,
//! the client address, and one `spin-path-match-<name>` per named segment
//! (Spin's `SPIN_PATH_MATCH_<NAME>` with `_` turned into `-`, lowercased).
//! Client-sent headers of the same names are replaced, so a component can
//! trust them.

use std::net::SocketAddr;

use anyhow::Context as _;
use http::HeaderValue;
use http::header::HOST;

use crate::routes::RouteMatch;

pub const FULL_URL: &str = "spin-full-url";
pub const PATH_INFO: &str = "spin-path-info";
pub const MATCHED_ROUTE: &str = "spin-matched-route";
pub const COMPONENT_ROUTE: &str = "spin-component-route";
pub const RAW_COMPONENT_ROUTE: &str = "spin-raw-component-route";
pub const BASE_PATH: &str = "spin-base-path";
pub const CLIENT_ADDR: &str = "spin-client-addr";

/// Sets Spin's headers on `req` for `route`.
pub fn apply<B>(
    req: &mut http::Request<B>,
    route: &RouteMatch,
    client_addr: SocketAddr,
    base: &str,
) -> anyhow::Result<()> {
    let host = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    if req.uri().authority().is_none() && !req.headers().contains_key(HOST) {
        req.headers_mut()
            .insert(HOST, HeaderValue::from_static("localhost"));
    }
    let scheme = req.uri().scheme_str().unwrap_or("http").to_owned();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    let mut pairs = vec![
        (
            FULL_URL.to_owned(),
            format!("{scheme}://{host}{path_and_query}"),
        ),
        (PATH_INFO.to_owned(), route.path_info.clone()),
        (MATCHED_ROUTE.to_owned(), route.based_route.clone()),
        (BASE_PATH.to_owned(), base.to_owned()),
        (RAW_COMPONENT_ROUTE.to_owned(), route.raw_route.clone()),
        (
            COMPONENT_ROUTE.to_owned(),
            route.raw_route_or_prefix().to_owned(),
        ),
        (CLIENT_ADDR.to_owned(), client_addr.to_string()),
    ];
    for (name, value) in &route.params {
        pairs.push((crate::routes::param_header_name(name), value.clone()));
    }
    let headers = req.headers_mut();
    for (name, value) in pairs {
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .with_context(|| format!("invalid header name {name:?}"))?;
        let value = HeaderValue::from_str(&value)
            .with_context(|| format!("invalid value for header {name}"))?;
        headers.insert(name, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::Router;

    #[test]
    fn sets_spin_headers_and_replaces_client_values() -> anyhow::Result<()> {
        let router = Router::from_routes("/", [("c", "/foo/:userid/...")])?;
        let m = router.route("/foo/42/bar").context("match")?;
        let mut req = http::Request::builder()
            .uri("/foo/42/bar?key1=value1")
            .header("host", "fermyon.dev")
            .header(CLIENT_ADDR, "6.6.6.6:666")
            .body(())?;
        apply(&mut req, &m, "127.0.0.1:8777".parse()?, "/")?;
        let h = |n: &str| {
            req.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(
            h(FULL_URL).as_deref(),
            Some("http://fermyon.dev/foo/42/bar?key1=value1")
        );
        assert_eq!(h(PATH_INFO).as_deref(), Some("/bar"));
        assert_eq!(h(MATCHED_ROUTE).as_deref(), Some("/foo/:userid/..."));
        assert_eq!(h(BASE_PATH).as_deref(), Some("/"));
        assert_eq!(h(RAW_COMPONENT_ROUTE).as_deref(), Some("/foo/:userid/..."));
        assert_eq!(h(COMPONENT_ROUTE).as_deref(), Some("/foo/:userid"));
        assert_eq!(h(CLIENT_ADDR).as_deref(), Some("127.0.0.1:8777"));
        assert_eq!(h("spin-path-match-userid").as_deref(), Some("42"));
        assert_eq!(req.headers().get_all(CLIENT_ADDR).iter().count(), 1);
        Ok(())
    }

    #[test]
    fn underscored_segment_names_become_dashed_headers() -> anyhow::Result<()> {
        // The reported bug: `:path_segment` must arrive as
        // `spin-path-match-path-segment`, as Spin names it.
        let router = Router::from_routes("/", [("c", "/base/:path_segment/:path_end/...")])?;
        let m = router.route("/base/a/b/c").context("match")?;
        let mut req = http::Request::builder()
            .uri("/base/a/b/c")
            .header("spin-path-match-path-segment", "forged")
            .body(())?;
        apply(&mut req, &m, "127.0.0.1:1".parse()?, "/")?;
        let h = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok());
        assert_eq!(h("spin-path-match-path-segment"), Some("a"));
        assert_eq!(h("spin-path-match-path-end"), Some("b"));
        assert_eq!(h("spin-path-match-path_segment"), None);
        assert_eq!(h(PATH_INFO), Some("/c"));
        Ok(())
    }
}
