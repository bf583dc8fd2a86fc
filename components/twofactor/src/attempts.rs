//! Wrong second-factor answers and the lockout they lead to.
//!
//! Three wrong answers in a row (per user, any method) lock the account for 15
//! minutes through `users.locked_until`, so sign-in answers 423 too; the user is
//! emailed with a link to reset the password in case it was not them. The count
//! is an exact SQL counter (one UPSERT per failure): concurrent guesses cannot
//! slip past it. A correct answer resets it. Failures more than
//! [`FAILURE_WINDOW_S`] apart do not add up.

use edgedesk_core::db::transaction;
use edgedesk_core::outbox::{self, Mail, html_escape};
use edgedesk_core::{ApiError, Clock, Random, Sql, rate_limit, users};
use serde_json::{Map, json};

pub const MAX_FAILURES: i64 = 3;
pub const LOCK_S: i64 = 15 * 60;
pub const FAILURE_WINDOW_S: i64 = 24 * 3600;

fn key(user_id: &str) -> String {
    format!("2fa/fail/{user_id}")
}

/// `423 account_locked` while the account is locked.
pub fn ensure_not_locked(sql: &dyn Sql, user_id: &str, now: i64) -> Result<(), ApiError> {
    match users::locked_until(sql, user_id, now)? {
        Some(until) => Err(users::locked_error(until, now)),
        None => Ok(()),
    }
}

/// What a wrong answer led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// `401 invalid_code` with this many attempts left.
    Invalid { attempts_left: i64 },
    /// The account is now locked until this time (a mail was queued).
    Locked { until: i64 },
}

impl Failure {
    pub fn error(self, now: i64) -> ApiError {
        match self {
            Failure::Invalid { attempts_left } => {
                let mut extra = Map::new();
                extra.insert("attempts_left".into(), json!(attempts_left));
                ApiError::Unauthorized {
                    code: "invalid_code",
                    message: format!(
                        "That is not right. {attempts_left} attempt{} left before the account is locked for 15 minutes.",
                        if attempts_left == 1 { "" } else { "s" }
                    ),
                    extra: Some(extra),
                }
            }
            Failure::Locked { until } => users::locked_error(until, now),
        }
    }
}

/// Where the lockout mail points.
pub struct MailContext<'a> {
    pub portal_name: &'a str,
    pub base_url: &'a str,
}

/// Counts a wrong answer; the third in a row locks the account and queues the
/// lockout mail (in one transaction).
pub fn record_failure(
    sql: &dyn Sql,
    clock: &dyn Clock,
    rng: &dyn Random,
    user_id: &str,
    mail: &MailContext<'_>,
) -> Result<Failure, ApiError> {
    let now = clock.now();
    transaction(sql, || {
        let c = rate_limit::hit(sql, &key(user_id), FAILURE_WINDOW_S, now)?;
        let detail = format!("wrong answer {} of {MAX_FAILURES}", c.count);
        crate::methods::audit(sql, user_id, "auth.second_factor_failed", &detail, now)?;
        if c.count < MAX_FAILURES {
            return Ok(Failure::Invalid {
                attempts_left: MAX_FAILURES - c.count,
            });
        }
        let until = now + LOCK_S;
        users::lock_until(sql, user_id, until)?;
        crate::methods::audit(
            sql,
            user_id,
            "auth.account_locked",
            &format!(
                "{MAX_FAILURES} wrong second-factor answers: locked for {} minutes",
                LOCK_S / 60
            ),
            now,
        )?;
        // A fresh start after the lock.
        rate_limit::reset(sql, &key(user_id))?;
        // Every half-finished sign-in of this user starts again with the password.
        sql.execute(
            "DELETE FROM sessions WHERE user_id = ?1 AND stage = 'password_ok'",
            edgedesk_core::params![user_id],
        )?;
        if let Some(contact) = users::contact(sql, user_id)? {
            outbox::enqueue(sql, clock, rng, &lockout_mail(&contact, mail))?;
        }
        Ok(Failure::Locked { until })
    })
}

/// A correct answer: the count starts again.
pub fn record_success(sql: &dyn Sql, user_id: &str) -> Result<(), ApiError> {
    rate_limit::reset(sql, &key(user_id))
}

/// Failures counted so far (for tests and pages).
pub fn failures(sql: &dyn Sql, user_id: &str, now: i64) -> Result<i64, ApiError> {
    Ok(rate_limit::peek(sql, &key(user_id), FAILURE_WINDOW_S, now)?.count)
}

fn lockout_mail(contact: &users::Contact, m: &MailContext<'_>) -> Mail {
    let reset = format!("{}/forgot-password", m.base_url.trim_end_matches('/'));
    let text = format!(
        "Hello {name},\n\n\
         Someone signed in to {portal} with your password (username {user}) and then \
         entered three wrong second-factor codes in a row. We have locked the account \
         for 15 minutes.\n\n\
         If this was you, wait 15 minutes and try again.\n\
         If it was not you, your password is known to someone else: reset it now at\n{reset}\n",
        name = contact.full_name,
        portal = m.portal_name,
        user = contact.username,
    );
    let html = format!(
        "<p>Hello {name},</p><p>Someone signed in to {portal} with your password (username \
         <b>{user}</b>) and then entered three wrong second-factor codes in a row. We have \
         locked the account for 15 minutes.</p><p>If this was you, wait 15 minutes and try \
         again.</p><p>If it was not you, your password is known to someone else: \
         <a href=\"{reset_h}\">reset your password now</a>.</p>",
        name = html_escape(&contact.full_name),
        portal = html_escape(m.portal_name),
        user = html_escape(&contact.username),
        reset_h = html_escape(&reset),
    );
    Mail {
        kind: "2fa.lockout",
        to: contact.email.clone(),
        subject: format!("{}: your account was locked", m.portal_name),
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::db;
    use edgedesk_core::clock::FixedClock;
    use edgedesk_core::random::OsRandom;

    const M: MailContext<'static> = MailContext {
        portal_name: "EdgeDesk",
        base_url: "https://desk.example.com/",
    };

    fn mails(db: &dyn Sql) -> Vec<(String, String, String)> {
        db.execute("SELECT kind, to_addr, text_body FROM outbox", &[])
            .unwrap()
            .rows
            .iter()
            .map(|r| (r.text(0).unwrap(), r.text(1).unwrap(), r.text(2).unwrap()))
            .collect()
    }

    #[test]
    fn account_locks_after_exactly_three_failures_and_mails_the_user() {
        let (db, clock) = (db(), FixedClock::at(1_000_000));
        let f1 = record_failure(&db, &clock, &OsRandom, "u1", &M).unwrap();
        assert_eq!(f1, Failure::Invalid { attempts_left: 2 });
        let e = f1.error(clock.now());
        assert_eq!((e.status(), e.code()), (401, "invalid_code"));
        assert_eq!(e.body()["error"]["attempts_left"], 2);
        assert_eq!(
            record_failure(&db, &clock, &OsRandom, "u1", &M).unwrap(),
            Failure::Invalid { attempts_left: 1 }
        );
        ensure_not_locked(&db, "u1", clock.now()).unwrap();
        assert!(mails(&db).is_empty());
        let f3 = record_failure(&db, &clock, &OsRandom, "u1", &M).unwrap();
        assert_eq!(
            f3,
            Failure::Locked {
                until: 1_000_000 + LOCK_S
            }
        );
        let e = f3.error(clock.now());
        assert_eq!((e.status(), e.code()), (423, "account_locked"));
        assert_eq!(e.body()["error"]["retry_after_s"], 900);
        let e = ensure_not_locked(&db, "u1", clock.now() + 60).unwrap_err();
        assert_eq!(e.body()["error"]["retry_after_s"], 840);
        let m = mails(&db);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].0, "2fa.lockout");
        assert_eq!(m[0].1, "alice@example.com");
        assert!(m[0].2.contains("https://desk.example.com/forgot-password"));
        // Another user is unaffected.
        ensure_not_locked(&db, "u2", clock.now()).unwrap();
    }

    #[test]
    fn lock_expires_after_fifteen_minutes_with_a_fresh_count() {
        let (db, clock) = (db(), FixedClock::at(1_000_000));
        for _ in 0..3 {
            record_failure(&db, &clock, &OsRandom, "u1", &M).unwrap();
        }
        clock.advance(LOCK_S - 1);
        assert!(ensure_not_locked(&db, "u1", clock.now()).is_err());
        clock.advance(1);
        ensure_not_locked(&db, "u1", clock.now()).unwrap();
        assert_eq!(failures(&db, "u1", clock.now()).unwrap(), 0);
        assert_eq!(
            record_failure(&db, &clock, &OsRandom, "u1", &M).unwrap(),
            Failure::Invalid { attempts_left: 2 }
        );
    }

    #[test]
    fn a_success_resets_the_run_of_failures() {
        let (db, clock) = (db(), FixedClock::at(1_000_000));
        record_failure(&db, &clock, &OsRandom, "u1", &M).unwrap();
        record_failure(&db, &clock, &OsRandom, "u1", &M).unwrap();
        record_success(&db, "u1").unwrap();
        assert_eq!(
            record_failure(&db, &clock, &OsRandom, "u1", &M).unwrap(),
            Failure::Invalid { attempts_left: 2 }
        );
    }
}
