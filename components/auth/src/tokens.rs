//! Single-use account links (email confirmation, password reset).
//!
//! The link carries 256 random bits; the table keeps only their SHA-256, so a
//! copy of the database opens nothing. A token is spent by one conditional
//! `UPDATE … RETURNING`: of two concurrent clicks exactly one wins. Issuing a new
//! token of a purpose retires the user's earlier unused ones of that purpose.

use edgedesk_core::token::{new_token, sha256_hex};
use edgedesk_core::{ApiError, Clock, Random, Sql, params};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Confirm,
    Reset,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Confirm => "confirm",
            Purpose::Reset => "reset",
        }
    }

    /// How long a link works.
    pub fn ttl_s(self) -> i64 {
        match self {
            Purpose::Confirm => 24 * 3600,
            Purpose::Reset => 3600,
        }
    }
}

const RETIRE: &str = "UPDATE account_tokens SET used_at = ?3 \
     WHERE user_id = ?1 AND purpose = ?2 AND used_at IS NULL";
const INSERT: &str = "INSERT INTO account_tokens (token_hash, purpose, user_id, created_at, expires_at) \
     VALUES (?1, ?2, ?3, ?4, ?5)";
const PEEK: &str = "SELECT user_id FROM account_tokens \
     WHERE token_hash = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3";
const SPEND: &str = "UPDATE account_tokens SET used_at = ?3 \
     WHERE token_hash = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3 \
     RETURNING user_id";
const PURGE: &str = "DELETE FROM account_tokens WHERE expires_at < ?1";

/// A fresh token for `user_id`; returns the raw token for the link.
pub fn issue(
    sql: &dyn Sql,
    clock: &dyn Clock,
    rng: &dyn Random,
    user_id: &str,
    purpose: Purpose,
) -> Result<String, ApiError> {
    issue_for(sql, clock, rng, user_id, purpose, purpose.ttl_s())
}

/// [`issue`] with its own lifetime (an invitation's set-password link is a
/// reset link that works for days, not an hour).
pub fn issue_for(
    sql: &dyn Sql,
    clock: &dyn Clock,
    rng: &dyn Random,
    user_id: &str,
    purpose: Purpose,
    ttl_s: i64,
) -> Result<String, ApiError> {
    let now = clock.now();
    // Expired rows are useless; a week's grace keeps "used" answers explainable.
    sql.execute(PURGE, params![now - 7 * 24 * 3600])?;
    sql.execute(RETIRE, params![user_id, purpose.as_str(), now])?;
    let token = new_token(rng);
    sql.execute(
        INSERT,
        params![
            sha256_hex(&token),
            purpose.as_str(),
            user_id,
            now,
            now + ttl_s
        ],
    )?;
    Ok(token)
}

/// Tokens we hand out are 43 characters; anything far off is not worth hashing.
fn plausible(token: &str) -> bool {
    !token.is_empty() && token.len() <= 128
}

/// The user a live token belongs to, without spending it.
pub fn peek(
    sql: &dyn Sql,
    clock: &dyn Clock,
    token: &str,
    purpose: Purpose,
) -> Result<Option<String>, ApiError> {
    owner(sql, clock, token, purpose, PEEK)
}

/// Spends a live token; `None` when it is unknown, used or expired.
pub fn spend(
    sql: &dyn Sql,
    clock: &dyn Clock,
    token: &str,
    purpose: Purpose,
) -> Result<Option<String>, ApiError> {
    owner(sql, clock, token, purpose, SPEND)
}

/// Runs `statement` (PEEK or SPEND) for a live token; answers its user.
fn owner(
    sql: &dyn Sql,
    clock: &dyn Clock,
    token: &str,
    purpose: Purpose,
    statement: &str,
) -> Result<Option<String>, ApiError> {
    if !plausible(token) {
        return Ok(None);
    }
    let rows = sql.execute(
        statement,
        params![sha256_hex(token), purpose.as_str(), clock.now()],
    )?;
    rows.first()
        .map(|r| r.text(0))
        .transpose()
        .map_err(Into::into)
}

/// The contract's answer for a wrong, used or expired token.
pub fn invalid_token() -> ApiError {
    ApiError::invalid(
        "token",
        "invalid_token",
        "This link is not valid any more. It may have been used already or have expired.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgedesk_core::clock::FixedClock;
    use edgedesk_core::migrate::ensure_schema;
    use edgedesk_core::native::NativeSql;
    use edgedesk_core::random::OsRandom;

    fn db() -> NativeSql {
        let db = NativeSql::memory();
        ensure_schema(&db).unwrap();
        db
    }

    #[test]
    fn token_is_single_use_and_only_its_hash_is_stored() {
        let (db, clock) = (db(), FixedClock::at(1_000_000));
        let t = issue(&db, &clock, &OsRandom, "u1", Purpose::Confirm).unwrap();
        let stored = db
            .execute("SELECT token_hash FROM account_tokens", &[])
            .unwrap();
        assert_eq!(stored.first().unwrap().text(0).unwrap(), sha256_hex(&t));
        assert_eq!(
            peek(&db, &clock, &t, Purpose::Confirm).unwrap().as_deref(),
            Some("u1")
        );
        assert_eq!(
            spend(&db, &clock, &t, Purpose::Confirm).unwrap().as_deref(),
            Some("u1")
        );
        assert_eq!(spend(&db, &clock, &t, Purpose::Confirm).unwrap(), None);
        assert_eq!(peek(&db, &clock, &t, Purpose::Confirm).unwrap(), None);
    }

    #[test]
    fn token_expires_after_its_lifetime() {
        let (db, clock) = (db(), FixedClock::at(1_000_000));
        let t = issue(&db, &clock, &OsRandom, "u1", Purpose::Reset).unwrap();
        clock.advance(3600 - 1);
        assert!(peek(&db, &clock, &t, Purpose::Reset).unwrap().is_some());
        clock.advance(1);
        assert_eq!(spend(&db, &clock, &t, Purpose::Reset).unwrap(), None);
        let c = issue(&db, &clock, &OsRandom, "u1", Purpose::Confirm).unwrap();
        clock.advance(24 * 3600 - 1);
        assert!(peek(&db, &clock, &c, Purpose::Confirm).unwrap().is_some());
        clock.advance(1);
        assert_eq!(spend(&db, &clock, &c, Purpose::Confirm).unwrap(), None);
    }

    #[test]
    fn token_works_only_for_its_purpose() {
        let (db, clock) = (db(), FixedClock::at(1_000_000));
        let t = issue(&db, &clock, &OsRandom, "u1", Purpose::Confirm).unwrap();
        assert_eq!(spend(&db, &clock, &t, Purpose::Reset).unwrap(), None);
        assert!(spend(&db, &clock, &t, Purpose::Confirm).unwrap().is_some());
    }

    #[test]
    fn a_new_token_retires_the_earlier_one() {
        let (db, clock) = (db(), FixedClock::at(1_000_000));
        let first = issue(&db, &clock, &OsRandom, "u1", Purpose::Reset).unwrap();
        let second = issue(&db, &clock, &OsRandom, "u1", Purpose::Reset).unwrap();
        assert_eq!(spend(&db, &clock, &first, Purpose::Reset).unwrap(), None);
        assert!(
            spend(&db, &clock, &second, Purpose::Reset)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn wrong_and_absurd_tokens_are_refused() {
        let (db, clock) = (db(), FixedClock::at(1_000_000));
        issue(&db, &clock, &OsRandom, "u1", Purpose::Confirm).unwrap();
        for t in ["", "nope", &"x".repeat(10_000)] {
            assert_eq!(spend(&db, &clock, t, Purpose::Confirm).unwrap(), None);
        }
        assert_eq!(invalid_token().status(), 400);
        assert_eq!(invalid_token().code(), "invalid_token");
    }
}
