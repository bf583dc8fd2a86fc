//! Shared reads about a user's second factor, used by `auth` at sign-in to decide
//! the session stage. Owned by `twofactor` (which writes the tables:
//! `twofactor_methods`, `twofactor_devices`).
//!
//! The trusted-device cookie is `<device id>.<token>`: 256 random bits whose
//! SHA-256 sits in the device's row, like session tokens. That makes it
//! unforgeable without any key (so this check needs none) and revocable: deleting
//! the row ends the trust at once.

use crate::clock::Clock;
use crate::db::Sql;
use crate::error::ApiError;
use crate::params;
use crate::session::Stage;
use crate::token::{ct_eq, sha256_hex};

/// Name of the trusted-device cookie ("Remember me on this device").
pub const DEVICE_COOKIE: &str = "edgedesk_device";

/// Every method kind, in the order pages list them.
pub const METHOD_KINDS: [&str; 5] = [
    "totp",
    "email_otp",
    "security_questions",
    "backup_codes",
    "webauthn",
];

const METHODS: &str = "SELECT kind FROM twofactor_methods WHERE user_id = ?1 \
     ORDER BY is_primary DESC, created_at, kind";

/// The user's configured methods, primary first.
pub fn configured_methods(sql: &dyn Sql, user_id: &str) -> Result<Vec<String>, ApiError> {
    let rows = sql.execute(METHODS, params![user_id])?;
    rows.rows
        .iter()
        .map(|r| r.text(0).map_err(ApiError::from))
        .collect()
}

const DEVICE: &str = "SELECT user_id, token_hash, expires_at FROM twofactor_devices WHERE id = ?1";

/// True when `cookie` names a live trusted device of `user_id`.
pub fn device_is_trusted(
    sql: &dyn Sql,
    clock: &dyn Clock,
    user_id: &str,
    cookie: &str,
) -> Result<bool, ApiError> {
    let Some((id, token)) = cookie.split_once('.') else {
        return Ok(false);
    };
    if id.is_empty() || id.len() > 64 || token.is_empty() || token.len() > 100 {
        return Ok(false);
    }
    let rows = sql.execute(DEVICE, params![id])?;
    let Some(row) = rows.first() else {
        return Ok(false);
    };
    let hash = sha256_hex(token);
    Ok(row.text(0)? == user_id
        && row.i64(2)? > clock.now()
        && ct_eq(hash.as_bytes(), row.text(1)?.as_bytes()))
}

/// The stage a session starts at after a correct password, and the user's
/// configured methods (primary first). `device_cookie` is the trusted-device
/// cookie ([`DEVICE_COOKIE`]) the browser sent, if any.
///
/// No confirmed method: `needs_2fa_setup`. A live trusted device of this user:
/// `full` (the challenge is skipped). Otherwise `password_ok`.
pub fn stage_after_password(
    sql: &dyn Sql,
    clock: &dyn Clock,
    user_id: &str,
    device_cookie: Option<&str>,
) -> Result<(Stage, Vec<String>), ApiError> {
    let methods = configured_methods(sql, user_id)?;
    if methods.is_empty() {
        return Ok((Stage::Needs2faSetup, methods));
    }
    if let Some(cookie) = device_cookie
        && device_is_trusted(sql, clock, user_id, cookie)?
    {
        return Ok((Stage::Full, methods));
    }
    Ok((Stage::PasswordOk, methods))
}

#[cfg(all(test, feature = "native"))]
#[allow(clippy::unwrap_used)] // test helpers: a failing unwrap is a failing test
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::migrate::ensure_schema;
    use crate::native::NativeSql;

    fn db() -> NativeSql {
        let db = NativeSql::memory();
        ensure_schema(&db).unwrap();
        db
    }

    fn add_method(db: &NativeSql, user: &str, kind: &str, primary: bool, at: i64) {
        db.execute(
            "INSERT INTO twofactor_methods (user_id, kind, is_primary, created_at) VALUES (?, ?, ?, ?)",
            params![user, kind, primary, at],
        )
        .unwrap();
    }

    fn add_device(db: &NativeSql, id: &str, user: &str, token: &str, expires_at: i64) {
        db.execute(
            "INSERT INTO twofactor_devices (id, user_id, token_hash, label, created_at, expires_at) \
             VALUES (?, ?, ?, 'Firefox on Linux', 0, ?)",
            params![id, user, sha256_hex(token), expires_at],
        )
        .unwrap();
    }

    #[test]
    fn no_method_means_setup_is_needed() {
        let (db, clock) = (db(), FixedClock::at(1000));
        let (stage, methods) = stage_after_password(&db, &clock, "u1", None).unwrap();
        assert_eq!(stage, Stage::Needs2faSetup);
        assert!(methods.is_empty());
    }

    #[test]
    fn configured_user_owes_the_second_factor_primary_first() {
        let (db, clock) = (db(), FixedClock::at(1000));
        add_method(&db, "u1", "backup_codes", false, 10);
        add_method(&db, "u1", "totp", true, 20);
        let (stage, methods) = stage_after_password(&db, &clock, "u1", None).unwrap();
        assert_eq!(stage, Stage::PasswordOk);
        assert_eq!(methods, ["totp", "backup_codes"]);
    }

    #[test]
    fn trusted_device_skips_the_challenge_until_revoked_or_expired() {
        let (db, clock) = (db(), FixedClock::at(1000));
        add_method(&db, "u1", "totp", true, 20);
        add_device(&db, "d1", "u1", "secret-token", 2000);
        let ok = Some("d1.secret-token");
        assert_eq!(
            stage_after_password(&db, &clock, "u1", ok).unwrap().0,
            Stage::Full
        );
        // Another user's browser, a forged token or a malformed cookie: no skip.
        assert_eq!(
            stage_after_password(&db, &clock, "u2", ok).unwrap().0,
            Stage::Needs2faSetup
        );
        add_method(&db, "u2", "totp", true, 20);
        assert_eq!(
            stage_after_password(&db, &clock, "u2", ok).unwrap().0,
            Stage::PasswordOk
        );
        for bad in ["d1.wrong", "d1", ".", "nope.secret-token", ""] {
            assert_eq!(
                stage_after_password(&db, &clock, "u1", Some(bad))
                    .unwrap()
                    .0,
                Stage::PasswordOk,
                "{bad}"
            );
        }
        clock.set(2000);
        assert_eq!(
            stage_after_password(&db, &clock, "u1", ok).unwrap().0,
            Stage::PasswordOk
        );
        clock.set(1000);
        db.execute("DELETE FROM twofactor_devices WHERE id = 'd1'", &[])
            .unwrap();
        assert_eq!(
            stage_after_password(&db, &clock, "u1", ok).unwrap().0,
            Stage::PasswordOk
        );
    }
}
