//! Server-side challenges (WebAuthn challenges, the two asked security
//! questions): one per user and purpose, single use, with an expiry.
//! `take` deletes and returns in one statement, so a challenge is used once even
//! under concurrent requests.

use edgedesk_core::{ApiError, Sql, params};

const PUT: &str = "INSERT INTO twofactor_challenges (user_id, purpose, data, expires_at) \
     VALUES (?1, ?2, ?3, ?4) ON CONFLICT(user_id, purpose) DO UPDATE SET \
     data = excluded.data, expires_at = excluded.expires_at";
const PEEK: &str =
    "SELECT data FROM twofactor_challenges WHERE user_id = ?1 AND purpose = ?2 AND expires_at > ?3";
const TAKE: &str = "DELETE FROM twofactor_challenges WHERE user_id = ?1 AND purpose = ?2 \
     RETURNING data, expires_at";

pub fn put(
    sql: &dyn Sql,
    user_id: &str,
    purpose: &str,
    data: &str,
    expires_at: i64,
) -> Result<(), ApiError> {
    sql.execute(PUT, params![user_id, purpose, data, expires_at])?;
    Ok(())
}

/// The live challenge without using it up.
pub fn peek(
    sql: &dyn Sql,
    user_id: &str,
    purpose: &str,
    now: i64,
) -> Result<Option<String>, ApiError> {
    let rows = sql.execute(PEEK, params![user_id, purpose, now])?;
    Ok(rows.first().map(|r| r.text(0)).transpose()?)
}

/// Uses up the challenge: `None` when there is none or it has expired.
pub fn take(
    sql: &dyn Sql,
    user_id: &str,
    purpose: &str,
    now: i64,
) -> Result<Option<String>, ApiError> {
    let rows = sql.execute(TAKE, params![user_id, purpose])?;
    match rows.first() {
        Some(r) if r.i64(1)? > now => Ok(Some(r.text(0)?)),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::db;

    #[test]
    fn challenges_are_single_use_and_expire() {
        let db = db();
        put(&db, "u1", "p", "abc", 100).unwrap();
        assert_eq!(peek(&db, "u1", "p", 50).unwrap().as_deref(), Some("abc"));
        assert_eq!(take(&db, "u1", "p", 50).unwrap().as_deref(), Some("abc"));
        assert_eq!(take(&db, "u1", "p", 50).unwrap(), None);
        put(&db, "u1", "p", "def", 100).unwrap();
        assert_eq!(peek(&db, "u1", "p", 100).unwrap(), None);
        assert_eq!(take(&db, "u1", "p", 100).unwrap(), None);
    }
}
