//! HTTP trigger routing with Spin's rules, by Spin's own matcher.
//!
//! Spin's router (`crates/http/src/routes.rs`, `spin-http-routes`) hands the
//! routes to the `routefinder` crate (0.5.4); so does this module, with the
//! same preparation, so precedence cannot drift from Spin's:
//!
//! - the base and the route each lose one trailing slash and are joined
//!   (`sanitize_with_base`);
//! - a trailing `/...` becomes routefinder's `/*`; a route already ending in
//!   `/*` is a wildcard too; anything else is exact;
//! - `:name` captures one segment (up to the next `/` or `.`), exposed to the
//!   guest as `spin-path-match-<name>` (see `headers`);
//! - precedence is routefinder's: segments compared left to right, literal
//!   beats `:name` beats the wildcard, then the longer route wins, whatever
//!   the order in `spin.toml`; leading and trailing slashes of the request
//!   path are ignored for matching;
//! - `spin-path-info` is the wildcard's capture with Spin's trailing-slash
//!   rules (`/test/...`: `/test` → ``, `/test/` → `/`, `/test/a/` → `/a/`).
//!
//! Private routes (`{ private = true }`) are not in the table: they are only
//! reachable by service chaining. A path no route matches is Spin's plain
//! `404` (no body). Unlike Spin, a route that routefinder would panic on at
//! request time (a wildcard before the end) or whose `:name` cannot become a
//! header name is refused at start-up.

use crate::manifest::{App, TriggerRoute};

/// A compiled route table.
#[derive(Debug, Default)]
pub struct Router {
    table: routefinder::Router<Handler>,
    /// (component, based route, wildcard) in manifest order, for the banner.
    listed: Vec<(String, String, bool)>,
}

#[derive(Debug, Clone)]
struct Handler {
    component: String,
    /// The route with the base applied, as Spin's `spin-matched-route`.
    based: String,
    /// The route as written, as Spin's `spin-raw-component-route`.
    raw: String,
}

/// What a request path matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    pub component: String,
    pub based_route: String,
    pub raw_route: String,
    /// `spin-path-info`: the part matched by a trailing wildcard.
    pub path_info: String,
    /// Named segments in route order, e.g. `("id", "42")` for `/users/:id`.
    pub params: Vec<(String, String)>,
}

impl RouteMatch {
    /// A match as if the path hit a `/...` route of `component`: how Spin
    /// presents a service-chained request.
    pub fn synthetic(component: &str, path: &str) -> Self {
        Self {
            component: component.to_owned(),
            based_route: "/...".to_owned(),
            raw_route: "/...".to_owned(),
            path_info: path.to_owned(),
            params: Vec::new(),
        }
    }

    /// `spin-component-route`: the raw route without a trailing `/...`.
    pub fn raw_route_or_prefix(&self) -> &str {
        self.raw_route
            .strip_suffix("/...")
            .unwrap_or(&self.raw_route)
    }
}

/// Spin's `sanitize_with_base`: base and route each lose one trailing slash.
fn based_route(base: &str, route: &str) -> String {
    let route = if route.starts_with('/') {
        route.to_owned()
    } else {
        format!("/{route}")
    };
    let strip = |s: &str| s.strip_suffix('/').unwrap_or(s).to_owned();
    format!("{}{}", strip(base), strip(&route))
}

/// The header a named segment is exposed as: Spin builds
/// `SPIN_PATH_MATCH_<NAME>` and then turns `_` into `-` and lowercases, so
/// `:path_segment` is `spin-path-match-path-segment`.
pub fn param_header_name(name: &str) -> String {
    format!("spin-path-match-{name}")
        .replace('_', "-")
        .to_ascii_lowercase()
}

impl Router {
    /// Builds the table from the app's HTTP triggers (private ones are
    /// skipped). The application `base` is not applied: Spin 3 removed it
    /// and routes from `/` (the caller warns when one is set).
    pub fn build(app: &App) -> anyhow::Result<Self> {
        let pairs = app.triggers.iter().filter_map(|t| match &t.route {
            TriggerRoute::Path(p) => Some((t.component.as_str(), p.as_str())),
            TriggerRoute::Private => None,
        });
        Self::from_routes("/", pairs)
    }

    /// Builds a table from `(component, route)` pairs.
    pub fn from_routes<'a>(
        base: &str,
        routes: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> anyhow::Result<Self> {
        let mut table = routefinder::Router::new();
        let mut listed = Vec::new();
        for (component, raw) in routes {
            let based = based_route(base, raw);
            let (spec, shown, wildcard) = match based.strip_suffix("/...") {
                Some(prefix) => (format!("{prefix}/*"), prefix.to_owned(), true),
                None => match based.strip_suffix("/*") {
                    Some(prefix) => (based.clone(), prefix.to_owned(), true),
                    None => (based.clone(), based.clone(), false),
                },
            };
            let spec: routefinder::RouteSpec = spec
                .as_str()
                .try_into()
                .map_err(|e| anyhow::anyhow!("route {raw:?} of component {component:?}: {e}"))?;
            let segments = spec.segments();
            for (i, seg) in segments.iter().enumerate() {
                match seg {
                    routefinder::Segment::Wildcard if i + 1 != segments.len() => anyhow::bail!(
                        "route {raw:?} of component {component:?}: a wildcard (`/...`) may only end a route"
                    ),
                    routefinder::Segment::Param(name) => {
                        http::HeaderName::from_bytes(param_header_name(name).as_bytes())
                            .map_err(|_| {
                                anyhow::anyhow!(
                                    "route {raw:?} of component {component:?}: `:{name}` cannot be passed as a spin-path-match header; use letters, digits, `_` and `-`"
                                )
                            })?;
                    }
                    _ => {}
                }
            }
            let handler = Handler {
                component: component.to_owned(),
                based: based.clone(),
                raw: raw.to_owned(),
            };
            // Already parsed: adding a RouteSpec cannot fail.
            table
                .add(spec, handler)
                .unwrap_or_else(|never| match never {});
            listed.push((component.to_owned(), shown, wildcard));
        }
        Ok(Self { table, listed })
    }

    /// The routes, for the start-up banner: (component, route without
    /// `/...`, wildcard), in manifest order.
    pub fn routes(&self) -> impl Iterator<Item = (&str, &str, bool)> {
        self.listed
            .iter()
            .map(|(c, r, w)| (c.as_str(), r.as_str(), *w))
    }

    /// Finds the best route for `path` (no query string), as Spin does.
    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        let best = self.table.best_match(path)?;
        let handler = best.handler();
        let captures = best.captures();
        let path_info = captures
            .wildcard()
            .map(|s| match (s.is_empty(), path.ends_with('/')) {
                (true, false) => String::new(),
                (true, true) => "/".to_owned(),
                (false, false) => format!("/{s}"),
                (false, true) => format!("/{s}/"),
            })
            .unwrap_or_default();
        let params = captures
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Some(RouteMatch {
            component: handler.component.clone(),
            based_route: handler.based.clone(),
            raw_route: handler.raw.clone(),
            path_info,
            params,
        })
    }
}

#[cfg(test)]
mod tests {
    //! Cases from Spin's documentation (spinframework.dev/v4/http-trigger:
    //! exact and wildcard routes, single-segment wildcards, overlapping
    //! routes) and from the tests of Spin's router (`crates/http/src/routes.rs`).
    use super::*;

    fn router(routes: &[(&'static str, &'static str)]) -> Router {
        Router::from_routes("/", routes.iter().copied()).expect("router")
    }

    fn component(r: &Router, path: &str) -> Option<String> {
        r.route(path).map(|m| m.component)
    }

    fn params(r: &Router, path: &str) -> Vec<(String, String)> {
        r.route(path).map(|m| m.params).unwrap_or_default()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn exact_routes_match_only_themselves() {
        // Docs: `/cart` matches only `/cart`, not `/cart/checkout`.
        let r = router(&[("shopping-cart", "/cart"), ("checkout", "/cart/checkout")]);
        assert_eq!(component(&r, "/cart").as_deref(), Some("shopping-cart"));
        assert_eq!(component(&r, "/cart/").as_deref(), Some("shopping-cart"));
        assert_eq!(component(&r, "/cart/checkout").as_deref(), Some("checkout"));
        assert_eq!(component(&r, "/cart/other"), None);
        assert_eq!(component(&r, "/carts"), None);
        assert_eq!(component(&r, "/"), None);
    }

    #[test]
    fn trailing_wildcard_matches_the_route_and_below() {
        // Docs: `/users/...` matches `/users`, `/users/1`, `/users/1/edit`.
        let r = router(&[("users", "/users/...")]);
        for p in ["/users", "/users/", "/users/1", "/users/1/edit"] {
            assert_eq!(component(&r, p).as_deref(), Some("users"), "{p}");
        }
        assert_eq!(component(&r, "/usersx"), None);
        let r = router(&[("all", "/...")]);
        for p in ["/", "/foo/bar", "/abc/", "/this/should/be/captured"] {
            assert_eq!(component(&r, p).as_deref(), Some("all"), "{p}");
        }
    }

    #[test]
    fn single_segment_wildcards_match_one_segment() {
        // Docs: `/users/:userid/edit` matches `/users/1/edit` and
        // `/users/alice/edit`, but not `/users`, `/users/1` or
        // `/users/1/edit/cart`.
        let r = router(&[("edit", "/users/:userid/edit")]);
        assert_eq!(params(&r, "/users/1/edit"), pairs(&[("userid", "1")]));
        assert_eq!(
            params(&r, "/users/alice/edit"),
            pairs(&[("userid", "alice")])
        );
        for p in ["/users", "/users/1", "/users/1/edit/cart"] {
            assert_eq!(component(&r, p), None, "{p}");
        }
    }

    #[test]
    fn named_segments_before_a_trailing_wildcard() {
        // The reported case: every named segment is captured, the rest is
        // the path info.
        let r = router(&[("c", "/base/:path_segment/:path_end/...")]);
        let m = r.route("/base/one/two/three/four").expect("match");
        assert_eq!(
            m.params,
            pairs(&[("path_segment", "one"), ("path_end", "two")])
        );
        assert_eq!(m.path_info, "/three/four");
        assert_eq!(m.raw_route_or_prefix(), "/base/:path_segment/:path_end");
        let m = r.route("/base/one/two").expect("match");
        assert_eq!(
            m.params,
            pairs(&[("path_segment", "one"), ("path_end", "two")])
        );
        assert_eq!(m.path_info, "");
        assert_eq!(component(&r, "/base/one"), None);
        // Spin's router test: `/1/:two/...` on `/1/2/3`.
        let r = router(&[("c", "/1/:two/...")]);
        assert_eq!(params(&r, "/1/2/3"), pairs(&[("two", "2")]));
    }

    #[test]
    fn header_names_follow_spins_conversion() {
        assert_eq!(
            param_header_name("path_segment"),
            "spin-path-match-path-segment"
        );
        assert_eq!(param_header_name("userId"), "spin-path-match-userid");
        assert_eq!(param_header_name("id"), "spin-path-match-id");
    }

    #[test]
    fn exact_beats_single_segment_beats_trailing_wildcard() {
        // Docs (overlapping routes) and the SDK router's statement of the
        // same rule: exact over any wildcard, `:name` over `/...`.
        for routes in [
            vec![
                ("all", "/users/..."),
                ("one", "/users/:id"),
                ("me", "/users/me"),
            ],
            vec![
                ("me", "/users/me"),
                ("one", "/users/:id"),
                ("all", "/users/..."),
            ],
        ] {
            let r = router(&routes);
            assert_eq!(component(&r, "/users/me").as_deref(), Some("me"));
            assert_eq!(component(&r, "/users/42").as_deref(), Some("one"));
            assert_eq!(component(&r, "/users/42/x").as_deref(), Some("all"));
            assert_eq!(component(&r, "/users").as_deref(), Some("all"));
        }
        // Spin's router test: an exact route beats `/...`.
        let r = router(&[("one_exact", "/one"), ("wildcard", "/...")]);
        assert_eq!(component(&r, "/one").as_deref(), Some("one_exact"));
        let r = router(&[("root", "/"), ("all", "/...")]);
        assert_eq!(component(&r, "/").as_deref(), Some("root"));
        assert_eq!(component(&r, "/x").as_deref(), Some("all"));
    }

    #[test]
    fn longest_wildcard_prefix_wins_regardless_of_order() {
        // Spin's router test `test_router_respects_longest_match`.
        for routes in [
            vec![
                ("one", "/one/..."),
                ("two", "/one/two/..."),
                ("three", "/one/two/three/..."),
            ],
            vec![
                ("three", "/one/two/three/..."),
                ("two", "/one/two/..."),
                ("one", "/one/..."),
            ],
        ] {
            let r = router(&routes);
            assert_eq!(
                component(&r, "/one/two/three/four").as_deref(),
                Some("three")
            );
            assert_eq!(component(&r, "/one/two/x").as_deref(), Some("two"));
            assert_eq!(component(&r, "/one").as_deref(), Some("one"));
        }
        let r = router(&[
            ("all", "/..."),
            ("api", "/api/..."),
            ("health", "/api/health"),
        ]);
        assert_eq!(component(&r, "/api/health").as_deref(), Some("health"));
        assert_eq!(component(&r, "/api/healthz").as_deref(), Some("api"));
        assert_eq!(component(&r, "/apis").as_deref(), Some("all"));
    }

    #[test]
    fn path_info_follows_spins_trailing_slash_rules() {
        // Spin's router test `trailing_wildcard_respects_trailing_slash`.
        let r = router(&[("c", "/test/...")]);
        let info = |p: &str| r.route(p).map(|m| m.path_info);
        assert_eq!(info("/test").as_deref(), Some(""));
        assert_eq!(info("/test/").as_deref(), Some("/"));
        assert_eq!(info("/test/hello").as_deref(), Some("/hello"));
        assert_eq!(info("/test/hello/").as_deref(), Some("/hello/"));
        // `trailing_wildcard_is_captured`.
        let r = router(&[("c", "/...")]);
        assert_eq!(
            r.route("/1/2/3").map(|m| m.path_info).as_deref(),
            Some("/1/2/3")
        );
        let r = router(&[("c", "/1/...")]);
        assert_eq!(
            r.route("/1/2/3").map(|m| m.path_info).as_deref(),
            Some("/2/3")
        );
        // An exact route has no path info.
        let r = router(&[("c", "/exact")]);
        assert_eq!(r.route("/exact").map(|m| m.path_info).as_deref(), Some(""));
    }

    #[test]
    fn star_suffix_is_a_wildcard_too() {
        let r = router(&[("c", "/static/*")]);
        let m = r.route("/static/a/b.css").expect("match");
        assert_eq!(m.path_info, "/a/b.css");
        assert_eq!(m.based_route, "/static/*");
    }

    #[test]
    fn base_is_joined_like_spin() {
        let r =
            Router::from_routes("/base/", [("foo", "/foo"), ("bar", "bar/...")]).expect("router");
        assert_eq!(component(&r, "/base/foo").as_deref(), Some("foo"));
        assert_eq!(component(&r, "/base/bar/x").as_deref(), Some("bar"));
        assert_eq!(component(&r, "/foo"), None);
        assert_eq!(
            r.route("/base/foo").map(|m| m.based_route).as_deref(),
            Some("/base/foo")
        );
    }

    #[test]
    fn routes_spin_would_panic_on_are_refused() {
        for bad in ["/a/*/b", "/*/..."] {
            let e = Router::from_routes("/", [("c", bad)]).expect_err(bad);
            assert!(e.to_string().contains("may only end a route"), "{bad}: {e}");
        }
        let e = Router::from_routes("/", [("c", "/x/*named")]).expect_err("named wildcard");
        assert!(e.to_string().contains("wildcard"), "{e}");
        let e = Router::from_routes("/", [("c", "/x/:")]).expect_err("unnamed");
        assert!(e.to_string().contains("named"), "{e}");
        let e = Router::from_routes("/", [("c", "/x/:a b")]).expect_err("space");
        assert!(e.to_string().contains("spin-path-match"), "{e}");
    }

    #[test]
    fn banner_lists_routes_in_manifest_order() {
        let r = router(&[("b", "/b/..."), ("a", "/a"), ("root", "/...")]);
        let listed: Vec<_> = r.routes().collect();
        assert_eq!(
            listed,
            [("b", "/b", true), ("a", "/a", false), ("root", "", true)]
        );
    }

    #[test]
    fn synthetic_match_is_like_spin_chaining() {
        let m = RouteMatch::synthetic("notifications", "/api/x");
        assert_eq!(m.based_route, "/...");
        assert_eq!(m.raw_route_or_prefix(), "");
        assert_eq!(m.path_info, "/api/x");
        assert!(m.params.is_empty());
    }
}
