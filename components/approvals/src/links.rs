//! The "Approve" links mailed to deciders. A link is a random 256-bit token,
//! stored only as its SHA-256, bound to one approver and one request, valid 7
//! days and spent by one conditional UPDATE (two clicks cannot both approve).
//! Opening it only shows a confirmation page; approving is a POST, so mail
//! scanners that follow links approve nothing.
//!
//! Why a stored token and not an HMAC-signed one: the link must be single-use,
//! which needs a row anyway, and a row also lets a decision revoke every other
//! link of the request; a random token needs no key, so rotating keys never
//! breaks a mailed link.

use edgedesk_core::token::{new_token, sha256_hex};
use edgedesk_core::{ApiError, Sql, params};

use crate::env::Env;

/// How long an "Approve" link works.
pub const LINK_TTL_S: i64 = 7 * 24 * 3600;

/// The request and approver a live link is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub request_id: String,
    pub approver_id: String,
}

/// Makes a link for `approver_id` to approve `request_id`; returns the raw token.
pub fn issue(env: &Env<'_>, request_id: &str, approver_id: &str) -> Result<String, ApiError> {
    let token = new_token(env.rng);
    let now = env.now();
    env.sql.execute(
        "INSERT INTO approval_links (token_hash, request_id, approver_id, created_at, expires_at) \
         VALUES (?, ?, ?, ?, ?)",
        params![
            sha256_hex(&token),
            request_id,
            approver_id,
            now,
            now + LINK_TTL_S
        ],
    )?;
    Ok(token)
}

fn invalid() -> ApiError {
    ApiError::bad_request(
        "invalid_token",
        "This approval link is not valid: it may have been used or have expired.",
    )
}

/// The link's binding, without spending it; `400 invalid_token` when unknown,
/// used or expired.
pub fn peek(sql: &dyn Sql, token: &str, now: i64) -> Result<Bound, ApiError> {
    let rows = sql.execute(
        "SELECT request_id, approver_id FROM approval_links \
         WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?",
        params![sha256_hex(token), now],
    )?;
    let r = rows.first().ok_or_else(invalid)?;
    Ok(Bound {
        request_id: r.text(0)?,
        approver_id: r.text(1)?,
    })
}

/// Spends the link (one conditional UPDATE); `400 invalid_token` when it was
/// not live.
pub fn spend(sql: &dyn Sql, token: &str, now: i64) -> Result<Bound, ApiError> {
    let rows = sql.execute(
        "UPDATE approval_links SET used_at = ?2 \
         WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2 \
         RETURNING request_id, approver_id",
        params![sha256_hex(token), now],
    )?;
    let r = rows.first().ok_or_else(invalid)?;
    Ok(Bound {
        request_id: r.text(0)?,
        approver_id: r.text(1)?,
    })
}

/// Once a request is decided, none of its links works any more.
pub fn retire(sql: &dyn Sql, request_id: &str, now: i64) -> Result<(), ApiError> {
    sql.execute(
        "UPDATE approval_links SET used_at = ?2 WHERE request_id = ?1 AND used_at IS NULL",
        params![request_id, now],
    )?;
    Ok(())
}
