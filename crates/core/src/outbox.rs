//! Enqueueing mail. Components insert outbox rows inside their own transaction, so
//! a mail exists exactly when the change that caused it was committed; the
//! notifications component delivers it (only it may reach the outside).
//!
//! Also the due-check (issue 13). Real Spin has no timer, so a mail whose
//! delivery failed would wait for the next request that queues mail. Instead,
//! every request that looked a session up (so has the database open) asks,
//! after answering, [`should_kick`]: one indexed read ("is any mail due, and
//! has nobody kicked in the last [`KICK_GAP_S`] seconds?"), and only when both
//! hold, one exact
//! claim of the kick slot (a single `INSERT … ON CONFLICT DO UPDATE … WHERE`
//! on a `settings` row, never a key-value get-then-set). So across all
//! instances at most one kick per gap goes to the notifications component,
//! whose per-message lease claims keep delivery exactly once.

use crate::clock::Clock;
use crate::db::{Sql, Value};
use crate::error::ApiError;
use crate::params;
use crate::random::Random;
use crate::token::new_id;

/// One message to one recipient.
#[derive(Debug, Clone)]
pub struct Mail {
    /// What kind of mail, for operators and tests: `auth.confirm`, `2fa.code`, …
    pub kind: &'static str,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

const INSERT_OUTBOX: &str = "INSERT INTO outbox (id, kind, to_addr, subject, text_body, html_body, \
     state, attempts, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)";

/// Queues a mail; returns its id (stable across delivery retries).
pub fn enqueue(
    sql: &dyn Sql,
    clock: &dyn Clock,
    rng: &dyn Random,
    mail: &Mail,
) -> Result<String, ApiError> {
    let id = new_id(rng);
    let now = clock.now();
    sql.execute(
        INSERT_OUTBOX,
        params![
            id.as_str(),
            mail.kind,
            mail.to.as_str(),
            mail.subject.as_str(),
            mail.text.as_str(),
            mail.html.as_str(),
            now,
            now
        ],
    )?;
    Ok(id)
}

/// Queues one copy of `mail` (its `to` is ignored) for every approved member
/// of `organization_id` except `except_user_id`: one short row, whatever the
/// organization's size. The notifications component copies it into the
/// outbox, [`FANOUT_CHUNK`] members per transaction ([`expand_fanouts`]),
/// before it delivers; members who joined or left in between (milliseconds)
/// are told or not accordingly.
pub fn enqueue_to_members(
    sql: &dyn Sql,
    clock: &dyn Clock,
    rng: &dyn Random,
    mail: &Mail,
    organization_id: &str,
    except_user_id: &str,
) -> Result<String, ApiError> {
    let id = new_id(rng);
    sql.execute(
        "INSERT INTO outbox_fanout (id, kind, subject, text_body, html_body, organization_id, \
         except_user_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            id.as_str(),
            mail.kind,
            mail.subject.as_str(),
            mail.text.as_str(),
            mail.html.as_str(),
            organization_id,
            except_user_id,
            clock.now()
        ],
    )?;
    Ok(id)
}

/// Members copied into the outbox per transaction: a few milliseconds of the
/// write lock, so other writers never wait long behind a big organization.
pub const FANOUT_CHUNK: i64 = 25;

/// The next chunk's members (approved, not the excluded one, after the
/// cursor, in user-id order): how many, and the last one's id.
const FANOUT_NEXT: &str = "SELECT count(*), max(user_id) FROM (SELECT m.user_id FROM memberships m \
     WHERE m.organization_id = ?1 AND m.access = 'approved' AND m.user_id <> ?2 AND m.user_id > ?3 \
     ORDER BY m.user_id LIMIT ?4)";

/// The same chunk, copied into the outbox in one statement.
const FANOUT_COPY: &str = "INSERT INTO outbox (id, kind, to_addr, subject, text_body, html_body, state, \
     attempts, created_at, next_attempt_at, bulk) \
     SELECT lower(hex(randomblob(16))), ?5, u.email, ?6, ?7, ?8, 'pending', 0, ?9, ?9, 1 \
     FROM memberships m JOIN users u ON u.id = m.user_id \
     WHERE m.organization_id = ?1 AND m.access = 'approved' AND m.user_id <> ?2 AND m.user_id > ?3 \
     ORDER BY m.user_id LIMIT ?4";

/// Copies pending fan-outs into the outbox, one chunk per transaction, for at
/// most `chunks` chunks. Returns how many mails were queued. Safe to run from
/// many instances at once: each chunk reads and moves the cursor inside its
/// own write transaction, so no member is queued twice.
pub fn expand_fanouts(sql: &dyn Sql, clock: &dyn Clock, chunks: usize) -> Result<usize, ApiError> {
    // The common case, nothing to expand, is one read and no write lock.
    let pending = sql.execute("SELECT EXISTS (SELECT 1 FROM outbox_fanout)", &[])?;
    if pending.first().map(|r| r.i64(0)).transpose()?.unwrap_or(0) == 0 {
        return Ok(0);
    }
    let mut queued = 0;
    for _ in 0..chunks {
        let done = crate::db::transaction(sql, || -> Result<Option<usize>, ApiError> {
            let rows = sql.execute(
                "SELECT id, kind, subject, text_body, html_body, organization_id, except_user_id, \
                 after_user_id FROM outbox_fanout ORDER BY created_at, id LIMIT 1",
                &[],
            )?;
            let Some(f) = rows.first() else {
                return Ok(None);
            };
            let id = f.text(0)?;
            let (org, except, after) = (f.text(5)?, f.text(6)?, f.text(7)?);
            let next = sql.execute(
                FANOUT_NEXT,
                params![org.as_str(), except.as_str(), after.as_str(), FANOUT_CHUNK],
            )?;
            let next = next.first().ok_or_else(|| ApiError::internal("no count"))?;
            let (n, last) = (next.i64(0)?, next.opt_text(1)?);
            sql.execute(
                FANOUT_COPY,
                params![
                    org.as_str(),
                    except.as_str(),
                    after.as_str(),
                    FANOUT_CHUNK,
                    f.text(1)?,
                    f.text(2)?,
                    f.text(3)?,
                    f.text(4)?,
                    clock.now()
                ],
            )?;
            match last {
                Some(cursor) if n == FANOUT_CHUNK => {
                    sql.execute(
                        "UPDATE outbox_fanout SET after_user_id = ? WHERE id = ?",
                        params![cursor, id],
                    )?;
                }
                _ => {
                    sql.execute("DELETE FROM outbox_fanout WHERE id = ?", params![id])?;
                }
            }
            Ok(Some(n as usize))
        })?;
        match done {
            Some(n) => queued += n,
            None => break,
        }
    }
    Ok(queued)
}

/// Escapes text for HTML mail bodies.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// At most one due-check kick per this many seconds, across all instances.
pub const KICK_GAP_S: i64 = 5;

/// The `settings` row holding when the last due-check kick was claimed (unix s).
const KICK_SETTING: &str = "mail.kick_at";

/// Is any mail due (mirrors the notifications component's claim: pending and
/// past its retry time, or sending with an expired lease), and is the kick slot
/// free? Reads only: the `outbox_due (state, next_attempt_at)` index answers
/// both branches, and `settings` is looked up by its primary key.
/// "Delivery has work at `now`" (a parameter of the caller's statement, such
/// as `?1`): pending mail past its retry time, a lease that expired, or a
/// fan-out to copy. One text for the due-check below and for
/// [`anything_due`].
fn work_due(now: &str) -> String {
    format!(
        "(EXISTS (SELECT 1 FROM outbox WHERE state = 'pending' AND next_attempt_at <= {now}) \
          OR EXISTS (SELECT 1 FROM outbox WHERE state = 'sending' AND lease_until < {now}) \
          OR EXISTS (SELECT 1 FROM outbox_fanout))"
    )
}

/// The due-check as an expression of the caller's statement: work is due at
/// parameter `now` and the kick slot is free, given the parameters holding
/// [`KICK_GAP_S`] and the slot's settings name ([`due_check_args`]). The
/// request's opening statement (`session::open`) carries it, so a signed-in
/// request pays no statement of its own for it.
pub fn due_check(now: &str, gap: &str, setting: &str) -> String {
    format!(
        "{} AND COALESCE((SELECT CAST(value AS INTEGER) FROM settings WHERE name = {setting}), 0) \
         <= {now} - {gap}",
        work_due(now)
    )
}

/// The values for [`due_check`]'s `gap` and `setting` parameters.
pub fn due_check_args() -> [Value; 2] {
    [Value::from(KICK_GAP_S), Value::from(KICK_SETTING)]
}

/// Has delivery any work at `now` (whatever the kick slot says)? A read, so
/// the many kicks that find nothing to do never queue for the write lock.
pub fn anything_due(sql: &dyn Sql, now: i64) -> Result<bool, ApiError> {
    let rows = sql.execute(&format!("SELECT {}", work_due("?1")), params![now])?;
    Ok(rows.first().map(|r| r.i64(0)).transpose()?.unwrap_or(0) != 0)
}

/// Claims the kick slot: one statement, so of many instances noticing the same
/// due mail at once exactly one gets a row back.
const CLAIM_KICK: &str = "INSERT INTO settings (name, value) VALUES (?3, CAST(?1 AS TEXT)) \
     ON CONFLICT(name) DO UPDATE SET value = excluded.value \
     WHERE CAST(settings.value AS INTEGER) <= ?1 - ?2 RETURNING value";

/// Gives the slot back (only if it is still ours) when the kick could not be sent.
const RELEASE_KICK: &str =
    "UPDATE settings SET value = '0' WHERE name = ?2 AND value = CAST(?1 AS TEXT)";

/// True when queued mail is due and nobody kicked delivery in the last
/// [`KICK_GAP_S`] seconds (one read, no write).
pub fn mail_due(sql: &dyn Sql, now: i64) -> Result<bool, ApiError> {
    let [gap, setting] = due_check_args();
    let rows = sql.execute(
        &format!("SELECT {}", due_check("?1", "?2", "?3")),
        &[Value::from(now), gap, setting],
    )?;
    Ok(rows.first().map(|r| r.i64(0)).transpose()?.unwrap_or(0) != 0)
}

/// Claims the kick slot for `now`; true for exactly one caller per gap.
pub fn claim_kick(sql: &dyn Sql, now: i64) -> Result<bool, ApiError> {
    let rows = sql.execute(CLAIM_KICK, params![now, KICK_GAP_S, KICK_SETTING])?;
    Ok(!rows.rows.is_empty())
}

/// The due-check run after answering: true when this request should kick
/// delivery. `known_due` is the due-check the request's opening statement
/// already read (`session::Opening::mail_due`); without it, one read. The
/// common case (nothing due, or kicked recently) writes nothing.
pub fn should_kick(sql: &dyn Sql, now: i64, known_due: Option<bool>) -> Result<bool, ApiError> {
    let due = match known_due {
        Some(due) => due,
        None => mail_due(sql, now)?,
    };
    Ok(due && claim_kick(sql, now)?)
}

/// Is a delivery run under way (the notifications component's `mail.runner`
/// lease, until when in unix seconds, is held at `now`)? Then a kick is
/// pointless: the run looks for due mail after letting go of the lease, so
/// it sends anything committed before this read. Kicks that find it busy
/// skip starting a delivery instance that would only find the lease held
/// (while people raise requests, nearly every kick; docs/PERFORMANCE.md).
pub fn runner_busy(sql: &dyn Sql, now: i64) -> Result<bool, ApiError> {
    Ok(sql
        .execute(
            "SELECT CAST(value AS INTEGER) FROM settings WHERE name = 'mail.runner'",
            &[],
        )?
        .first()
        .map(|r| r.opt_i64(0))
        .transpose()?
        .flatten()
        .is_some_and(|until| until > now))
}

/// Frees the slot claimed at `claimed_at` after a kick that failed to reach the
/// notifications component, so the next request tries again instead of
/// waiting out the gap.
pub fn release_kick(sql: &dyn Sql, claimed_at: i64) -> Result<(), ApiError> {
    sql.execute(RELEASE_KICK, params![claimed_at, KICK_SETTING])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escape_neutralises_markup() {
        assert_eq!(
            html_escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}

#[cfg(all(test, feature = "native"))]
#[allow(clippy::unwrap_used)] // test helpers: a failing unwrap is a failing test
mod due_check_tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::migrate::ensure_schema;
    use crate::native::NativeSql;
    use crate::random::OsRandom;

    fn setup() -> (NativeSql, FixedClock) {
        let db = NativeSql::memory();
        ensure_schema(&db).unwrap();
        (db, FixedClock::at(1_000_000))
    }

    fn queue(db: &NativeSql, clock: &FixedClock) -> String {
        let mail = Mail {
            kind: "test",
            to: "a@example.com".into(),
            subject: "Hi".into(),
            text: "t".into(),
            html: "h".into(),
        };
        enqueue(db, clock, &OsRandom, &mail).unwrap()
    }

    fn set(db: &NativeSql, id: &str, state: &str, next: i64, lease: Option<i64>) {
        db.execute(
            "UPDATE outbox SET state = ?2, next_attempt_at = ?3, lease_until = ?4 WHERE id = ?1",
            params![id, state, next, lease],
        )
        .unwrap();
    }

    #[test]
    fn a_fanout_tells_each_approved_member_but_one_exactly_once_in_chunks() {
        let (db, clock) = setup();
        db.execute(
            "INSERT INTO organizations (id, name, name_key, state, created_at, updated_at) \
             VALUES ('o1', 'Acme', 'acme', 'approved', 1, 1)",
            &[],
        )
        .unwrap();
        let total = FANOUT_CHUNK * 2 + 5;
        for i in 0..total {
            let id = format!("u{i:04}");
            db.execute(
                "INSERT INTO users (id, username, email, full_name, password_hash, role, \
                 email_confirmed_at, created_at, updated_at) \
                 VALUES (?1, ?1, ?1 || '@acme.example', ?1, 'x', 'customer', 1, 1, 1)",
                params![id.as_str()],
            )
            .unwrap();
            // Every tenth member is still pending: not told.
            let access = if i % 10 == 9 { "pending" } else { "approved" };
            db.execute(
                "INSERT INTO memberships (user_id, organization_id, access, created_at, updated_at) \
                 VALUES (?1, 'o1', ?2, 1, 1)",
                params![id.as_str(), access],
            )
            .unwrap();
        }
        let mail = Mail {
            kind: "org.joined",
            to: String::new(),
            subject: "New colleague".into(),
            text: "t".into(),
            html: "h".into(),
        };
        assert!(!mail_due(&db, clock.now()).unwrap());
        enqueue_to_members(&db, &clock, &OsRandom, &mail, "o1", "u0000").unwrap();
        // Nothing in the outbox yet, but delivery has work: the due-check says so.
        assert!(mail_due(&db, clock.now()).unwrap());
        // One chunk per call: the first call copies exactly one chunk.
        assert_eq!(
            expand_fanouts(&db, &clock, 1).unwrap(),
            FANOUT_CHUNK as usize
        );
        let rest = expand_fanouts(&db, &clock, 10).unwrap();
        let approved = (0..total).filter(|i| i % 10 != 9).count();
        assert_eq!(
            FANOUT_CHUNK as usize + rest,
            approved - 1,
            "all approved but the newcomer"
        );
        let rows = db
            .execute(
                "SELECT to_addr, count(*) FROM outbox GROUP BY to_addr HAVING count(*) > 1",
                &[],
            )
            .unwrap();
        assert!(rows.rows.is_empty(), "nobody told twice");
        let told = db
            .execute("SELECT count(*) FROM outbox WHERE to_addr IN ('u0000@acme.example', 'u0009@acme.example')", &[])
            .unwrap();
        assert_eq!(
            told.first().unwrap().i64(0).unwrap(),
            0,
            "not the newcomer, not the pending"
        );
        let left = db
            .execute("SELECT count(*) FROM outbox_fanout", &[])
            .unwrap();
        assert_eq!(left.first().unwrap().i64(0).unwrap(), 0);
        assert_eq!(expand_fanouts(&db, &clock, 10).unwrap(), 0);
    }

    #[test]
    fn an_empty_outbox_is_never_due() {
        let (db, clock) = setup();
        assert!(!mail_due(&db, clock.now()).unwrap());
        assert!(!should_kick(&db, clock.now(), None).unwrap());
    }

    #[test]
    fn due_means_exactly_what_delivery_would_claim() {
        let (db, clock) = setup();
        let now = clock.now();
        let id = queue(&db, &clock);
        assert!(mail_due(&db, now).unwrap(), "fresh mail is due at once");
        set(&db, &id, "pending", now + 30, None);
        assert!(!mail_due(&db, now).unwrap(), "waiting for its backoff");
        assert!(
            mail_due(&db, now + 30).unwrap(),
            "due when the backoff ends"
        );
        set(&db, &id, "sending", now, Some(now + 120));
        assert!(!mail_due(&db, now + 60).unwrap(), "leased to a sender");
        assert!(mail_due(&db, now + 121).unwrap(), "its sender died");
        for state in ["delivered", "failed"] {
            set(&db, &id, state, now, None);
            assert!(!mail_due(&db, now + 10_000).unwrap(), "{state}");
        }
    }

    #[test]
    fn one_kick_per_gap_and_none_without_due_mail() {
        let (db, clock) = setup();
        let now = clock.now();
        queue(&db, &clock);
        assert!(should_kick(&db, now, None).unwrap());
        // Still due (nobody delivered it), but the slot is taken for the gap.
        assert!(!should_kick(&db, now, None).unwrap());
        assert!(!should_kick(&db, now + KICK_GAP_S - 1, None).unwrap());
        assert!(should_kick(&db, now + KICK_GAP_S, None).unwrap());
        // A slot whose kick failed is given back at once.
        release_kick(&db, now + KICK_GAP_S).unwrap();
        assert!(should_kick(&db, now + KICK_GAP_S + 1, None).unwrap());
        // Releasing an older claim does not free a newer one.
        release_kick(&db, now).unwrap();
        assert!(!should_kick(&db, now + KICK_GAP_S + 2, None).unwrap());
    }

    #[test]
    fn a_due_check_read_at_the_opening_is_not_read_again() {
        let (db, clock) = setup();
        let now = clock.now();
        queue(&db, &clock);
        // The opening saw nothing due: no claim, even though mail is due now.
        assert!(!should_kick(&db, now, Some(false)).unwrap());
        assert!(mail_due(&db, now).unwrap(), "the slot was left free");
        // It saw mail due: the claim decides, once per gap.
        assert!(should_kick(&db, now, Some(true)).unwrap());
        assert!(!should_kick(&db, now, Some(true)).unwrap());
    }

    #[test]
    fn the_due_check_uses_indexes_only() {
        let (db, _) = setup();
        let plan = db
            .execute(
                &format!("EXPLAIN QUERY PLAN SELECT {}", due_check("?1", "?2", "?3")),
                params![1, 5, KICK_SETTING],
            )
            .unwrap();
        let details: Vec<String> = plan.rows.iter().map(|r| r.text(3).unwrap()).collect();
        assert!(
            details
                .iter()
                // `EXISTS (SELECT 1 FROM outbox_fanout)` reads one index entry.
                .all(|d| {
                    let d = d.replace("SCAN outbox_fanout USING COVERING INDEX", "");
                    !d.starts_with("SCAN outbox") && !d.starts_with("SCAN settings")
                }),
            "{details:?}"
        );
        assert!(
            details.iter().filter(|d| d.contains("outbox_due")).count() >= 2,
            "{details:?}"
        );
    }

    #[test]
    fn of_many_instances_noticing_due_mail_at_once_exactly_one_kicks() {
        let dir = std::env::temp_dir().join(format!(
            "edgedesk-kick-{}-{}",
            std::process::id(),
            crate::token::new_id(&OsRandom)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db.sqlite");
        {
            let db = NativeSql::open(&path).unwrap();
            ensure_schema(&db).unwrap();
            queue(&db, &FixedClock::at(1_000_000));
        }
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (path, barrier) = (path.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let db = NativeSql::open(&path).unwrap();
                    barrier.wait();
                    should_kick(&db, 1_000_000, None).unwrap()
                })
            })
            .collect();
        let kicks = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|k| *k)
            .count();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(kicks, 1);
    }
}
