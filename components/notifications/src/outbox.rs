//! Outbox state machine: claim (lease) → delivered | retry with backoff | failed.
//!
//! A claim is one `UPDATE … RETURNING` on a single row, so two concurrent kicks
//! can never claim the same message; a message that reached a 2xx is marked
//! `delivered` and never claimed again. A lease that expires (the kicker died
//! mid-send) makes the message claimable again; the relay sees the same `id` and
//! can drop the duplicate.

use serde::Serialize;

use edgedesk_core::clock::rfc3339;
use edgedesk_core::db::{Row, Sql};
use edgedesk_core::{ApiError, params};

/// How long a claimed message is reserved for its sender.
pub const LEASE_S: i64 = 120;
/// After this many failed attempts a message is given up (`failed`).
pub const MAX_ATTEMPTS: i64 = 8;
/// Longest wait between retries.
pub const MAX_BACKOFF_S: i64 = 3600;

#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub id: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub attempts: i64,
}

// Pending mail and expired leases are looked up separately: each half is a
// range on `outbox_due (state, next_attempt_at)`. One `WHERE … OR …` made
// SQLite walk the whole table instead: 64 ms per claim, inside the write
// lock, with 17,000 messages queued. Bulk mail (copies of a fan-out) goes
// after every other due mail (`outbox_due_bulk (state, bulk, next_attempt_at)`).
// Bodies may carry one-time links: once delivered they are not kept.
const DELIVERED: &str = "UPDATE outbox SET state = 'delivered', delivered_at = ?2, lease_until = NULL, \
     text_body = '', html_body = '', last_error = NULL WHERE id = ?1 AND state = 'sending'";

const RETRY: &str = "UPDATE outbox SET state = ?2, next_attempt_at = ?3, lease_until = NULL, last_error = ?4 \
     WHERE id = ?1 AND state = 'sending'";

/// Up to `limit` due messages: pending ones first, then expired leases. Both
/// halves are ranges on an index, read in that order, and the outer limit
/// keeps the total to `limit` (one message for [`claim_next`]). The limit is
/// written into the text, never bound (see `Paging::sql_limit`).
fn claim_statement(limit: i64) -> String {
    format!(
        "UPDATE outbox SET state = 'sending', lease_until = ?1 + ?2, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM (SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?1 \
                                      ORDER BY bulk, next_attempt_at LIMIT {limit}) \
                      UNION ALL \
                      SELECT id FROM (SELECT id FROM outbox WHERE state = 'sending' AND lease_until < ?1 \
                                      ORDER BY next_attempt_at LIMIT {limit}) \
                      LIMIT {limit}) \
           AND (state = 'pending' OR lease_until < ?1) \
         RETURNING id, to_addr, subject, text_body, html_body, attempts"
    )
}

const DELIVERED_ALL: &str = "UPDATE outbox SET state = 'delivered', delivered_at = ?2, lease_until = NULL, \
     text_body = '', html_body = '', last_error = NULL \
     WHERE id IN (SELECT value FROM json_each(?1)) AND state = 'sending'";

/// The delivery runner's lease (`settings` row `mail.runner`: until when, unix
/// seconds): one statement, so of many kicks at once exactly one gets a row.
const CLAIM_RUNNER: &str = "INSERT INTO settings (name, value) VALUES ('mail.runner', CAST(?1 + ?2 AS TEXT)) \
     ON CONFLICT(name) DO UPDATE SET value = excluded.value \
     WHERE CAST(settings.value AS INTEGER) <= ?1 RETURNING value";
const RENEW_RUNNER: &str =
    "UPDATE settings SET value = CAST(?1 + ?2 AS TEXT) WHERE name = 'mail.runner'";
const RELEASE_RUNNER: &str = "UPDATE settings SET value = '0' WHERE name = 'mail.runner'";

/// Takes the runner lease if it is free (or its holder died: it expired).
/// A lease seen held is left alone without writing: while a run delivers,
/// every request that queues mail kicks, and each claim attempt would queue
/// for SQLite's one write lock behind the people raising requests. A read
/// suffices: the kick's mail is committed before it looks, and the run lets
/// go of the lease before it looks for due mail (`delivery::run`).
pub fn claim_runner(sql: &dyn Sql, now: i64) -> Result<bool, ApiError> {
    if edgedesk_core::outbox::runner_busy(sql, now)? {
        return Ok(false);
    }
    Ok(!sql
        .execute(CLAIM_RUNNER, params![now, LEASE_S])?
        .rows
        .is_empty())
}

pub fn renew_runner(sql: &dyn Sql, now: i64) -> Result<(), ApiError> {
    sql.execute(RENEW_RUNNER, params![now, LEASE_S])?;
    Ok(())
}

pub fn release_runner(sql: &dyn Sql) -> Result<(), ApiError> {
    sql.execute(RELEASE_RUNNER, &[])?;
    Ok(())
}

fn claimed(r: &Row) -> Result<Claimed, ApiError> {
    Ok(Claimed {
        id: r.text(0)?,
        to: r.text(1)?,
        subject: r.text(2)?,
        text: r.text(3)?,
        html: r.text(4)?,
        attempts: r.i64(5)?,
    })
}

pub fn claim_next(sql: &dyn Sql, now: i64) -> Result<Option<Claimed>, ApiError> {
    Ok(claim_batch(sql, now, 1)?.pop())
}

/// Claims up to `limit` due messages in one statement.
pub fn claim_batch(sql: &dyn Sql, now: i64, limit: i64) -> Result<Vec<Claimed>, ApiError> {
    let rows = sql.execute(&claim_statement(limit), params![now, LEASE_S])?;
    rows.rows.iter().map(claimed).collect()
}

pub use edgedesk_core::outbox::anything_due as any_due;

pub fn mark_delivered(sql: &dyn Sql, id: &str, now: i64) -> Result<(), ApiError> {
    sql.execute(DELIVERED, params![id, now])?;
    Ok(())
}

/// Marks every message of `ids` delivered in one statement.
pub fn mark_all_delivered(sql: &dyn Sql, ids: &[&str], now: i64) -> Result<(), ApiError> {
    let list = serde_json::to_string(ids).map_err(|e| ApiError::Internal(e.to_string()))?;
    sql.execute(DELIVERED_ALL, params![list, now])?;
    Ok(())
}

/// Seconds to wait after the `attempts`-th failure: base, 2×base, 4×base, … capped.
pub fn backoff(attempts: i64, base: i64) -> i64 {
    let exp = (attempts - 1).clamp(0, 20) as u32;
    base.saturating_mul(2i64.saturating_pow(exp))
        .min(MAX_BACKOFF_S)
}

pub fn mark_failed(
    sql: &dyn Sql,
    mail: &Claimed,
    error: &str,
    now: i64,
    retry_base_s: i64,
) -> Result<(), ApiError> {
    let (state, next) = if mail.attempts >= MAX_ATTEMPTS {
        ("failed", now)
    } else {
        ("pending", now + backoff(mail.attempts, retry_base_s))
    };
    let error: String = error.chars().take(500).collect();
    sql.execute(RETRY, params![mail.id.as_str(), state, next, error])?;
    Ok(())
}

/// `page` and `per_page` as API.md's lists take them (shared with every list).
pub use edgedesk_core::paging::Paging;

#[derive(Debug, Serialize)]
pub struct OutboxItem {
    id: String,
    kind: String,
    to: String,
    subject: String,
    state: String,
    attempts: i64,
    created_at: String,
    /// The stored schedule (kept as it was; stale once delivered or failed).
    next_attempt_at: String,
    delivered_at: Option<String>,
    last_error: Option<String>,
    /// When this mail will next be tried: `null` once delivered or given up;
    /// for a message being sent, when its lease ends (if that send fails it
    /// is rescheduled earlier or later by its backoff). A due mail goes out
    /// with the next kick: the next request that queues mail or opens the
    /// database, at most `core::outbox::KICK_GAP_S` seconds apart.
    next_try_at: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct OutboxList {
    items: Vec<OutboxItem>,
    total: i64,
    page: i64,
    per_page: i64,
}

const LIST: &str = "SELECT id, kind, to_addr, subject, state, attempts, created_at, next_attempt_at, \
     delivered_at, last_error, lease_until FROM outbox WHERE (?1 IS NULL OR state = ?1) \
     ORDER BY created_at DESC, id";
const COUNT: &str = "SELECT count(*) FROM outbox WHERE (?1 IS NULL OR state = ?1)";

const ONE: &str = "SELECT id, kind, to_addr, subject, state, attempts, created_at, next_attempt_at, \
     delivered_at, last_error, lease_until FROM outbox WHERE id = ?1";

// Only a waiting or given-up message; its tries start again from zero (the
// audit entry keeps how many were made).
const RETRY_NOW: &str = "UPDATE outbox SET state = 'pending', next_attempt_at = ?2, attempts = 0, \
     lease_until = NULL WHERE id = ?1 AND state IN ('pending', 'failed') RETURNING attempts";

/// Schedules a pending or failed message for now. `404` for an unknown id,
/// `409 already_delivered` / `409 being_sent` otherwise.
pub fn retry(
    sql: &dyn Sql,
    id: &str,
    actor: edgedesk_core::audit::Actor<'_>,
    address: &str,
    now: i64,
) -> Result<OutboxItem, ApiError> {
    edgedesk_core::db::transaction(sql, || {
        let rows = sql.execute(ONE, params![id])?;
        let before = rows.first().ok_or(ApiError::NotFound)?;
        let item = item(before, now)?;
        match item.state.as_str() {
            "delivered" => {
                return Err(ApiError::conflict(
                    "already_delivered",
                    "This message was delivered already.",
                ));
            }
            "sending" => {
                return Err(ApiError::conflict(
                    "being_sent",
                    "This message is being sent right now.",
                ));
            }
            _ => {}
        }
        sql.execute(RETRY_NOW, params![id, now])?;
        edgedesk_core::audit::record(
            sql,
            now,
            actor,
            "outbox.retry",
            edgedesk_core::audit::Target {
                id: &format!("outbox:{id}"),
                label: &item.subject,
            },
            &format!("{} after {} attempts", item.state, item.attempts),
            address,
        )?;
        let rows = sql.execute(ONE, params![id])?;
        self::item(rows.first().ok_or(ApiError::NotFound)?, now)
    })
}

/// When a message in `state` will next be tried (see [`OutboxItem::next_try_at`]);
/// a due message is shown as due now rather than at a time already past.
pub fn next_try_at(
    state: &str,
    next_attempt_at: i64,
    lease_until: Option<i64>,
    now: i64,
) -> Option<i64> {
    match state {
        "pending" => Some(next_attempt_at.max(now)),
        "sending" => Some(lease_until.unwrap_or(now).max(now)),
        _ => None,
    }
}

fn item(r: &Row, now: i64) -> Result<OutboxItem, ApiError> {
    let state = r.text(4)?;
    let next = r.i64(7)?;
    let next_try = next_try_at(&state, next, r.opt_i64(10)?, now);
    Ok(OutboxItem {
        id: r.text(0)?,
        kind: r.text(1)?,
        to: r.text(2)?,
        subject: r.text(3)?,
        state,
        attempts: r.i64(5)?,
        created_at: rfc3339(r.i64(6)?),
        next_attempt_at: rfc3339(next),
        delivered_at: r.opt_i64(8)?.map(rfc3339),
        last_error: r.opt_text(9)?,
        next_try_at: next_try.map(rfc3339),
    })
}

/// Operators' view: metadata and state only, never the bodies.
pub fn list(
    sql: &dyn Sql,
    paging: &Paging,
    state: Option<&str>,
    now: i64,
) -> Result<OutboxList, ApiError> {
    if let Some(s) = state
        && !matches!(s, "pending" | "sending" | "delivered" | "failed")
    {
        return Err(ApiError::invalid(
            "state",
            "invalid_state",
            "Unknown delivery state.",
        ));
    }
    let rows = sql.execute(&format!("{LIST} {}", paging.sql_limit()), params![state])?;
    let total = sql
        .execute(COUNT, params![state])?
        .first()
        .map(|r| r.i64(0))
        .transpose()?
        .unwrap_or(0);
    Ok(OutboxList {
        items: rows
            .rows
            .iter()
            .map(|r| item(r, now))
            .collect::<Result<_, _>>()?,
        total,
        page: paging.page,
        per_page: paging.per_page,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgedesk_core::Clock;
    use edgedesk_core::clock::FixedClock;
    use edgedesk_core::migrate::ensure_schema;
    use edgedesk_core::native::NativeSql;
    use edgedesk_core::outbox::{Mail, enqueue};
    use edgedesk_core::random::OsRandom;

    fn setup() -> (NativeSql, FixedClock) {
        let db = NativeSql::memory();
        ensure_schema(&db).unwrap();
        (db, FixedClock::at(1_000_000))
    }

    fn queue(db: &NativeSql, clock: &FixedClock, to: &str) -> String {
        let mail = Mail {
            kind: "test",
            to: to.into(),
            subject: "Hello".into(),
            text: "secret link".into(),
            html: "<p>secret link</p>".into(),
        };
        enqueue(db, clock, &OsRandom, &mail).unwrap()
    }

    #[test]
    fn a_given_up_message_is_retried_now_and_audited_but_a_delivered_one_is_not() {
        let (db, clock) = setup();
        let id = queue(&db, &clock, "a@example.com");
        for _ in 0..MAX_ATTEMPTS {
            let m = claim_next(&db, clock.now() + MAX_BACKOFF_S * 10)
                .unwrap()
                .unwrap();
            mark_failed(&db, &m, "relay said 500", clock.now(), 30).unwrap();
        }
        let actor = edgedesk_core::audit::Actor::user("u-op", "opal");
        let it = retry(&db, &id, actor, "10.0.0.7", clock.now()).unwrap();
        assert_eq!((it.state.as_str(), it.attempts), ("pending", 0));
        assert!(claim_next(&db, clock.now()).unwrap().is_some());
        mark_delivered(&db, &id, clock.now()).unwrap();
        let e = retry(&db, &id, actor, "10.0.0.7", clock.now()).unwrap_err();
        assert_eq!(e.code(), "already_delivered");
        assert_eq!(retry(&db, "nope", actor, "", 0).unwrap_err().status(), 404);
        let rows = db
            .execute("SELECT action, detail, address FROM audit_log", &[])
            .unwrap();
        assert_eq!(rows.rows.len(), 1);
        let r = rows.first().unwrap();
        assert_eq!(r.text(0).unwrap(), "outbox.retry");
        assert_eq!(
            r.text(1).unwrap(),
            format!("failed after {MAX_ATTEMPTS} attempts")
        );
        assert_eq!(r.text(2).unwrap(), "10.0.0.7");
    }

    #[test]
    fn a_claimed_message_cannot_be_claimed_again_until_its_lease_expires() {
        let (db, clock) = setup();
        let id = queue(&db, &clock, "a@example.com");
        let m = claim_next(&db, clock.now()).unwrap().unwrap();
        assert_eq!((m.id.as_str(), m.attempts), (id.as_str(), 1));
        assert_eq!(claim_next(&db, clock.now()).unwrap(), None);
        clock.advance(LEASE_S + 1);
        let again = claim_next(&db, clock.now()).unwrap().unwrap();
        assert_eq!(again.attempts, 2);
    }

    #[test]
    fn delivered_messages_are_never_claimed_again_and_lose_their_bodies() {
        let (db, clock) = setup();
        queue(&db, &clock, "a@example.com");
        let m = claim_next(&db, clock.now()).unwrap().unwrap();
        mark_delivered(&db, &m.id, clock.now()).unwrap();
        clock.advance(LEASE_S * 10);
        assert_eq!(claim_next(&db, clock.now()).unwrap(), None);
        let rows = db
            .execute("SELECT state, text_body, html_body FROM outbox", &[])
            .unwrap();
        let r = rows.first().unwrap();
        assert_eq!(r.text(0).unwrap(), "delivered");
        assert_eq!(r.text(1).unwrap(), "");
        assert_eq!(r.text(2).unwrap(), "");
    }

    #[test]
    fn a_batch_claims_each_due_message_once_and_marks_them_together() {
        let (db, clock) = setup();
        assert!(!any_due(&db, clock.now()).unwrap());
        for i in 0..5 {
            queue(&db, &clock, &format!("p{i}@example.com"));
        }
        assert!(any_due(&db, clock.now()).unwrap());
        let first = claim_batch(&db, clock.now(), 3).unwrap();
        let second = claim_batch(&db, clock.now(), 3).unwrap();
        assert_eq!((first.len(), second.len()), (3, 2));
        let mut ids: Vec<&str> = first.iter().chain(&second).map(|m| m.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 5, "no message claimed twice");
        // Claimed and leased: nothing is due until the lease runs out.
        assert!(!any_due(&db, clock.now()).unwrap());
        assert!(claim_batch(&db, clock.now(), 3).unwrap().is_empty());
        let batch: Vec<&str> = first.iter().map(|m| m.id.as_str()).collect();
        mark_all_delivered(&db, &batch, clock.now()).unwrap();
        let states = db
            .execute(
                "SELECT state, count(*) FROM outbox GROUP BY state ORDER BY state",
                &[],
            )
            .unwrap();
        let got: Vec<(String, i64)> = states
            .rows
            .iter()
            .map(|r| (r.text(0).unwrap(), r.i64(1).unwrap()))
            .collect();
        assert_eq!(
            got,
            [("delivered".to_owned(), 3), ("sending".to_owned(), 2)]
        );
        // The two still leased come back once the lease expires; with a new
        // pending one beside them, a claim of one takes only the pending one.
        clock.advance(LEASE_S + 1);
        assert!(any_due(&db, clock.now()).unwrap());
        queue(&db, &clock, "late@example.com");
        let one = claim_batch(&db, clock.now(), 1).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].to, "late@example.com");
        assert_eq!(claim_batch(&db, clock.now(), 10).unwrap().len(), 2);
    }

    #[test]
    fn claims_read_the_due_index_not_the_table() {
        use edgedesk_core::db::Value;
        let (db, _) = setup();
        // The due-check's plan is core's test (`the_due_check_uses_indexes_only`).
        let args: &[Value] = params![1, LEASE_S];
        let plan = db
            .execute(&format!("EXPLAIN QUERY PLAN {}", claim_statement(10)), args)
            .unwrap();
        let details: Vec<String> = plan.rows.iter().map(|r| r.text(3).unwrap()).collect();
        assert!(
            details
                .iter()
                .all(|d| !d.starts_with("SCAN outbox ") && d != "SCAN outbox"),
            "{details:?}"
        );
        assert!(
            details.iter().filter(|d| d.contains("outbox_due")).count() >= 2,
            "{details:?}"
        );
    }

    #[test]
    fn one_runner_at_a_time_until_it_lets_go_or_its_lease_runs_out() {
        let (db, clock) = setup();
        assert!(claim_runner(&db, clock.now()).unwrap());
        assert!(!claim_runner(&db, clock.now()).unwrap(), "held");
        release_runner(&db).unwrap();
        assert!(claim_runner(&db, clock.now()).unwrap(), "free again");
        // A runner that died: its lease runs out.
        clock.advance(LEASE_S - 1);
        assert!(!claim_runner(&db, clock.now()).unwrap());
        renew_runner(&db, clock.now()).unwrap();
        clock.advance(LEASE_S - 1);
        assert!(!claim_runner(&db, clock.now()).unwrap(), "renewed");
        clock.advance(2);
        assert!(claim_runner(&db, clock.now()).unwrap(), "expired");
    }

    #[test]
    fn a_code_queued_after_an_organizations_bulk_mail_goes_first() {
        let (db, clock) = setup();
        for i in 0..3 {
            queue(&db, &clock, &format!("member{i}@example.com"));
        }
        db.execute("UPDATE outbox SET bulk = 1", &[]).unwrap();
        clock.advance(5);
        queue(&db, &clock, "ada@example.com");
        let first = claim_next(&db, clock.now()).unwrap().unwrap();
        assert_eq!(first.to, "ada@example.com");
        let batch = claim_batch(&db, clock.now(), 10).unwrap();
        assert_eq!(batch.len(), 3, "then the bulk mail, oldest first");
        assert_eq!(batch[0].to, "member0@example.com");
    }

    #[test]
    fn failures_back_off_then_give_up() {
        let (db, clock) = setup();
        queue(&db, &clock, "a@example.com");
        for attempt in 1..=MAX_ATTEMPTS {
            let m = claim_next(&db, clock.now()).unwrap().unwrap();
            assert_eq!(m.attempts, attempt);
            mark_failed(&db, &m, "503", clock.now(), 30).unwrap();
            // not due before its backoff
            assert_eq!(claim_next(&db, clock.now()).unwrap(), None);
            clock.advance(backoff(attempt, 30));
        }
        assert_eq!(claim_next(&db, clock.now() + 1_000_000).unwrap(), None);
        let list = list(
            &db,
            &Paging {
                page: 1,
                per_page: 25,
            },
            Some("failed"),
            clock.now(),
        )
        .unwrap();
        assert_eq!(list.total, 1);
        assert_eq!(list.items[0].last_error.as_deref(), Some("503"));
        assert_eq!(
            list.items[0].next_try_at, None,
            "given up: never tried again"
        );
    }

    #[test]
    fn the_outbox_view_says_when_each_undelivered_mail_is_tried_next() {
        let (db, clock) = setup();
        let page = Paging {
            page: 1,
            per_page: 25,
        };
        let t0 = clock.now();
        queue(&db, &clock, "a@example.com");
        let view = list(&db, &page, None, t0).unwrap();
        assert_eq!(
            view.items[0].next_try_at.as_deref(),
            Some(rfc3339(t0).as_str())
        );
        // Being sent: tried again when the lease ends, if the sender dies.
        let m = claim_next(&db, t0).unwrap().unwrap();
        let view = list(&db, &page, None, t0 + 1).unwrap();
        assert_eq!(
            view.items[0].next_try_at.as_deref(),
            Some(rfc3339(t0 + LEASE_S).as_str())
        );
        // Failed once: tried again after its backoff; a due one is due now.
        mark_failed(&db, &m, "relay answered 503 (3 tries)", t0 + 1, 30).unwrap();
        let view = list(&db, &page, Some("pending"), t0 + 2).unwrap();
        assert_eq!(
            view.items[0].next_try_at.as_deref(),
            Some(rfc3339(t0 + 31).as_str())
        );
        assert_eq!(
            view.items[0].last_error.as_deref(),
            Some("relay answered 503 (3 tries)")
        );
        let view = list(&db, &page, None, t0 + 100).unwrap();
        assert_eq!(
            view.items[0].next_try_at.as_deref(),
            Some(rfc3339(t0 + 100).as_str())
        );
        // Delivered: never again.
        clock.set(t0 + 100);
        let m = claim_next(&db, t0 + 100).unwrap().unwrap();
        mark_delivered(&db, &m.id, t0 + 100).unwrap();
        let view = list(&db, &page, None, t0 + 101).unwrap();
        assert_eq!(view.items[0].next_try_at, None);
        assert_eq!(view.items[0].state, "delivered");
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1, 30), 30);
        assert_eq!(backoff(2, 30), 60);
        assert_eq!(backoff(4, 30), 240);
        assert_eq!(backoff(30, 30), MAX_BACKOFF_S);
    }

    #[test]
    fn oldest_due_message_goes_first() {
        let (db, clock) = setup();
        let first = queue(&db, &clock, "a@example.com");
        clock.advance(1);
        queue(&db, &clock, "b@example.com");
        assert_eq!(claim_next(&db, clock.now()).unwrap().unwrap().id, first);
    }

    #[test]
    fn paging_is_validated() {
        assert!(Paging::from_query(Some("0"), None).is_err());
        assert!(Paging::from_query(None, Some("101")).is_err());
        assert!(Paging::from_query(Some("x"), None).is_err());
        let p = Paging::from_query(None, None).unwrap();
        assert_eq!((p.page, p.per_page), (1, 25));
    }
}
