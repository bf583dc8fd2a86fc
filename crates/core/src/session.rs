//! Sign-in sessions.
//!
//! The cookie carries a 256-bit random token; the table keeps only its SHA-256.
//! A browser session lasts at most 12 hours and ends after 2 idle hours; "Keep me
//! logged in" makes it 30 days. The token is replaced (rotated) at sign-in and at
//! every stage change, so a token seen before sign-in is worthless after it.

use serde::Serialize;

use crate::access::Standing;
use crate::clock::Clock;
use crate::db::{Row, Sql, Value};
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

/// A session from [`COLS`] starting at column `at`.
fn from_row_at(r: &Row, at: usize) -> Result<Session, ApiError> {
    Ok(Session {
        token_hash: r.text(at)?,
        user_id: r.text(at + 1)?,
        stage: Stage::parse(&r.text(at + 2)?)
            .ok_or_else(|| ApiError::internal("bad session stage"))?,
        csrf_token: r.text(at + 3)?,
        remember: r.bool(at + 4)?,
        created_at: r.i64(at + 5)?,
        last_seen_at: r.i64(at + 6)?,
        expires_at: r.i64(at + 7)?,
        second_factor_at: r.opt_i64(at + 8)?,
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
    Ok(open(sql, clock, token)?.session.map(|(s, _)| s))
}

/// What a request with a session cookie learns in its first statement.
/// Every such request needs the session, nearly every one the desk gate's
/// [`Standing`], and each one afterwards runs the mail due-check; the
/// schema's version is checked before anything else is trusted. Each was a
/// statement of its own, and a statement costs ~30 µs of host CPU however
/// small (docs/PERFORMANCE.md, "Requests").
#[derive(Debug, Clone, PartialEq)]
pub struct Opening {
    /// `PRAGMA user_version` as its mirror in `settings` has it
    /// (`migrate::VERSION_SETTING`; 0 without one): the caller migrates and
    /// opens again when it is not this build's (`migrate::ensure_schema`).
    pub schema_version: i64,
    /// Mail is due and the kick slot is free (`outbox::mail_due`), as of
    /// the start of the request.
    pub mail_due: bool,
    /// The live session for the token, with its person's standing.
    pub session: Option<(Session, Standing)>,
    /// The [`Rider`]'s columns, when the statement carried one.
    pub rider: Option<Row>,
}

/// Columns a route adds to its request's opening statement, so that what it
/// reads for the session's person comes in the same statement (and read
/// transaction) as the session itself, not in a statement of its own. That
/// second statement was a tenth of a "my requests" answer's host CPU
/// (docs/PERFORMANCE.md, "Tenth pass").
///
/// The columns are read before the session is judged, whatever it turns out
/// to be: the route uses them only once its own checks of the session and
/// standing passed, and only for the person they name.
#[derive(Debug, Clone, PartialEq)]
pub struct Rider {
    /// Select-list expressions, joined with `, `. They may name the
    /// session's person as `s.user_id` (NULL without a session) and
    /// [`STANDING_COLS`](crate::access::STANDING_COLS)' tables; their
    /// parameters are written `?`, and `args` gives them in the order the
    /// text has them.
    pub cols: String,
    pub args: Vec<Value>,
}

/// The request's opening statement for `token` (see [`Opening`]); an unknown,
/// expired or idle session reads as none, as with [`load`].
pub fn open(sql: &dyn Sql, clock: &dyn Clock, token: &str) -> Result<Opening, ApiError> {
    open_with(sql, clock, token, None)
}

/// [`open`], with a [`Rider`]'s columns read in the same statement.
pub fn open_with(
    sql: &dyn Sql,
    clock: &dyn Clock,
    token: &str,
    rider: Option<&Rider>,
) -> Result<Opening, ApiError> {
    let now = clock.now();
    let (text, args) = opening_statement(token, now, rider);
    let rows = sql.execute(&text, &args)?;
    let row = rows
        .first()
        .ok_or_else(|| ApiError::internal("the opening statement returned no row"))?;
    let mut opening = Opening {
        schema_version: row.i64(0)?,
        mail_due: row.bool(1)?,
        session: None,
        // The rider's columns are the row's last ones.
        rider: rider.map(|_| Row(row.0.get(RIDER_AT..).unwrap_or_default().to_vec())),
    };
    if row.opt_text(2)?.is_none() {
        return Ok(opening);
    }
    let s = from_row_at(row, 2)?;
    let standing = Standing::from_row(row, STANDING_AT)?;
    opening.session = live(sql, now, s)?.map(|s| (s, standing));
    Ok(opening)
}

/// The opening statement's columns, before a rider's: the schema version,
/// the mail due-check (`outbox::due_check` at `?2`, `?3`, `?4`), the
/// session's [`COLS`] and the person's
/// [`STANDING_COLS`](crate::access::STANDING_COLS). Written out, not built
/// per request: building it was a few µs of formatting and allocation in
/// every signed-in request (docs/PERFORMANCE.md, "Twelfth pass");
/// `the_opening_statement_is_the_one_its_parts_build` pins it.
const OPENING_SELECT: &str = "SELECT COALESCE((SELECT CAST(value AS INTEGER) FROM settings \
     WHERE name = ?5), 0), (EXISTS (SELECT 1 FROM outbox WHERE state = 'pending' \
     AND next_attempt_at <= ?2) OR EXISTS (SELECT 1 FROM outbox WHERE state = 'sending' \
     AND lease_until < ?2) OR EXISTS (SELECT 1 FROM outbox_fanout)) AND COALESCE((SELECT \
     CAST(value AS INTEGER) FROM settings WHERE name = ?4), 0) <= ?2 - ?3, s.token_hash, \
     s.user_id, s.stage, s.csrf_token, s.remember, s.created_at, s.last_seen_at, s.expires_at, \
     s.second_factor_at, u.role, m.organization_id, m.access";

/// After a rider's columns: one row whether or not the session exists (the
/// left joins hang off a row of the parameters), and the standing's joins
/// (`access::standing_joins` of `s.user_id`).
const OPENING_FROM: &str = " FROM (SELECT ?1 AS hash) p LEFT JOIN sessions s ON \
     s.token_hash = p.hash LEFT JOIN users u ON u.id = s.user_id LEFT JOIN memberships m ON \
     m.user_id = s.user_id AND m.organization_id IN (SELECT id FROM organizations)";

/// Where [`Standing`]'s columns start in the opening statement's row: after
/// the version, the due-check and the session's nine [`COLS`].
const STANDING_AT: usize = 2 + 9;

/// Where a rider's columns start: after the three of
/// [`STANDING_COLS`](crate::access::STANDING_COLS).
const RIDER_AT: usize = STANDING_AT + 3;

/// The opening statement for `token` at `now`, carrying `rider`, and its
/// parameters (public for plan tests of what rides on it).
pub fn opening_statement(token: &str, now: i64, rider: Option<&Rider>) -> (String, Vec<Value>) {
    // A token no session can have still opens the request (version and
    // due-check); it matches nothing.
    let hash = if token.is_empty() || token.len() > 100 {
        String::new()
    } else {
        sha256_hex(token)
    };
    let [gap, setting] = crate::outbox::due_check_args();
    let mut args = vec![
        Value::from(hash.as_str()),
        Value::from(now),
        gap,
        setting,
        Value::from(crate::migrate::VERSION_SETTING),
    ];
    // The rider's `?`s come after `?5` in the text, so SQLite numbers them
    // from 6 on (a bare `?` takes the largest number seen so far plus one).
    let text = match rider {
        Some(r) => {
            args.extend(r.args.iter().cloned());
            [OPENING_SELECT, ", ", &r.cols, OPENING_FROM].concat()
        }
        None => [OPENING_SELECT, OPENING_FROM].concat(),
    };
    (text, args)
}

/// `s` if it is still live at `now` (touched at most once a minute); a dead
/// one is deleted.
fn live(sql: &dyn Sql, now: i64, mut s: Session) -> Result<Option<Session>, ApiError> {
    let idle_out = !s.remember && now - s.last_seen_at > BROWSER_IDLE_S;
    if now >= s.expires_at || idle_out {
        sql.execute(
            "DELETE FROM sessions WHERE token_hash = ?",
            params![s.token_hash.as_str()],
        )?;
        return Ok(None);
    }
    if now - s.last_seen_at >= TOUCH_EVERY_S {
        sql.execute(
            "UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?",
            params![now, s.token_hash.as_str()],
        )?;
        s.last_seen_at = now;
    }
    Ok(Some(s))
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

    /// The opening statement as its parts would build it, for
    /// [`OPENING_SELECT`] and [`OPENING_FROM`] to be held to.
    fn built_opening(extra: &str) -> String {
        use crate::access::STANDING_COLS;
        let cols: Vec<String> = COLS.split(", ").map(|c| format!("s.{c}")).collect();
        format!(
            "SELECT COALESCE((SELECT CAST(value AS INTEGER) FROM settings WHERE name = ?5), 0), \
             {}, {}, {STANDING_COLS}{extra} \
             FROM (SELECT ?1 AS hash) p LEFT JOIN sessions s ON s.token_hash = p.hash {}",
            crate::outbox::due_check("?2", "?3", "?4"),
            cols.join(", "),
            crate::access::standing_joins("s.user_id")
        )
    }

    #[test]
    fn the_opening_statement_is_the_one_its_parts_build() {
        assert_eq!(opening_statement("t", 1, None).0, built_opening(""));
        let rider = Rider {
            cols: "(SELECT 1), ?".into(),
            args: vec![Value::from(7)],
        };
        let (text, args) = opening_statement("t", 1, Some(&rider));
        assert_eq!(text, built_opening(", (SELECT 1), ?"));
        assert_eq!(args.len(), 6);
        assert_eq!(STANDING_AT, 2 + COLS.split(", ").count());
        assert_eq!(
            RIDER_AT,
            STANDING_AT + crate::access::STANDING_COLS.split(", ").count()
        );
    }

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
    fn the_opening_statement_answers_what_its_own_statements_did() {
        use crate::outbox;
        let (db, clock) = (db(), FixedClock::at(1_000_000));
        // No session: still the schema version and the due-check.
        for token in ["", "unknown", &"x".repeat(101)] {
            let o = open(&db, &clock, token).unwrap();
            assert_eq!(o.schema_version, crate::migrate::version());
            assert_eq!((o.mail_due, o.session), (false, None), "{token:?}");
        }
        let (token, s) = create(&db, &clock, &OsRandom, "u1", Stage::Full, false).unwrap();
        let o = open(&db, &clock, &token).unwrap();
        assert_eq!(o.session.map(|(s, _)| s), Some(s));
        assert!(!o.mail_due);
        let mail = outbox::Mail {
            kind: "test",
            to: "a@x.test".into(),
            subject: "s".into(),
            text: "t".into(),
            html: String::new(),
        };
        outbox::enqueue(&db, &clock, &OsRandom, &mail).unwrap();
        for at in [0, outbox::KICK_GAP_S + 1] {
            clock.advance(at);
            let now = clock.now();
            assert!(outbox::mail_due(&db, now).unwrap());
            assert!(open(&db, &clock, &token).unwrap().mail_due);
            assert!(outbox::claim_kick(&db, now).unwrap());
            // Kicked just now: not due for the gap, in either reading.
            assert!(!outbox::mail_due(&db, now).unwrap());
            assert!(!open(&db, &clock, &token).unwrap().mail_due);
        }
        // A dead session is deleted on sight, as `load` does.
        clock.advance(BROWSER_IDLE_S + 1);
        assert_eq!(open(&db, &clock, &token).unwrap().session, None);
        let rows = db.execute("SELECT count(*) FROM sessions", &[]).unwrap();
        assert_eq!(rows.first().unwrap().i64(0).unwrap(), 0);
    }

    #[test]
    fn a_rider_reads_its_columns_for_the_sessions_person_with_its_own_parameters() {
        let (db, clock) = (db(), FixedClock::at(1_000_000));
        let (token, _) = create(&db, &clock, &OsRandom, "u1", Stage::Full, false).unwrap();
        create(&db, &clock, &OsRandom, "u2", Stage::Full, false).unwrap();
        // Its parameters bind after the opening's own, in the text's order,
        // and it may name the session's person.
        let rider = Rider {
            cols:
                "?, s.user_id || ?, (SELECT count(*) FROM sessions x WHERE x.user_id = s.user_id)"
                    .into(),
            args: vec![Value::from("first"), Value::from("-second")],
        };
        let o = open_with(&db, &clock, &token, Some(&rider)).unwrap();
        let row = o.rider.unwrap();
        assert_eq!(row.0.len(), 3);
        assert_eq!(row.text(0).unwrap(), "first");
        assert_eq!(row.text(1).unwrap(), "u1-second");
        assert_eq!(row.i64(2).unwrap(), 1);
        // Everything else reads as without it.
        let plain = open(&db, &clock, &token).unwrap();
        assert_eq!(o.session, plain.session);
        assert_eq!(plain.rider, None);
        // No session: the person is NULL, and the row is still there.
        let none = open_with(&db, &clock, "unknown", Some(&rider)).unwrap();
        assert_eq!(none.session, None);
        let row = none.rider.unwrap();
        assert_eq!(row.opt_text(1).unwrap(), None);
        assert_eq!(row.i64(2).unwrap(), 0);
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
