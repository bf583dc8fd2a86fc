//! Trusted devices: "Remember me on this device" skips the sign-in challenge on
//! this browser for 14 days.
//!
//! The cookie `edgedesk_device` carries `<id>.<token>` (256 random bits); the row
//! keeps only the token's SHA-256 (see `edgedesk_core::second_factor`, which
//! checks it at sign-in). Removing the row revokes the device at once.

use edgedesk_core::clock::rfc3339;
use edgedesk_core::second_factor::DEVICE_COOKIE;
use edgedesk_core::token::{new_id, new_token, sha256_hex};
use edgedesk_core::{ApiError, Random, Sql, params};
use serde::Serialize;

pub const TRUST_S: i64 = 14 * 24 * 3600;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Device {
    pub id: String,
    pub label: String,
    pub created_at: String,
    pub expires_at: String,
    /// True for the browser making the request.
    pub current: bool,
}

/// Trusts this browser for `user_id`; returns the cookie value.
pub fn trust(
    sql: &dyn Sql,
    rng: &dyn Random,
    user_id: &str,
    user_agent: &str,
    now: i64,
) -> Result<String, ApiError> {
    let id = new_id(rng);
    let token = new_token(rng);
    sql.execute(
        "INSERT INTO twofactor_devices (id, user_id, token_hash, label, created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            id.as_str(),
            user_id,
            sha256_hex(&token),
            label_from_user_agent(user_agent),
            now,
            now + TRUST_S
        ],
    )?;
    Ok(format!("{id}.{token}"))
}

/// `Set-Cookie` for a trusted device: HttpOnly, SameSite=Lax, 14 days.
pub fn cookie(value: &str, secure: bool) -> String {
    let mut c =
        format!("{DEVICE_COOKIE}={value}; HttpOnly; SameSite=Lax; Path=/; Max-Age={TRUST_S}");
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// `Set-Cookie` that removes the device cookie.
pub fn clear_cookie(secure: bool) -> String {
    let mut c = format!("{DEVICE_COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0");
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// The device id of a cookie value.
pub fn cookie_id(value: &str) -> Option<&str> {
    value.split_once('.').map(|(id, _)| id)
}

/// Live trusted devices of a user, newest first (expired ones are dropped).
pub fn list(
    sql: &dyn Sql,
    user_id: &str,
    now: i64,
    current_cookie: Option<&str>,
) -> Result<Vec<Device>, ApiError> {
    sql.execute(
        "DELETE FROM twofactor_devices WHERE user_id = ?1 AND expires_at <= ?2",
        params![user_id, now],
    )?;
    let current = current_cookie.and_then(cookie_id);
    let rows = sql.execute(
        "SELECT id, label, created_at, expires_at FROM twofactor_devices \
         WHERE user_id = ?1 AND expires_at > ?2 ORDER BY created_at DESC, id",
        params![user_id, now],
    )?;
    rows.rows
        .iter()
        .map(|r| {
            let id = r.text(0)?;
            Ok(Device {
                current: current == Some(id.as_str()),
                label: r.text(1)?,
                created_at: rfc3339(r.i64(2)?),
                expires_at: rfc3339(r.i64(3)?),
                id,
            })
        })
        .collect()
}

/// Revokes one device; 404 when the user has no such device.
pub fn remove(sql: &dyn Sql, user_id: &str, id: &str) -> Result<(), ApiError> {
    let rows = sql.execute(
        "DELETE FROM twofactor_devices WHERE id = ?1 AND user_id = ?2 RETURNING id",
        params![id, user_id],
    )?;
    if rows.is_empty() {
        return Err(ApiError::NotFound);
    }
    Ok(())
}

/// "Firefox on Linux" from a User-Agent; short and never the raw header.
pub fn label_from_user_agent(ua: &str) -> String {
    let browser = if ua.contains("Edg/") {
        "Edge"
    } else if ua.contains("OPR/") {
        "Opera"
    } else if ua.contains("Firefox/") || ua.contains("FxiOS/") {
        "Firefox"
    } else if ua.contains("Chrome/") || ua.contains("CriOS/") {
        "Chrome"
    } else if ua.contains("Safari/") {
        "Safari"
    } else {
        "Browser"
    };
    let os = if ua.contains("iPhone") || ua.contains("iPad") {
        Some("iOS")
    } else if ua.contains("Android") {
        Some("Android")
    } else if ua.contains("Windows") {
        Some("Windows")
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        Some("macOS")
    } else if ua.contains("CrOS") {
        Some("ChromeOS")
    } else if ua.contains("Linux") {
        Some("Linux")
    } else {
        None
    };
    match os {
        Some(os) => format!("{browser} on {os}"),
        None => browser.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::db;
    use edgedesk_core::Clock;
    use edgedesk_core::clock::FixedClock;
    use edgedesk_core::random::OsRandom;
    use edgedesk_core::second_factor::stage_after_password;
    use edgedesk_core::session::Stage;

    #[test]
    fn labels_name_browser_and_system() {
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
        assert_eq!(label_from_user_agent(chrome), "Chrome on Windows");
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(label_from_user_agent(safari), "Safari on iOS");
        let ff = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
        assert_eq!(label_from_user_agent(ff), "Firefox on Linux");
        assert_eq!(label_from_user_agent("<script>"), "Browser");
    }

    #[test]
    fn cookie_flags() {
        let c = cookie("a.b", true);
        assert!(
            c.starts_with("edgedesk_device=a.b; HttpOnly; SameSite=Lax; Path=/; Max-Age=1209600")
        );
        assert!(c.ends_with("; Secure"));
        assert!(!cookie("a.b", false).contains("Secure"));
    }

    #[test]
    fn trusted_device_skips_challenge_until_removed_or_fourteen_days() {
        let (db, clock) = (db(), FixedClock::at(1_000_000));
        crate::methods::add(&db, "u1", crate::methods::Kind::Totp, 0).unwrap();
        let value = trust(&db, &OsRandom, "u1", "Firefox/1 Linux", clock.now()).unwrap();
        let stage = |c: &FixedClock| stage_after_password(&db, c, "u1", Some(&value)).unwrap().0;
        assert_eq!(stage(&clock), Stage::Full);
        let l = list(&db, "u1", clock.now(), Some(&value)).unwrap();
        assert_eq!(l.len(), 1);
        assert!(l[0].current);
        assert_eq!(l[0].label, "Firefox on Linux");
        assert!(list(&db, "u2", clock.now(), None).unwrap().is_empty());
        // 14 days later the device is no longer trusted.
        clock.advance(TRUST_S);
        assert_eq!(stage(&clock), Stage::PasswordOk);
        assert!(list(&db, "u1", clock.now(), None).unwrap().is_empty());
        // Removal revokes at once; another user cannot remove it.
        clock.set(1_000_000);
        let value2 = trust(&db, &OsRandom, "u1", "", clock.now()).unwrap();
        let id = cookie_id(&value2).unwrap();
        assert_eq!(remove(&db, "u2", id).unwrap_err().status(), 404);
        assert_eq!(
            stage_after_password(&db, &clock, "u1", Some(&value2))
                .unwrap()
                .0,
            Stage::Full
        );
        remove(&db, "u1", id).unwrap();
        assert_eq!(
            stage_after_password(&db, &clock, "u1", Some(&value2))
                .unwrap()
                .0,
            Stage::PasswordOk
        );
    }
}
