//! Sign-in sessions.
//!
//! The cookie carries a 256-bit random token; the table keeps only its SHA-256.
//! A browser session lasts at most 12 hours and ends after 2 idle hours; "Keep me
//! logged in" makes it 30 days. The token is replaced (rotated) at sign-in and at
//! every stage change, so a token seen before sign-in is worthless after it.

use serde::Serialize;

use crate::access::{STANDING_COLS, Standing, standing_joins};
use crate::clock::Clock;
use crate::db::{Row, Sql};
use crate::error::ApiError;
use crate::params;
use crate::random::Random;
use crate::token::{new_token, sha256_hex};

pub const BROWSER_MAX_S: i64 = 12 * 3600;
pub const BROWSER_IDLE_S: i64 = 2 * 3600;
pub const REMEMBER_S: i64 = 30 * 24 * 3600;
/// `last_seen_at` is written at most this often, so reads stay reads.
const TOUCH_EVERY_S: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Password checked; the second factor is still owed.
    PasswordOk,
    /// No second factor configured yet: only setup routes work.
    Needs2faSetup,
    Full,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::PasswordOk => "password_ok",
            Stage::Needs2faSetup => "needs_2fa_setup",
            Stage::Full => "full",
        }
    }
    pub fn parse(s: &str) -> Option<Stage> {
        match s {
            "password_ok" => Some(Stage::PasswordOk),
            "needs_2fa_setup" => Some(Stage::Needs2faSetup),
            "full" => Some(Stage::Full),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub token_hash: String,
    pub user_id: String,
    pub stage: Stage,
    pub csrf_token: String,
    pub remember: bool,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    /// When the second factor was last verified in this session.
    pub second_factor_at: Option<i64>,
}

const COLS: &str = "token_hash, user_id, stage, csrf_token, remember, created_at, last_seen_at, expires_at, second_factor_at";

fn from_row(r: &Row) -> Result<Session, ApiError> {
    Ok(Session {
        token_hash: r.text(0)?,
        user_id: r.text(1)?,
        stage: Stage::parse(&r.text(2)?).ok_or_else(|| ApiError::internal("bad session stage"))?,
        csrf_token: r.text(3)?,
        remember: r.bool(4)?,
        created_at: r.i64(5)?,
        last_seen_at: r.i64(6)?,
        expires_at: r.i64(7)?,
        second_factor_at: r.opt_i64(8)?,
    })
}

/// A new session; returns the raw token (for the cookie, never stored) and the row.
pub fn create(
    sql: &dyn Sql,
    clock: &dyn Clock,
    rng: &dyn Random,
    user_id: &str,
    stage: Stage,
    remember: bool,
) -> Result<(String, Session), ApiError> {
    let now = clock.now();
    let expires_at = now + if remember { REMEMBER_S } else { BROWSER_MAX_S };
    insert(sql, rng, user_id, stage, remember, now, expires_at, None)
}

#[allow(clippy::too_many_arguments)]
fn insert(
    sql: &dyn Sql,
    rng: &dyn Random,
    user_id: &str,
    stage: Stage,
    remember: bool,
    created_at: i64,
    expires_at: i64,
    second_factor_at: Option<i64>,
) -> Result<(String, Session), ApiError> {
    let token = new_token(rng);
    let s = Session {
        token_hash: sha256_hex(&token),
        user_id: user_id.to_owned(),
        stage,
        csrf_token: new_token(rng),
        remember,
        created_at,
        last_seen_at: created_at.max(0),
        expires_at,
        second_factor_at,
    };
    sql.execute(
        &format!("INSERT INTO sessions ({COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
        params![
            s.token_hash.as_str(),
            s.user_id.as_str(),
            s.stage.as_str(),
            s.csrf_token.as_str(),
            s.remember,
            s.created_at,
            s.last_seen_at,
            s.expires_at,
            s.second_factor_at
        ],
    )?;
    Ok((token, s))
}

/// The live session for a raw token, or `None` (unknown, expired or idle too long;
/// a dead row is deleted on sight). Touches `last_seen_at` at most once a minute.
pub fn load(sql: &dyn Sql, clock: &dyn Clock, token: &str) -> Result<Option<Session>, ApiError> {
    Ok(load_with_standing(sql, clock, token)?.map(|(s, _)| s))
}

/// [`load`], and the person's [`Standing`] (role, company access) read in
/// the same statement, for the desk gate.
pub fn load_with_standing(
    sql: &dyn Sql,
    clock: &dyn Clock,
    token: &str,
) -> Result<Option<(Session, Standing)>, ApiError> {
    if token.is_empty() || token.len() > 100 {
        return Ok(None);
    }
    let hash = sha256_hex(token);
    let cols: Vec<String> = COLS.split(", ").map(|c| format!("s.{c}")).collect();
    let rows = sql.execute(
        &format!(
            "SELECT {}, {STANDING_COLS} FROM sessions s {} WHERE s.token_hash = ?1",
            cols.join(", "),
            standing_joins("s.user_id")
        ),
        params![hash.as_str()],
    )?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let mut s = from_row(row)?;
    let standing = Standing::from_row(row, cols.len())?;
    let now = clock.now();
    let idle_out = !s.remember && now - s.last_seen_at > BROWSER_IDLE_S;
    if now >= s.expires_at || idle_out {
        sql.execute(
            "DELETE FROM sessions WHERE token_hash = ?",
            params![hash.as_str()],
        )?;
        return Ok(None);
    }
    if now - s.last_seen_at >= TOUCH_EVERY_S {
        sql.execute(
            "UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?",
            params![now, hash.as_str()],
        )?;
        s.last_seen_at = now;
    }
    Ok(Some((s, standing)))
}

/// Replaces a session with a fresh token at `stage` (same user, lifetime and
/// "remember"); `second_factor_verified` records a second-factor check now.
/// Returns the new raw token.
pub fn rotate(
    sql: &dyn Sql,
    clock: &dyn Clock,
    rng: &dyn Random,
    old: &Session,
    stage: Stage,
    second_factor_verified: bool,
) -> Result<(String, Session), ApiError> {
    sql.execute(
        "DELETE FROM sessions WHERE token_hash = ?",
        params![old.token_hash.as_str()],
    )?;
    let now = clock.now();
    let sf = if second_factor_verified {
        Some(now)
    } else {
        old.second_factor_at
    };
    // A rotated browser session keeps its original 12-hour cap.
    insert(
        sql,
        rng,
        &old.user_id,
        stage,
        old.remember,
        now,
        old.expires_at,
        sf,
    )
}

/// Ends one session (sign-out).
pub fn destroy(sql: &dyn Sql, token_hash: &str) -> Result<(), ApiError> {
    sql.execute(
        "DELETE FROM sessions WHERE token_hash = ?",
        params![token_hash],
    )?;
    Ok(())
}

/// Ends every session of a user except `keep` (password change/reset).
pub fn destroy_others(sql: &dyn Sql, user_id: &str, keep: Option<&str>) -> Result<(), ApiError> {
    sql.execute(
        "DELETE FROM sessions WHERE user_id = ? AND token_hash != ?",
        params![user_id, keep.unwrap_or("")],
    )?;
    Ok(())
}

#[cfg(all(test, feature = "native"))]
#[allow(clippy::unwrap_used)] // test helpers: a failing unwrap is a failing test
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::migrate::ensure_schema;
    use crate::native::NativeSql;
    use crate::random::OsRandom;

    fn db() -> NativeSql {
        let db = NativeSql::memory();
        ensure_schema(&db).unwrap();
        db
    }

    #[test]
    fn only_the_hash_of_the_token_is_stored() {
        let (db, clock) = (db(), FixedClock::at(1_000_000));
        let (token, s) = create(&db, &clock, &OsRandom, "u1", Stage::Full, false).unwrap();
        let rows = db.execute("SELECT token_hash FROM sessions", &[]).unwrap();
        let stored = rows.first().unwrap().text(0).unwrap();
        assert_ne!(stored, token);
        assert_eq!(stored, sha256_hex(&token));
        assert_eq!(load(&db, &clock, &token).unwrap().unwrap(), s);
        assert_eq!(load(&db, &clock, "forged").unwrap(), None);
    }

    #[test]
    fn browser_session_ends_after_two_idle_hours() {
        let (db, clock) = (db(), FixedClock::at(1_000_000));
        let (token, _) = create(&db, &clock, &OsRandom, "u1", Stage::Full, false).unwrap();
        clock.advance(BROWSER_IDLE_S - 10);
        assert!(load(&db, &clock, &token).unwrap().is_some()); // touches
        clock.advance(BROWSER_IDLE_S - 10);
        assert!(load(&db, &clock, &token).unwrap().is_some());
        clock.advance(BROWSER_IDLE_S + 1);
        assert!(load(&db, &clock, &token).unwrap().is_none());
    }

    #[test]
    fn browser_session_ends_after_twelve_hours_even_when_active() {
        let (db, clock) = (db(), FixedClock::at(1_000_000));
        let (token, _) = create(&db, &clock, &OsRandom, "u1", Stage::Full, false).unwrap();
        for _ in 0..11 {
            clock.advance(3600);
            assert!(load(&db, &clock, &token).unwrap().is_some());
        }
        clock.advance(3600);
        assert!(load(&db, &clock, &token).unwrap().is_none());
    }

    #[test]
    fn remembered_session_lasts_thirty_days_without_idle_limit() {
        let (db, clock) = (db(), FixedClock::at(1_000_000));
        let (token, _) = create(&db, &clock, &OsRandom, "u1", Stage::Full, true).unwrap();
        clock.advance(29 * 24 * 3600);
        assert!(load(&db, &clock, &token).unwrap().is_some());
        clock.advance(24 * 3600);
        assert!(load(&db, &clock, &token).unwrap().is_none());
    }

    #[test]
    fn rotation_replaces_the_token_and_keeps_the_cap() {
        let (db, clock) = (db(), FixedClock::at(1_000_000));
        let (t1, s1) = create(&db, &clock, &OsRandom, "u1", Stage::PasswordOk, false).unwrap();
        clock.advance(30);
        let (t2, s2) = rotate(&db, &clock, &OsRandom, &s1, Stage::Full, true).unwrap();
        assert!(load(&db, &clock, &t1).unwrap().is_none());
        let s = load(&db, &clock, &t2).unwrap().unwrap();
        assert_eq!(s.stage, Stage::Full);
        assert_eq!(s.expires_at, s1.expires_at);
        assert_eq!(s.second_factor_at, Some(clock.now()));
        assert_ne!(s2.csrf_token, s1.csrf_token);
    }

    #[test]
    fn destroy_others_keeps_only_the_current_session() {
        let (db, clock) = (db(), FixedClock::at(1_000_000));
        let (a, sa) = create(&db, &clock, &OsRandom, "u1", Stage::Full, false).unwrap();
        let (b, _) = create(&db, &clock, &OsRandom, "u1", Stage::Full, false).unwrap();
        let (c, _) = create(&db, &clock, &OsRandom, "u2", Stage::Full, false).unwrap();
        destroy_others(&db, "u1", Some(&sa.token_hash)).unwrap();
        assert!(load(&db, &clock, &a).unwrap().is_some());
        assert!(load(&db, &clock, &b).unwrap().is_none());
        assert!(load(&db, &clock, &c).unwrap().is_some());
    }
}
