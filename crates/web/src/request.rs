//! The incoming request, read once with a body limit.
//!
//! The body is read from the stream chunk by chunk and refused with 413 as soon as
//! it passes the limit, so an oversized upload never sits whole in memory.

use futures::StreamExt;
use serde::de::DeserializeOwned;
use spin_sdk::http::IncomingRequest;

use edgedesk_core::ApiError;

/// Default limit for JSON bodies.
pub const JSON_LIMIT: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    /// The path as the client sent it (percent-encoded), without the query.
    pub path: String,
    pub query: String,
    /// Header names lowercased.
    headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Req {
    /// Reads method, path, headers and at most `limit` body bytes.
    pub async fn read(incoming: IncomingRequest, limit: usize) -> Result<Req, ApiError> {
        let mut req = Req::head(&incoming);
        if !matches!(req.method.as_str(), "GET" | "HEAD") {
            let mut stream = Box::pin(incoming.into_body_stream());
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|_| {
                    ApiError::bad_request("bad_body", "The request body could not be read.")
                })?;
                if req.body.len() + chunk.len() > limit {
                    return Err(ApiError::TooLarge { limit });
                }
                req.body.extend_from_slice(&chunk);
            }
        }
        Ok(req)
    }

    /// Method, path and headers, with an empty body: for handlers that stream
    /// the body themselves (`IncomingRequest::into_body_stream`).
    pub fn head(incoming: &IncomingRequest) -> Req {
        let method = incoming.method().to_string();
        let pq = incoming.path_with_query().unwrap_or_else(|| "/".into());
        let (path, query) = match pq.split_once('?') {
            Some((p, q)) => (p.to_owned(), q.to_owned()),
            None => (pq, String::new()),
        };
        let headers = incoming
            .headers()
            .entries()
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        Req {
            method,
            path,
            query,
            headers,
            body: Vec::new(),
        }
    }

    /// A request built in memory (tests).
    pub fn new(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Req {
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p.to_owned(), q.to_owned()),
            None => (path.to_owned(), String::new()),
        };
        Req {
            method: method.to_owned(),
            path,
            query,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.as_bytes().to_vec()))
                .collect(),
            body: body.to_vec(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// A cookie's value from the `Cookie` header(s).
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "cookie")
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
            .flat_map(|h| h.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// A query parameter, percent-decoded (`+` is a space). The first one wins.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query
            .split('&')
            .filter_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(k)? == name).then(|| percent_decode(v))?
            })
            .next()
    }

    /// The client address Spin reports (`spin-client-addr`), without the port.
    pub fn client_ip(&self) -> String {
        let addr = self.header("spin-client-addr").unwrap_or("unknown");
        match addr.rsplit_once(':') {
            Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            _ => addr.to_owned(),
        }
    }

    /// True for a request made by another component of this app through Spin's
    /// local service chaining: Spin dispatches those with client address
    /// `0.0.0.0:0` and overwrites any `spin-client-addr` a client sends, so an
    /// outside caller cannot pose as one.
    pub fn is_chained(&self) -> bool {
        self.header("spin-client-addr") == Some("0.0.0.0:0")
    }

    /// True for methods that change state (and so need the CSRF header).
    pub fn is_unsafe_method(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
    }

    /// Parses the body as JSON into `T`: 415 unless the content type is JSON,
    /// 400 `invalid_json` for syntax errors, 400 `invalid_field` naming the field
    /// for a wrong type or missing member.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let ct = self.header("content-type").unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/json") {
            return Err(ApiError::UnsupportedMediaType {
                expected: "application/json",
            });
        }
        parse_json(&self.body)
    }
}

/// JSON body parsing with the contract's errors (see [`Req::json`]).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if std::str::from_utf8(body).is_err() {
        return Err(ApiError::bad_request(
            "invalid_json",
            "The request body is not valid UTF-8.",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => Ok(v),
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                return Err(ApiError::bad_request(
                    "invalid_json",
                    "The request body is not valid JSON.",
                ));
            }
            let msg = inner.to_string();
            // serde reports a missing member at the parent path; name the member.
            let field = if let Some(rest) = msg.strip_prefix("missing field `") {
                let name = rest.split('`').next().unwrap_or("");
                if path == "." {
                    name.to_owned()
                } else {
                    format!("{path}.{name}")
                }
            } else {
                path
            };
            if msg.starts_with("missing field") {
                return Err(ApiError::invalid(
                    &field,
                    "required",
                    "This field is required.",
                ));
            }
            if msg.starts_with("unknown field") {
                return Err(ApiError::invalid(
                    &field,
                    "unknown_field",
                    "This field is not recognised.",
                ));
            }
            Err(ApiError::invalid(
                if field == "." { "body" } else { &field },
                "invalid_type",
                "This field has the wrong type.",
            ))
        }
    }
}

/// One JSON body a route reads: the route, and the route's own parse step
/// ([`Req::json`] into the body type, plus any check of it that needs no
/// storage). Each component lists its bodies in `JSON_BODIES`, so the fuzz
/// targets (docs/SECURITY.md, "Fuzzing") run exactly what the routes run.
pub struct JsonBody {
    pub route: &'static str,
    pub parse: fn(&Req) -> Result<(), ApiError>,
}

impl JsonBody {
    /// A body the route only deserializes before its storage work.
    pub const fn of<T: DeserializeOwned>(route: &'static str) -> JsonBody {
        JsonBody {
            route,
            parse: parse_only::<T>,
        }
    }

    /// A body with a check of its own (e.g. deserialize, then validate).
    pub const fn checked(route: &'static str, parse: fn(&Req) -> Result<(), ApiError>) -> JsonBody {
        JsonBody { route, parse }
    }
}

fn parse_only<T: DeserializeOwned>(req: &Req) -> Result<(), ApiError> {
    req.json::<T>().map(|_| ())
}

/// Percent-decoding for query strings; `None` for invalid UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            // Exactly two hex digits: `u8::from_str_radix` also took a sign
            // (`%+1` was byte 1) and refused the text when a multi-byte
            // character followed a `%` (found by fuzzing: target static_path).
            b'%' if i + 2 < bytes.len()
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit() =>
            {
                out.push((hex_value(bytes[i + 1]) << 4) | hex_value(bytes[i + 2]));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn hex_value(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Signup {
        email: String,
        remember_me: Option<bool>,
    }

    fn json_req(body: &str) -> Req {
        Req::new(
            "POST",
            "/x",
            &[("Content-Type", "application/json; charset=utf-8")],
            body.as_bytes(),
        )
    }

    #[test]
    fn json_parse_errors_follow_the_contract() {
        let e = json_req("{").json::<Signup>().unwrap_err();
        assert_eq!((e.status(), e.code()), (400, "invalid_json"));
        let e = json_req("{}").json::<Signup>().unwrap_err();
        assert_eq!(e.body()["error"]["field"], "email");
        assert_eq!(e.code(), "required");
        let e = json_req(r#"{"email": 5}"#).json::<Signup>().unwrap_err();
        assert_eq!(e.body()["error"]["field"], "email");
        assert_eq!(e.code(), "invalid_type");
        let e = json_req(r#"{"email":"a","remember_me":"yes"}"#)
            .json::<Signup>()
            .unwrap_err();
        assert_eq!(e.body()["error"]["field"], "remember_me");
        let e = json_req("[1,2]").json::<Signup>().unwrap_err();
        assert_eq!(e.status(), 400);
        let e = json_req(r#"{"email":"a","is_admin":true}"#)
            .json::<Signup>()
            .unwrap_err();
        assert_eq!(e.code(), "unknown_field");
        assert!(json_req(r#"{"email":"a"}"#).json::<Signup>().is_ok());
    }

    #[test]
    fn json_needs_the_json_content_type() {
        let r = Req::new("POST", "/x", &[("content-type", "text/plain")], b"{}");
        assert_eq!(r.json::<serde_json::Value>().unwrap_err().status(), 415);
        let r = Req::new("POST", "/x", &[], b"{}");
        assert_eq!(r.json::<serde_json::Value>().unwrap_err().status(), 415);
    }

    #[test]
    fn invalid_utf8_body_is_a_400() {
        let mut r = json_req("");
        r.body = vec![b'"', 0xff, b'"'];
        assert_eq!(r.json::<String>().unwrap_err().code(), "invalid_json");
    }

    #[test]
    fn cookies_and_query_params_are_read() {
        let r = Req::new(
            "GET",
            "/x?token=a%2Bb&x=1+2&empty",
            &[("Cookie", "a=1; edgedesk_session=tok; b=2")],
            b"",
        );
        assert_eq!(r.cookie("edgedesk_session"), Some("tok"));
        assert_eq!(r.cookie("missing"), None);
        assert_eq!(r.query_param("token").as_deref(), Some("a+b"));
        assert_eq!(r.query_param("x").as_deref(), Some("1 2"));
        assert_eq!(r.query_param("empty").as_deref(), Some(""));
        assert_eq!(r.query_param("nope"), None);
    }

    #[test]
    fn percent_decode_handles_bad_sequences() {
        assert_eq!(percent_decode("%41%zz%").as_deref(), Some("A%zz%"));
        assert_eq!(percent_decode("%ff"), None);
    }

    #[test]
    fn percent_decode_takes_exactly_two_hex_digits() {
        // The minimised input the fuzz target static_path found: a sign is
        // not a hex digit, so `%+1` stays text (the `+` a space).
        let found = include_str!("../testdata/fuzz/static_path-percent-plus");
        assert_eq!(found, "%+1");
        assert_eq!(percent_decode(found).as_deref(), Some("% 1"));
        assert_eq!(percent_decode("%-1%+f").as_deref(), Some("%-1% f"));
        // A `%` before a multi-byte character is text, not invalid UTF-8.
        assert_eq!(percent_decode("%aé%é").as_deref(), Some("%aé%é"));
        assert_eq!(percent_decode("%2e%2E%7e").as_deref(), Some("..~"));
    }

    #[test]
    fn client_ip_and_chained_calls() {
        let r = Req::new("POST", "/", &[("spin-client-addr", "127.0.0.1:5555")], b"");
        assert_eq!(r.client_ip(), "127.0.0.1");
        assert!(!r.is_chained());
        let r = Req::new("POST", "/", &[("spin-client-addr", "[::1]:5555")], b"");
        assert_eq!(r.client_ip(), "::1");
        let r = Req::new("POST", "/", &[("spin-client-addr", "0.0.0.0:0")], b"");
        assert!(r.is_chained());
    }
}
