//! Responses: JSON bodies, the security headers every answer carries, cookies.

use serde::Serialize;

use edgedesk_core::ApiError;

/// Headers on every page and API answer (DESIGN.md "Security defaults").
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),
];

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// JSON answer; API answers are never cached.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Self::json_text(status, body)
    }

    /// JSON answer whose body is JSON text already (a list page built
    /// around SQLite's rows, `paging::JsonPage`).
    pub fn json_text(status: u16, body: Vec<u8>) -> Self {
        Self::new(status)
            .header("content-type", "application/json; charset=utf-8")
            .header("cache-control", "no-store")
            .with_body(body)
    }

    /// `204 No Content`.
    pub fn no_content() -> Self {
        Self::new(204).header("cache-control", "no-store")
    }

    /// `202 Accepted` with an empty JSON object.
    pub fn accepted() -> Self {
        Self::json(202, &serde_json::json!({}))
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    pub fn with_body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    pub fn get_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The contract's error answer.
    pub fn error(err: &ApiError) -> Self {
        let mut r = Self::json(err.status(), &err.body());
        if let Some(s) = err.retry_after() {
            r = r.header("retry-after", s.max(1).to_string());
        }
        if let ApiError::MethodNotAllowed { allow } = err {
            r = r.header("allow", allow.join(", "));
        }
        r
    }

    /// Adds the security headers unless the handler set its own value.
    pub fn secured(mut self) -> Self {
        for (k, v) in SECURITY_HEADERS {
            if self.get_header(k).is_none() {
                self.headers.push(((*k).to_owned(), (*v).to_owned()));
            }
        }
        self
    }

    /// Writes the answer to Spin's response outparam, every header kept (also
    /// repeated ones such as several `Set-Cookie`).
    pub async fn send(self, out: spin_sdk::http::ResponseOutparam) -> Result<(), String> {
        let (resp, body) = self.into_outgoing();
        out.set_with_body(resp, body)
            .await
            .map_err(|e| format!("{e:?}"))
    }

    /// Status and headers as Spin's outgoing response (every header kept),
    /// and the body, for handlers that stream their own.
    pub fn into_outgoing(self) -> (spin_sdk::http::OutgoingResponse, Vec<u8>) {
        use spin_sdk::http::{Fields, OutgoingResponse};
        let entries: Vec<(String, Vec<u8>)> = self
            .headers
            .into_iter()
            .map(|(k, v)| (k, v.into_bytes()))
            .collect();
        let fields = Fields::from_list(&entries).unwrap_or_else(|_| Fields::new());
        let resp = OutgoingResponse::new(fields);
        let _ = resp.set_status_code(self.status);
        (resp, self.body)
    }

    pub fn into_spin(self) -> spin_sdk::http::Response {
        let mut b = spin_sdk::http::Response::builder();
        b.status(self.status);
        for (k, v) in self.headers {
            b.header(k, v);
        }
        b.body(self.body);
        b.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_retry_after_and_allow() {
        let r = Resp::error(&ApiError::TooManyRequests { retry_after_s: 42 });
        assert_eq!(r.status, 429);
        assert_eq!(r.get_header("Retry-After"), Some("42"));
        let r = Resp::error(&ApiError::MethodNotAllowed {
            allow: vec!["GET", "PATCH"],
        });
        assert_eq!(r.get_header("allow"), Some("GET, PATCH"));
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["error"]["code"], "method_not_allowed");
    }

    #[test]
    fn security_headers_are_added_once() {
        let r = Resp::json(200, &serde_json::json!({})).secured().secured();
        let n = r
            .headers
            .iter()
            .filter(|(k, _)| k == "x-content-type-options")
            .count();
        assert_eq!(n, 1);
        assert!(
            r.get_header("content-security-policy")
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
    }
}
