//! The one error type of the HTTP contract (API.md "Conventions").
//!
//! Every variant maps to a status and a stable `code`; messages are written for a
//! person and never contain secrets. `Internal` keeps the cause for the log only:
//! the client sees "internal error".

use serde_json::{Map, Value as Json, json};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: malformed or invalid input. `field` names the offending field when known.
    #[error("{message}")]
    BadRequest {
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    /// 401: not signed in, bad credentials, or a second factor still owed.
    #[error("{message}")]
    Unauthorized {
        code: &'static str,
        message: String,
        /// Extra members of the error object (e.g. `attempts_left`).
        extra: Option<Map<String, Json>>,
    },
    /// 403: signed in but not allowed (also `csrf_failed`).
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// 404: not found, also for things the caller may not see.
    #[error("not found")]
    NotFound,
    /// 405 with the methods the route does take.
    #[error("method not allowed")]
    MethodNotAllowed { allow: Vec<&'static str> },
    /// 409: conflicts with the current state.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// 413: body too large.
    #[error("request body too large")]
    TooLarge { limit: usize },
    /// 415: wrong content type.
    #[error("unsupported content type")]
    UnsupportedMediaType { expected: &'static str },
    /// 423: locked, with seconds until it may be retried.
    #[error("{message}")]
    Locked {
        code: &'static str,
        message: String,
        retry_after_s: i64,
    },
    /// 429: too many requests; `Retry-After` header carries the seconds.
    #[error("too many requests")]
    TooManyRequests { retry_after_s: i64 },
    /// 503: a required setting is missing (e.g. `link_secret` off localhost).
    #[error("{message}")]
    Unavailable { code: &'static str, message: String },
    /// 500: logged with its cause; the client sees only "internal error".
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
            field: None,
        }
    }

    /// 400 naming the field at fault.
    pub fn invalid(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
            field: Some(field.to_owned()),
        }
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unauthorized {
            code,
            message: message.into(),
            extra: None,
        }
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::Forbidden {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest { .. } => 400,
            Self::Unauthorized { .. } => 401,
            Self::Forbidden { .. } => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::Conflict { .. } => 409,
            Self::TooLarge { .. } => 413,
            Self::UnsupportedMediaType { .. } => 415,
            Self::Locked { .. } => 423,
            Self::TooManyRequests { .. } => 429,
            Self::Unavailable { .. } => 503,
            Self::Internal(_) => 500,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Unauthorized { code, .. }
            | Self::Forbidden { code, .. }
            | Self::Conflict { code, .. }
            | Self::Locked { code, .. }
            | Self::Unavailable { code, .. } => code,
            Self::NotFound => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::TooLarge { .. } => "too_large",
            Self::UnsupportedMediaType { .. } => "unsupported_media_type",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::Internal(_) => "internal",
        }
    }

    /// The message a client may see.
    pub fn public_message(&self) -> String {
        match self {
            Self::NotFound => "Nothing was found at this address.".into(),
            Self::MethodNotAllowed { allow } => {
                format!("This address takes {} only.", allow.join(", "))
            }
            Self::TooLarge { limit } => format!("The request body is larger than {limit} bytes."),
            Self::UnsupportedMediaType { expected } => {
                format!("Send the body as {expected}.")
            }
            Self::TooManyRequests { retry_after_s } => {
                format!("Too many requests. Try again in {retry_after_s} seconds.")
            }
            Self::Internal(_) => "internal error".into(),
            other => other.to_string(),
        }
    }

    /// `Retry-After` seconds for 423/429 answers.
    /// The field a 400 names, if any.
    pub fn field_name(&self) -> Option<&str> {
        match self {
            Self::BadRequest { field, .. } => field.as_deref(),
            _ => None,
        }
    }

    pub fn retry_after(&self) -> Option<i64> {
        match self {
            Self::Locked { retry_after_s, .. } | Self::TooManyRequests { retry_after_s } => {
                Some(*retry_after_s)
            }
            _ => None,
        }
    }

    /// The body of API.md: `{"error": {"code", "message", "field"?, ...}}`.
    pub fn body(&self) -> Json {
        let mut err = Map::new();
        err.insert("code".into(), json!(self.code()));
        err.insert("message".into(), json!(self.public_message()));
        match self {
            Self::BadRequest {
                field: Some(field), ..
            } => {
                err.insert("field".into(), json!(field));
            }
            Self::Unauthorized {
                extra: Some(extra), ..
            } => {
                for (k, v) in extra {
                    err.insert(k.clone(), v.clone());
                }
            }
            Self::Locked { retry_after_s, .. } => {
                err.insert("retry_after_s".into(), json!(retry_after_s));
            }
            Self::TooManyRequests { retry_after_s } => {
                err.insert("retry_after_s".into(), json!(retry_after_s));
            }
            _ => {}
        }
        json!({ "error": err })
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        Self::Internal(format!("database: {e}"))
    }
}

impl From<crate::kv::KvError> for ApiError {
    fn from(e: crate::kv::KvError) -> Self {
        Self::Internal(format!("key-value: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_request_body_names_the_field() {
        let e = ApiError::invalid("email", "invalid_email", "Enter a valid email address.");
        assert_eq!(e.status(), 400);
        let b = e.body();
        assert_eq!(b["error"]["code"], "invalid_email");
        assert_eq!(b["error"]["field"], "email");
        assert_eq!(b["error"]["message"], "Enter a valid email address.");
    }

    #[test]
    fn internal_error_hides_its_cause() {
        let e = ApiError::internal("disk I/O error at /secret/path");
        assert_eq!(e.status(), 500);
        assert_eq!(e.body()["error"]["message"], "internal error");
    }

    #[test]
    fn locked_carries_retry_after() {
        let e = ApiError::Locked {
            code: "account_locked",
            message: "Locked.".into(),
            retry_after_s: 900,
        };
        assert_eq!(e.status(), 423);
        assert_eq!(e.body()["error"]["retry_after_s"], 900);
        assert_eq!(e.retry_after(), Some(900));
    }
}
