//! HTTP trigger routing with Spin's rules.
//!
//! Routes are exact (`/api/health`), may hold named segments (`/users/:id`),
//! and may end in a wildcard (`/api/...`). The most specific route wins:
//! segments are compared left to right, a literal beats a `:name`, which
//! beats the wildcard, and an exact route ending at the path's end beats a
//! wildcard that would match the same path. So `/api/health` beats
//! `/api/...`, which beats `/...`, whatever their order in `spin.toml`.
//! A trailing slash on the request path is ignored for matching, but kept in
//! `spin-path-info` as Spin does.

use std::cmp::Ordering;

use crate::manifest::{App, TriggerRoute};

/// A compiled route table.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
}

#[derive(Debug, Clone)]
struct Route {
    component: String,
    /// The route with the base applied, as Spin's `spin-matched-route`.
    based: String,
    /// The route as written, as Spin's `spin-raw-component-route`.
    raw: String,
    segments: Vec<Segment>,
    wildcard: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Lit(String),
    Param(String),
}

/// What a request path matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    pub component: String,
    pub based_route: String,
    pub raw_route: String,
    /// `spin-path-info`: the part matched by a trailing wildcard.
    pub path_info: String,
    /// Named segments, e.g. `("id", "42")` for `/users/:id`.
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

fn strip_one_slash(s: &str) -> &str {
    s.strip_suffix('/').unwrap_or(s)
}

/// Spin's `sanitize_with_base`: base and route each lose one trailing slash.
fn based_route(base: &str, route: &str) -> String {
    let base = if base.starts_with('/') {
        base.to_owned()
    } else {
        format!("/{base}")
    };
    let route = if route.starts_with('/') {
        route.to_owned()
    } else {
        format!("/{route}")
    };
    format!("{}{}", strip_one_slash(&base), strip_one_slash(&route))
}

fn split(path: &str) -> Vec<&str> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('/').collect()
    }
}

impl Router {
    /// Builds the table from the app's HTTP triggers (private ones are skipped).
    pub fn build(app: &App) -> anyhow::Result<Self> {
        let pairs = app.triggers.iter().filter_map(|t| match &t.route {
            TriggerRoute::Path(p) => Some((t.component.as_str(), p.as_str())),
            TriggerRoute::Private => None,
        });
        Self::from_routes(&app.base, pairs)
    }

    /// Builds a table from `(component, route)` pairs.
    pub fn from_routes<'a>(
        base: &str,
        routes: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> anyhow::Result<Self> {
        let mut out = Vec::new();
        for (component, raw) in routes {
            let based = based_route(base, raw);
            let (pattern, wildcard) = match based.strip_suffix("/...") {
                Some(prefix) => (prefix.to_owned(), true),
                None => match based.strip_suffix("/*") {
                    Some(prefix) => (prefix.to_owned(), true),
                    None => (based.clone(), false),
                },
            };
            let mut segments = Vec::new();
            for seg in split(&pattern) {
                if seg == "..." || seg == "*" {
                    anyhow::bail!(
                        "route {raw:?} of component {component:?}: a wildcard may only end a route"
                    );
                }
                match seg.strip_prefix(':') {
                    Some(name) if !name.is_empty() => {
                        segments.push(Segment::Param(name.to_owned()))
                    }
                    _ => segments.push(Segment::Lit(seg.to_owned())),
                }
            }
            out.push(Route {
                component: component.to_owned(),
                based,
                raw: raw.to_owned(),
                segments,
                wildcard,
            });
        }
        Ok(Self { routes: out })
    }

    /// The routes, for the start-up banner: (component, based route).
    pub fn routes(&self) -> impl Iterator<Item = (&str, &str, bool)> {
        self.routes
            .iter()
            .map(|r| (r.component.as_str(), r.based.as_str(), r.wildcard))
    }

    /// Finds the most specific route for `path` (no query string).
    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        let parts = split(path);
        let mut best: Option<(&Route, Params)> = None;
        for route in &self.routes {
            let Some(params) = matches(route, &parts) else {
                continue;
            };
            let better = match &best {
                None => true,
                Some((current, _)) => specificity(route, current) == Ordering::Greater,
            };
            if better {
                best = Some((route, params));
            }
        }
        let (route, params) = best?;
        let consumed = route.segments.len();
        let path_info = if route.wildcard {
            let rest = parts[consumed..].join("/");
            match (rest.is_empty(), path.ends_with('/')) {
                (true, false) => String::new(),
                (true, true) => "/".to_owned(),
                (false, false) => format!("/{rest}"),
                (false, true) => format!("/{rest}/"),
            }
        } else {
            String::new()
        };
        Some(RouteMatch {
            component: route.component.clone(),
            based_route: route.based.clone(),
            raw_route: route.raw.clone(),
            path_info,
            params,
        })
    }
}

/// Named segment values of a match.
type Params = Vec<(String, String)>;

fn matches(route: &Route, parts: &[&str]) -> Option<Params> {
    if parts.len() < route.segments.len()
        || (!route.wildcard && parts.len() != route.segments.len())
    {
        return None;
    }
    let mut params = Vec::new();
    for (seg, part) in route.segments.iter().zip(parts) {
        match seg {
            Segment::Lit(l) if l == part => {}
            Segment::Lit(_) => return None,
            Segment::Param(name) => params.push((name.clone(), (*part).to_owned())),
        }
    }
    Some(params)
}

/// Orders two routes that both match one path; Greater means `a` is more specific.
fn specificity(a: &Route, b: &Route) -> Ordering {
    // Rank of the element at position i: literal 3, param 2, end of an exact
    // route 2 (never compared with literal/param: the path either ends there
    // or not), wildcard 1.
    fn rank(r: &Route, i: usize) -> u8 {
        match r.segments.get(i) {
            Some(Segment::Lit(_)) => 3,
            Some(Segment::Param(_)) => 2,
            None if r.wildcard => 1,
            None => 2,
        }
    }
    let n = a.segments.len().max(b.segments.len()) + 1;
    for i in 0..n {
        match rank(a, i).cmp(&rank(b, i)) {
            Ordering::Equal => {
                if i >= a.segments.len() && i >= b.segments.len() {
                    break;
                }
            }
            other => return other,
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&'static str, &'static str)]) -> Router {
        Router::from_routes("/", routes.iter().copied()).expect("router")
    }

    fn component(r: &Router, path: &str) -> Option<String> {
        r.route(path).map(|m| m.component)
    }

    #[test]
    fn exact_routes() {
        let r = router(&[("foo", "/foo"), ("foobar", "/foo/bar")]);
        assert_eq!(component(&r, "/foo").as_deref(), Some("foo"));
        assert_eq!(component(&r, "/foo/").as_deref(), Some("foo"));
        assert_eq!(component(&r, "/foo/bar").as_deref(), Some("foobar"));
        assert_eq!(component(&r, "/foo/baz"), None);
        assert_eq!(component(&r, "/"), None);
    }

    #[test]
    fn base_is_applied() {
        let r = Router::from_routes("/base", [("foo", "/foo")]).expect("router");
        assert_eq!(component(&r, "/base/foo").as_deref(), Some("foo"));
        assert_eq!(component(&r, "/foo"), None);
        assert_eq!(
            r.route("/base/foo").map(|m| m.based_route).as_deref(),
            Some("/base/foo")
        );
    }

    #[test]
    fn most_specific_wins_regardless_of_order() {
        for routes in [
            vec![
                ("all", "/..."),
                ("api", "/api/..."),
                ("health", "/api/health"),
            ],
            vec![
                ("health", "/api/health"),
                ("api", "/api/..."),
                ("all", "/..."),
            ],
        ] {
            let r = router(&routes);
            assert_eq!(component(&r, "/api/health").as_deref(), Some("health"));
            assert_eq!(component(&r, "/api/healthz").as_deref(), Some("api"));
            assert_eq!(component(&r, "/api").as_deref(), Some("api"));
            assert_eq!(component(&r, "/apis").as_deref(), Some("all"));
            assert_eq!(component(&r, "/").as_deref(), Some("all"));
        }
        let r = router(&[
            ("one", "/one/..."),
            ("three", "/one/two/three/..."),
            ("two", "/one/two/..."),
        ]);
        assert_eq!(
            component(&r, "/one/two/three/four").as_deref(),
            Some("three")
        );
        assert_eq!(component(&r, "/one/two/x").as_deref(), Some("two"));
    }

    #[test]
    fn exact_beats_wildcard_of_same_prefix() {
        let r = router(&[("wild", "/one/..."), ("exact", "/one")]);
        assert_eq!(component(&r, "/one").as_deref(), Some("exact"));
        assert_eq!(component(&r, "/one/x").as_deref(), Some("wild"));
        let r = router(&[("root", "/"), ("all", "/...")]);
        assert_eq!(component(&r, "/").as_deref(), Some("root"));
        assert_eq!(component(&r, "/x").as_deref(), Some("all"));
    }

    #[test]
    fn path_info_follows_spin_trailing_slash_rules() {
        let r = router(&[("c", "/test/...")]);
        let info = |p: &str| r.route(p).map(|m| m.path_info);
        assert_eq!(info("/test").as_deref(), Some(""));
        assert_eq!(info("/test/").as_deref(), Some("/"));
        assert_eq!(info("/test/hello").as_deref(), Some("/hello"));
        assert_eq!(info("/test/hello/").as_deref(), Some("/hello/"));
        let r = router(&[("c", "/...")]);
        assert_eq!(
            r.route("/1/2/3").map(|m| m.path_info).as_deref(),
            Some("/1/2/3")
        );
        assert_eq!(r.route("/").map(|m| m.path_info).as_deref(), Some("/"));
    }

    #[test]
    fn named_segments_are_captured() {
        let r = router(&[("c", "/users/:id/..."), ("d", "/users/me/...")]);
        let m = r.route("/users/42/posts").expect("match");
        assert_eq!(m.component, "c");
        assert_eq!(m.params, [("id".to_owned(), "42".to_owned())]);
        assert_eq!(m.path_info, "/posts");
        assert_eq!(m.raw_route_or_prefix(), "/users/:id");
        assert_eq!(component(&r, "/users/me/x").as_deref(), Some("d"));
    }

    #[test]
    fn synthetic_match_is_like_spin_chaining() {
        let m = RouteMatch::synthetic("notifications", "/api/x");
        assert_eq!(m.based_route, "/...");
        assert_eq!(m.raw_route_or_prefix(), "");
        assert_eq!(m.path_info, "/api/x");
    }
}
