//! Codes sent by email: 6 digits, valid 10 minutes, single use, at most one mail
//! a minute per user.
//!
//! Only a keyed hash (HMAC with the link key, bound to the user and purpose) is
//! stored, so a database leak does not give codes away and 10^6 codes cannot be
//! brute-forced offline without the key. One code per user at a time: a new
//! code replaces the old one. Checking deletes the row in the same statement
//! (`DELETE … RETURNING`), so a code is used at most once. The one-a-minute rule
//! is the upsert's own `WHERE`, exact under concurrency.

use edgedesk_core::db::transaction;
use edgedesk_core::outbox::{self, Mail, html_escape};
use edgedesk_core::token::keyed_hash_hex;
use edgedesk_core::{ApiError, Clock, Random, Sql, params, users};

pub const VALID_S: i64 = 10 * 60;
pub const RESEND_S: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Setup,
    Login,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Setup => "setup",
            Purpose::Login => "login",
        }
    }
}

fn hash(key: &[u8], user_id: &str, purpose: Purpose, code: &str) -> String {
    keyed_hash_hex(
        key,
        &["twofactor/email-otp", user_id, purpose.as_str(), code],
    )
}

const UPSERT: &str = "INSERT INTO twofactor_email_codes (user_id, purpose, code_hash, sent_at, expires_at) \
     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(user_id) DO UPDATE SET \
     purpose = excluded.purpose, code_hash = excluded.code_hash, \
     sent_at = excluded.sent_at, expires_at = excluded.expires_at \
     WHERE twofactor_email_codes.sent_at + ?6 <= excluded.sent_at \
     RETURNING sent_at";
const SENT_AT: &str =
    "SELECT sent_at, purpose, expires_at FROM twofactor_email_codes WHERE user_id = ?1";

/// Portal name for the mail.
pub struct MailContext<'a> {
    pub portal_name: &'a str,
}

/// Sends a fresh code (replacing any earlier one); `429` with `Retry-After` when
/// the last mail went out less than a minute ago. Returns the code (for tests;
/// handlers drop it).
pub fn send(
    sql: &dyn Sql,
    clock: &dyn Clock,
    rng: &dyn Random,
    key: &[u8],
    user_id: &str,
    purpose: Purpose,
    m: &MailContext<'_>,
) -> Result<String, ApiError> {
    let now = clock.now();
    let contact = users::contact(sql, user_id)?.ok_or(ApiError::NotFound)?;
    let code = format!("{:06}", rng.below(1_000_000));
    transaction(sql, || {
        let rows = sql.execute(
            UPSERT,
            params![
                user_id,
                purpose.as_str(),
                hash(key, user_id, purpose, &code),
                now,
                now + VALID_S,
                RESEND_S
            ],
        )?;
        if rows.is_empty() {
            let sent_at = sql
                .execute(SENT_AT, params![user_id])?
                .first()
                .map(|r| r.i64(0))
                .transpose()?
                .unwrap_or(now);
            return Err(ApiError::TooManyRequests {
                retry_after_s: (sent_at + RESEND_S - now).max(1),
            });
        }
        outbox::enqueue(sql, clock, rng, &code_mail(&contact, &code, purpose, m))?;
        Ok(())
    })?;
    Ok(code)
}

/// True when a `purpose` code sent less than a minute ago is still live (the
/// sign-in challenge then does not send another).
pub fn recently_sent(
    sql: &dyn Sql,
    user_id: &str,
    purpose: Purpose,
    now: i64,
) -> Result<bool, ApiError> {
    let rows = sql.execute(SENT_AT, params![user_id])?;
    Ok(match rows.first() {
        Some(r) => r.i64(0)? + RESEND_S > now && r.text(1)? == purpose.as_str() && r.i64(2)? > now,
        None => false,
    })
}

const TAKE: &str = "DELETE FROM twofactor_email_codes \
     WHERE user_id = ?1 AND purpose = ?2 AND code_hash = ?3 RETURNING expires_at";

/// The outcome of checking an emailed code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Ok,
    Wrong,
}

/// Checks and uses up a code: `Wrong` for a wrong or used code, `400
/// code_expired` for the right code after its 10 minutes.
pub fn check(
    sql: &dyn Sql,
    key: &[u8],
    user_id: &str,
    purpose: Purpose,
    code: &str,
    now: i64,
) -> Result<Check, ApiError> {
    // Comparing keyed hashes in SQL: timing reveals nothing an attacker can use
    // without the key.
    let rows = sql.execute(
        TAKE,
        params![user_id, purpose.as_str(), hash(key, user_id, purpose, code)],
    )?;
    match rows.first() {
        None => Ok(Check::Wrong),
        Some(r) if r.i64(0)? <= now => Err(ApiError::invalid(
            "code",
            "code_expired",
            "Code is valid but has expired. Ask for a new one.",
        )),
        Some(_) => Ok(Check::Ok),
    }
}

fn code_mail(contact: &users::Contact, code: &str, purpose: Purpose, m: &MailContext<'_>) -> Mail {
    let why = match purpose {
        Purpose::Setup => "to confirm email codes as your second factor",
        Purpose::Login => "to finish signing in",
    };
    Mail {
        kind: "2fa.code",
        to: contact.email.clone(),
        subject: format!("{}: your verification code {code}", m.portal_name),
        text: format!(
            "Hello {name},\n\nYour verification code {why} is:\n\n    {code}\n\n\
             It is valid for 10 minutes and works once. If you did not ask for it, \
             someone may know your password: change it.\n",
            name = contact.full_name
        ),
        html: format!(
            "<p>Hello {name},</p><p>Your verification code {why} is:</p>\
             <p style=\"font-size:1.5em;letter-spacing:.2em\"><b>{code}</b></p>\
             <p>It is valid for 10 minutes and works once. If you did not ask for it, \
             someone may know your password: change it.</p>",
            name = html_escape(&contact.full_name)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{KEY, db};
    use edgedesk_core::clock::FixedClock;
    use edgedesk_core::random::OsRandom;

    const M: MailContext<'static> = MailContext {
        portal_name: "EdgeDesk",
    };

    fn other(code: &str) -> String {
        format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000)
    }

    #[test]
    fn code_is_mailed_stored_hashed_and_works_once() {
        let (db, clock) = (db(), FixedClock::at(1_000_000));
        let code = send(&db, &clock, &OsRandom, KEY, "u1", Purpose::Login, &M).unwrap();
        assert_eq!(code.len(), 6);
        let mail = db
            .execute("SELECT kind, to_addr, text_body FROM outbox", &[])
            .unwrap();
        let r = mail.first().unwrap();
        assert_eq!(r.text(0).unwrap(), "2fa.code");
        assert_eq!(r.text(1).unwrap(), "alice@example.com");
        assert!(r.text(2).unwrap().contains(&code));
        let stored = db
            .execute("SELECT code_hash FROM twofactor_email_codes", &[])
            .unwrap();
        assert!(!stored.first().unwrap().text(0).unwrap().contains(&code));
        // Wrong purpose or user: no.
        assert_eq!(
            check(&db, KEY, "u1", Purpose::Setup, &code, clock.now()).unwrap(),
            Check::Wrong
        );
        assert_eq!(
            check(&db, KEY, "u2", Purpose::Login, &code, clock.now()).unwrap(),
            Check::Wrong
        );
        assert_eq!(
            check(&db, KEY, "u1", Purpose::Login, &other(&code), clock.now()).unwrap(),
            Check::Wrong
        );
        assert_eq!(
            check(&db, KEY, "u1", Purpose::Login, &code, clock.now()).unwrap(),
            Check::Ok
        );
        assert_eq!(
            check(&db, KEY, "u1", Purpose::Login, &code, clock.now()).unwrap(),
            Check::Wrong
        );
    }

    #[test]
    fn expired_code_says_code_expired() {
        let (db, clock) = (db(), FixedClock::at(1_000_000));
        let code = send(&db, &clock, &OsRandom, KEY, "u1", Purpose::Setup, &M).unwrap();
        clock.advance(VALID_S - 1);
        let c2 = send(&db, &clock, &OsRandom, KEY, "u2", Purpose::Setup, &M).unwrap();
        assert_eq!(
            check(
                &db,
                KEY,
                "u2",
                Purpose::Setup,
                &c2,
                clock.now() + VALID_S - 1
            )
            .unwrap(),
            Check::Ok
        );
        clock.advance(1);
        let e = check(&db, KEY, "u1", Purpose::Setup, &code, clock.now()).unwrap_err();
        assert_eq!((e.status(), e.code()), (400, "code_expired"));
    }

    #[test]
    fn resend_is_limited_to_once_a_minute_and_replaces_the_code() {
        let (db, clock) = (db(), FixedClock::at(1_000_000));
        let first = send(&db, &clock, &OsRandom, KEY, "u1", Purpose::Login, &M).unwrap();
        assert!(recently_sent(&db, "u1", Purpose::Login, clock.now()).unwrap());
        clock.advance(45);
        match send(&db, &clock, &OsRandom, KEY, "u1", Purpose::Login, &M) {
            Err(ApiError::TooManyRequests { retry_after_s }) => assert_eq!(retry_after_s, 15),
            other => panic!("expected 429, got {other:?}"),
        }
        // The refused resend changed nothing: the first code still works.
        clock.advance(15);
        assert!(!recently_sent(&db, "u1", Purpose::Login, clock.now()).unwrap());
        let second = send(&db, &clock, &OsRandom, KEY, "u1", Purpose::Login, &M).unwrap();
        let n = db.execute("SELECT count(*) FROM outbox", &[]).unwrap();
        assert_eq!(n.first().unwrap().i64(0).unwrap(), 2);
        if first != second {
            assert_eq!(
                check(&db, KEY, "u1", Purpose::Login, &first, clock.now()).unwrap(),
                Check::Wrong
            );
        }
        assert_eq!(
            check(&db, KEY, "u1", Purpose::Login, &second, clock.now()).unwrap(),
            Check::Ok
        );
    }
}
