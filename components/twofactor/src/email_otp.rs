//! Codes sent by email: 6 digits, valid 10 minutes, single use, at most one mail
//! a minute per user.
//!
//! Only a digest of the code (bound to the user and purpose) sealed with the
//! data key is stored (`DataKeys::seal`, key id in the value), so a database
//! leak does not give codes away and 10^6 codes cannot be brute-forced offline
//! without the key; a data-key rotation keeps a pending code working (the
//! previous key still opens it, the re-seal moves it). Codes stored before key
//! ids existed are an HMAC of the raw `link_secret` (key id `legacy`) and
//! expire within 10 minutes. One code per user at a time: a new code replaces
//! the old one. Using a code deletes the row in one statement (`DELETE …
//! RETURNING`, matched on the exact stored value), so a code is used at most
//! once. The one-a-minute rule is the upsert's own `WHERE`, exact under
//! concurrency.

use edgedesk_core::db::transaction;
use edgedesk_core::keys::{DataKeys, LEGACY_ID};
use edgedesk_core::outbox::{self, Mail, html_escape};
use edgedesk_core::token::{ct_eq, keyed_hash_hex};
use edgedesk_core::{ApiError, Clock, Random, Sql, params, users};
use sha2::{Digest, Sha256};

pub const VALID_S: i64 = 10 * 60;
pub const RESEND_S: i64 = 60;
/// What a sealed email-code digest is (part of its associated data).
pub const SEAL_CONTEXT: &str = "twofactor/email-code";

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

fn digest(user_id: &str, purpose: Purpose, code: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in ["twofactor/email-otp/v1", user_id, purpose.as_str(), code] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

/// The legacy form: hex HMAC of the raw `link_secret`.
fn legacy_hash(key: &[u8], user_id: &str, purpose: Purpose, code: &str) -> String {
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
    keys: &DataKeys,
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
                keys.seal(rng, SEAL_CONTEXT, user_id, &digest(user_id, purpose, &code)),
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

const CURRENT: &str =
    "SELECT code_hash FROM twofactor_email_codes WHERE user_id = ?1 AND purpose = ?2";
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
    keys: &DataKeys,
    user_id: &str,
    purpose: Purpose,
    code: &str,
    now: i64,
) -> Result<Check, ApiError> {
    let rows = sql.execute(CURRENT, params![user_id, purpose.as_str()])?;
    let Some(stored) = rows.first().map(|r| r.text(0)).transpose()? else {
        return Ok(Check::Wrong);
    };
    let right = if DataKeys::key_id_of(stored.as_bytes()) == LEGACY_ID {
        keys.legacy_secret().is_some_and(|k| {
            ct_eq(
                legacy_hash(k, user_id, purpose, code).as_bytes(),
                stored.as_bytes(),
            )
        })
    } else {
        // A value no configured key opens (removed key, damage) cannot match.
        keys.open(SEAL_CONTEXT, user_id, stored.as_bytes())
            .is_ok_and(|o| ct_eq(&o.plaintext, &digest(user_id, purpose, code)))
    };
    if !right {
        return Ok(Check::Wrong);
    }
    // Deleting the exact value read: of two concurrent uses only one gets a row.
    let rows = sql.execute(TAKE, params![user_id, purpose.as_str(), stored])?;
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
    use crate::testutil::{db, keys};
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
        let code = send(&db, &clock, &OsRandom, &keys(), "u1", Purpose::Login, &M).unwrap();
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
            check(&db, &keys(), "u1", Purpose::Setup, &code, clock.now()).unwrap(),
            Check::Wrong
        );
        assert_eq!(
            check(&db, &keys(), "u2", Purpose::Login, &code, clock.now()).unwrap(),
            Check::Wrong
        );
        assert_eq!(
            check(
                &db,
                &keys(),
                "u1",
                Purpose::Login,
                &other(&code),
                clock.now()
            )
            .unwrap(),
            Check::Wrong
        );
        assert_eq!(
            check(&db, &keys(), "u1", Purpose::Login, &code, clock.now()).unwrap(),
            Check::Ok
        );
        assert_eq!(
            check(&db, &keys(), "u1", Purpose::Login, &code, clock.now()).unwrap(),
            Check::Wrong
        );
    }

    #[test]
    fn expired_code_says_code_expired() {
        let (db, clock) = (db(), FixedClock::at(1_000_000));
        let code = send(&db, &clock, &OsRandom, &keys(), "u1", Purpose::Setup, &M).unwrap();
        clock.advance(VALID_S - 1);
        let c2 = send(&db, &clock, &OsRandom, &keys(), "u2", Purpose::Setup, &M).unwrap();
        assert_eq!(
            check(
                &db,
                &keys(),
                "u2",
                Purpose::Setup,
                &c2,
                clock.now() + VALID_S - 1
            )
            .unwrap(),
            Check::Ok
        );
        clock.advance(1);
        let e = check(&db, &keys(), "u1", Purpose::Setup, &code, clock.now()).unwrap_err();
        assert_eq!((e.status(), e.code()), (400, "code_expired"));
    }

    #[test]
    fn resend_is_limited_to_once_a_minute_and_replaces_the_code() {
        let (db, clock) = (db(), FixedClock::at(1_000_000));
        let first = send(&db, &clock, &OsRandom, &keys(), "u1", Purpose::Login, &M).unwrap();
        assert!(recently_sent(&db, "u1", Purpose::Login, clock.now()).unwrap());
        clock.advance(45);
        match send(&db, &clock, &OsRandom, &keys(), "u1", Purpose::Login, &M) {
            Err(ApiError::TooManyRequests { retry_after_s }) => assert_eq!(retry_after_s, 15),
            other => panic!("expected 429, got {other:?}"),
        }
        // The refused resend changed nothing: the first code still works.
        clock.advance(15);
        assert!(!recently_sent(&db, "u1", Purpose::Login, clock.now()).unwrap());
        let second = send(&db, &clock, &OsRandom, &keys(), "u1", Purpose::Login, &M).unwrap();
        let n = db.execute("SELECT count(*) FROM outbox", &[]).unwrap();
        assert_eq!(n.first().unwrap().i64(0).unwrap(), 2);
        if first != second {
            assert_eq!(
                check(&db, &keys(), "u1", Purpose::Login, &first, clock.now()).unwrap(),
                Check::Wrong
            );
        }
        assert_eq!(
            check(&db, &keys(), "u1", Purpose::Login, &second, clock.now()).unwrap(),
            Check::Ok
        );
    }

    #[test]
    fn pending_code_survives_a_data_key_rotation_and_fails_once_the_key_is_gone() {
        let (db, clock) = (db(), FixedClock::at(1_000_000));
        let a = DataKeys::new(b"A", None);
        let code = send(&db, &clock, &OsRandom, &a, "u1", Purpose::Login, &M).unwrap();
        let rotated = DataKeys::new(b"B", Some(b"A"));
        let removed = DataKeys::new(b"B", None);
        assert_eq!(
            check(&db, &removed, "u1", Purpose::Login, &code, clock.now()).unwrap(),
            Check::Wrong
        );
        assert_eq!(
            check(&db, &rotated, "u1", Purpose::Login, &code, clock.now()).unwrap(),
            Check::Ok
        );
    }

    #[test]
    fn legacy_code_works_with_the_link_secret() {
        let (db, clock) = (db(), FixedClock::at(1_000_000));
        db.execute(
            "INSERT INTO twofactor_email_codes (user_id, purpose, code_hash, sent_at, expires_at) \
             VALUES ('u1', 'login', ?1, ?2, ?3)",
            params![
                legacy_hash(b"old", "u1", Purpose::Login, "123456"),
                clock.now(),
                clock.now() + VALID_S
            ],
        )
        .unwrap();
        let k = DataKeys::new(b"D", None).with_legacy(b"old");
        assert_eq!(
            check(&db, &k, "u1", Purpose::Login, "123457", clock.now()).unwrap(),
            Check::Wrong
        );
        assert_eq!(
            check(&db, &k, "u1", Purpose::Login, "123456", clock.now()).unwrap(),
            Check::Ok
        );
    }

    #[test]
    fn stored_code_is_sealed_for_its_user() {
        let (db, clock) = (db(), FixedClock::at(1_000_000));
        let code = send(&db, &clock, &OsRandom, &keys(), "u1", Purpose::Login, &M).unwrap();
        // Move u1's sealed code onto a fresh row of u2: it does not open for u2.
        db.execute(
            "INSERT INTO twofactor_email_codes (user_id, purpose, code_hash, sent_at, expires_at) \
             SELECT 'u2', purpose, code_hash, sent_at, expires_at FROM twofactor_email_codes \
             WHERE user_id = 'u1'",
            &[],
        )
        .unwrap();
        assert_eq!(
            check(&db, &keys(), "u2", Purpose::Login, &code, clock.now()).unwrap(),
            Check::Wrong
        );
    }
}
