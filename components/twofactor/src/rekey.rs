//! Data-key rotation: which key sealed what, and the batch re-seal.
//!
//! Every sealed value of this component (TOTP secrets, live pending secrets,
//! unused backup-code digests, live email-code digests) carries its key id.
//! [`status`] counts values per key id with one aggregate query; [`reseal`]
//! re-seals, in one transaction, up to `limit` values that a configured key
//! other than the current one opens. Values are also re-sealed one by one when
//! used (see `totp::verify`, `backup_codes::use_code`), so the batch only has
//! to move what nobody used.
//!
//! Legacy values (before key ids) are re-sealable for TOTP secrets only: their
//! old format has no integrity check, so the batch trusts `link_secret` to be
//! the key that sealed them (docs/SECURITY.md: check a sign-in first). Legacy
//! backup and email codes are HMACs that cannot be re-keyed: they are counted
//! as `waiting` (they go away when used, regenerated or expired) and keep
//! `link_secret` needed.

use std::collections::BTreeMap;

use edgedesk_core::db::transaction;
use edgedesk_core::keys::{DataKeys, LEGACY_ID, Role};
use edgedesk_core::{ApiError, Random, Sql, Value, params};
use serde::Serialize;

use crate::{backup_codes, email_otp, totp};

/// Default and largest batch: a batch is one write transaction, kept well
/// under a second inside a Spin request.
pub const DEFAULT_BATCH: usize = 1000;
pub const MAX_BATCH: usize = 10_000;

/// Live values per (table, key id). The key id is the 8 characters after
/// `v1.` for sealed values, `legacy` for anything else.
const BY_KEY: &str = "SELECT kind, kid, count(*) FROM ( \
     SELECT 'totp' AS kind, CASE WHEN substr(secret, 1, 3) = X'76312E' \
       THEN CAST(substr(secret, 4, 8) AS TEXT) ELSE 'legacy' END AS kid \
       FROM twofactor_totp WHERE secret IS NOT NULL \
     UNION ALL SELECT 'totp', CASE WHEN substr(pending_secret, 1, 3) = X'76312E' \
       THEN CAST(substr(pending_secret, 4, 8) AS TEXT) ELSE 'legacy' END \
       FROM twofactor_totp WHERE pending_secret IS NOT NULL AND pending_expires_at > ?1 \
     UNION ALL SELECT 'backup', CASE WHEN substr(code_hash, 1, 3) = 'v1.' \
       THEN substr(code_hash, 4, 8) ELSE 'legacy' END \
       FROM twofactor_backup_codes WHERE used_at IS NULL \
     UNION ALL SELECT 'email', CASE WHEN substr(code_hash, 1, 3) = 'v1.' \
       THEN substr(code_hash, 4, 8) ELSE 'legacy' END \
       FROM twofactor_email_codes WHERE expires_at > ?1 \
   ) GROUP BY kind, kid";

/// One key id and how many live values it sealed.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct KeyCount {
    pub key_id: String,
    /// `current`, `previous`, `link_secret`, `legacy` or `unknown` (no
    /// configured key has this id: those values cannot be opened).
    pub role: &'static str,
    pub values: i64,
}

/// What the admin routes answer.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Status {
    pub current_key_id: String,
    pub previous_key_id: Option<String>,
    /// Re-sealed by this call (0 for the status route).
    pub resealed: usize,
    /// Values not under the current key that a later batch will re-seal.
    pub remaining: i64,
    /// Values that cannot be re-sealed but go away by themselves (legacy
    /// backup codes when used or regenerated, legacy email codes on expiry).
    pub waiting: i64,
    /// Values no configured key opens (their key was removed too early).
    pub unreadable: i64,
    /// False once nothing needs `data_key_previous`: it can be removed.
    pub previous_key_needed: bool,
    /// False once nothing needs `link_secret` for data (links aside).
    pub link_secret_needed: bool,
    pub keys: Vec<KeyCount>,
}

/// Counts live values per key id and what that means for the operator.
pub fn status(sql: &dyn Sql, keys: &DataKeys, now: i64) -> Result<Status, ApiError> {
    let rows = sql.execute(BY_KEY, params![now])?;
    let roles: Vec<(String, Role)> = keys.key_ids();
    let role_of = |kid: &str| -> &'static str {
        if kid == LEGACY_ID {
            return "legacy";
        }
        roles
            .iter()
            .find(|(id, _)| id == kid)
            .map_or("unknown", |(_, r)| r.as_str())
    };
    let mut per_key: BTreeMap<String, i64> = BTreeMap::new();
    let (mut remaining, mut waiting, mut unreadable) = (0, 0, 0);
    for r in &rows.rows {
        let (kind, kid, n) = (r.text(0)?, r.text(1)?, r.i64(2)?);
        *per_key.entry(kid.clone()).or_default() += n;
        match role_of(&kid) {
            "current" => {}
            "legacy" if kind != "totp" => waiting += n,
            "legacy" if keys.legacy_secret().is_none() => unreadable += n,
            "unknown" => unreadable += n,
            _ => remaining += n,
        }
    }
    let previous = keys.previous_id().map(str::to_owned);
    let link_secret_needed = keys.current_is_link_secret()
        || per_key
            .keys()
            .any(|k| matches!(role_of(k), "legacy" | "link_secret"));
    Ok(Status {
        current_key_id: keys.current_id().to_owned(),
        previous_key_needed: previous.as_ref().is_some_and(|p| per_key.contains_key(p)),
        previous_key_id: previous,
        resealed: 0,
        remaining,
        waiting,
        unreadable,
        link_secret_needed,
        keys: per_key
            .into_iter()
            .map(|(key_id, values)| KeyCount {
                role: role_of(&key_id),
                key_id,
                values,
            })
            .collect(),
    })
}

const TOTP_BATCH: &str = "SELECT user_id, secret, pending_secret FROM twofactor_totp \
     WHERE user_id > ?1 AND ((secret IS NOT NULL AND substr(secret, 1, 12) != ?2) \
       OR (pending_secret IS NOT NULL AND pending_expires_at > ?3 \
           AND substr(pending_secret, 1, 12) != ?2)) \
     ORDER BY user_id LIMIT ?4";
const TOTP_SECRET: &str =
    "UPDATE twofactor_totp SET secret = ?3 WHERE user_id = ?1 AND secret = ?2";
const TOTP_PENDING: &str =
    "UPDATE twofactor_totp SET pending_secret = ?3 WHERE user_id = ?1 AND pending_secret = ?2";
const BACKUP_BATCH: &str = "SELECT user_id, code_hash FROM twofactor_backup_codes \
     WHERE (user_id, code_hash) > (?1, ?2) AND used_at IS NULL \
       AND substr(code_hash, 1, 3) = 'v1.' AND substr(code_hash, 1, 12) != ?3 \
     ORDER BY user_id, code_hash LIMIT ?4";
const BACKUP_RESEAL: &str = "UPDATE twofactor_backup_codes SET code_hash = ?3 \
     WHERE user_id = ?1 AND code_hash = ?2 AND used_at IS NULL";
const EMAIL_BATCH: &str = "SELECT user_id, code_hash FROM twofactor_email_codes \
     WHERE expires_at > ?1 AND substr(code_hash, 1, 3) = 'v1.' \
       AND substr(code_hash, 1, 12) != ?2 LIMIT ?3";
const EMAIL_RESEAL: &str =
    "UPDATE twofactor_email_codes SET code_hash = ?3 WHERE user_id = ?1 AND code_hash = ?2";

/// Re-seals up to `limit` values with the current key, then reports.
pub fn reseal(
    sql: &dyn Sql,
    rng: &dyn Random,
    keys: &DataKeys,
    now: i64,
    limit: usize,
) -> Result<Status, ApiError> {
    let limit = limit.clamp(1, MAX_BATCH);
    let prefix = format!("v1.{}.", keys.current_id());
    let resealed = transaction(sql, || -> Result<usize, ApiError> {
        let mut done = 0;
        done += reseal_totp(sql, rng, keys, &prefix, now, limit)?;
        if done < limit {
            done += reseal_codes(sql, rng, keys, &prefix, limit - done)?;
        }
        if done < limit {
            done += reseal_email(sql, rng, keys, &prefix, now, limit - done)?;
        }
        Ok(done)
    })?;
    let mut s = status(sql, keys, now)?;
    s.resealed = resealed;
    Ok(s)
}

/// One value re-sealed, or `None` when no configured key opens it (skipped:
/// the status reports it as unreadable).
fn reseal_one(
    keys: &DataKeys,
    rng: &dyn Random,
    context: &str,
    owner: &str,
    stored: &[u8],
) -> Option<String> {
    let opened = if context == totp::SEAL_CONTEXT {
        totp::open(keys, owner, stored).ok()?
    } else {
        keys.open(context, owner, stored).ok()?
    };
    Some(keys.seal(rng, context, owner, &opened.plaintext))
}

fn blob(v: Option<&Value>) -> Option<Vec<u8>> {
    match v {
        Some(Value::Blob(b)) => Some(b.clone()),
        _ => None,
    }
}

fn reseal_totp(
    sql: &dyn Sql,
    rng: &dyn Random,
    keys: &DataKeys,
    prefix: &str,
    now: i64,
    limit: usize,
) -> Result<usize, ApiError> {
    let (mut done, mut after) = (0, String::new());
    // Pages by user id, so values that cannot be opened are passed over once.
    while done < limit {
        let page = (limit - done) as i64;
        let rows = sql.execute(
            TOTP_BATCH,
            params![after.as_str(), prefix.as_bytes().to_vec(), now, page],
        )?;
        if rows.is_empty() {
            break;
        }
        for r in &rows.rows {
            let user = r.text(0)?;
            for (col, update) in [(1, TOTP_SECRET), (2, TOTP_PENDING)] {
                let Some(stored) = blob(r.0.get(col)) else {
                    continue;
                };
                if stored.starts_with(prefix.as_bytes()) {
                    continue;
                }
                if let Some(fresh) = reseal_one(keys, rng, totp::SEAL_CONTEXT, &user, &stored) {
                    sql.execute(update, params![user.as_str(), stored, fresh.into_bytes()])?;
                    done += 1;
                }
            }
            after = user;
        }
    }
    Ok(done)
}

fn reseal_codes(
    sql: &dyn Sql,
    rng: &dyn Random,
    keys: &DataKeys,
    prefix: &str,
    limit: usize,
) -> Result<usize, ApiError> {
    let (mut done, mut after) = (0, (String::new(), String::new()));
    while done < limit {
        let page = (limit - done) as i64;
        let rows = sql.execute(
            BACKUP_BATCH,
            params![after.0.as_str(), after.1.as_str(), prefix, page],
        )?;
        if rows.is_empty() {
            break;
        }
        for r in &rows.rows {
            let (user, stored) = (r.text(0)?, r.text(1)?);
            let ctx = backup_codes::SEAL_CONTEXT;
            if let Some(fresh) = reseal_one(keys, rng, ctx, &user, stored.as_bytes()) {
                sql.execute(
                    BACKUP_RESEAL,
                    params![user.as_str(), stored.as_str(), fresh],
                )?;
                done += 1;
            }
            after = (user, stored);
        }
    }
    Ok(done)
}

fn reseal_email(
    sql: &dyn Sql,
    rng: &dyn Random,
    keys: &DataKeys,
    prefix: &str,
    now: i64,
    limit: usize,
) -> Result<usize, ApiError> {
    // At most one live code per user and ten minutes of them: one page.
    let rows = sql.execute(EMAIL_BATCH, params![now, prefix, limit as i64])?;
    let mut done = 0;
    for r in &rows.rows {
        let (user, stored) = (r.text(0)?, r.text(1)?);
        let ctx = email_otp::SEAL_CONTEXT;
        if let Some(fresh) = reseal_one(keys, rng, ctx, &user, stored.as_bytes()) {
            sql.execute(EMAIL_RESEAL, params![user.as_str(), stored.as_str(), fresh])?;
            done += 1;
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email_otp::{MailContext, Purpose};
    use crate::testutil::db;
    use edgedesk_core::Clock;
    use edgedesk_core::clock::FixedClock;
    use edgedesk_core::random::OsRandom;

    const T0: i64 = 1_795_262_400;

    /// u1: TOTP, backup codes and a pending email code, all under `k`.
    fn populate(db: &dyn Sql, clock: &FixedClock, k: &DataKeys) -> (Vec<u8>, Vec<String>, String) {
        let s = totp::begin_setup(db, &OsRandom, k, "u1", "X", "alice", clock.now()).unwrap();
        let secret = totp_rs::Secret::Encoded(s.secret).to_bytes().unwrap();
        let now = clock.now();
        assert!(totp::confirm(db, k, "u1", &totp::code_at(&secret, now / 30), now).unwrap());
        let codes = backup_codes::regenerate(db, &OsRandom, k, "u1", now).unwrap();
        let m = MailContext { portal_name: "X" };
        let code = email_otp::send(db, clock, &OsRandom, k, "u1", Purpose::Login, &m).unwrap();
        (secret, codes, code)
    }

    #[test]
    fn reseal_moves_everything_to_the_current_key_and_frees_the_previous() {
        let (db, clock) = (db(), FixedClock::at(T0));
        let a = DataKeys::new(b"A", None);
        let (secret, codes, email) = populate(&db, &clock, &a);
        let rotated = DataKeys::new(b"B", Some(b"A"));
        let before = status(&db, &rotated, clock.now()).unwrap();
        // 1 TOTP secret + 15 backup codes + 1 email code.
        assert_eq!((before.remaining, before.unreadable), (17, 0));
        assert!(before.previous_key_needed);
        assert_eq!(before.keys[0].role, "previous");
        let first = reseal(&db, &OsRandom, &rotated, clock.now(), 5).unwrap();
        assert_eq!((first.resealed, first.remaining), (5, 12));
        let rest = reseal(&db, &OsRandom, &rotated, clock.now(), 1000).unwrap();
        assert_eq!((rest.resealed, rest.remaining), (12, 0));
        assert!(!rest.previous_key_needed);
        assert!(!rest.link_secret_needed);
        let again = reseal(&db, &OsRandom, &rotated, clock.now(), 1000).unwrap();
        assert_eq!(again.resealed, 0);
        // With the previous key gone, every method still works.
        let b = DataKeys::new(b"B", None);
        let now = clock.now() + 30;
        assert!(
            totp::verify(
                &db,
                &OsRandom,
                &b,
                "u1",
                &totp::code_at(&secret, now / 30),
                now
            )
            .unwrap()
        );
        let c = backup_codes::parse_code(&codes[4]).unwrap();
        assert!(backup_codes::use_code(&db, &OsRandom, &b, "u1", &c, now).unwrap());
        assert_eq!(
            email_otp::check(&db, &b, "u1", Purpose::Login, &email, now).unwrap(),
            email_otp::Check::Ok
        );
    }

    #[test]
    fn values_of_a_removed_key_are_reported_unreadable_and_skipped() {
        let (db, clock) = (db(), FixedClock::at(T0));
        populate(&db, &clock, &DataKeys::new(b"A", None));
        let b = DataKeys::new(b"B", None);
        let s = reseal(&db, &OsRandom, &b, clock.now(), 1000).unwrap();
        assert_eq!((s.resealed, s.remaining, s.unreadable), (0, 0, 17));
        assert_eq!(s.keys[0].role, "unknown");
    }

    #[test]
    fn legacy_values_need_the_link_secret_and_only_totp_is_resealed() {
        let (db, clock) = (db(), FixedClock::at(T0));
        let legacy = totp::legacy_seal(b"old", "u1", b"12345678901234567890", [1; 16]);
        db.execute(
            "INSERT INTO twofactor_totp (user_id, secret, last_step) VALUES ('u1', ?1, 0)",
            params![legacy],
        )
        .unwrap();
        db.execute(
            "INSERT INTO twofactor_backup_codes (user_id, code_hash) VALUES ('u1', ?1)",
            params!["00".repeat(32)],
        )
        .unwrap();
        let k = DataKeys::new(b"D", None)
            .with_legacy(b"old")
            .with_fallback(b"old");
        let s = status(&db, &k, clock.now()).unwrap();
        assert_eq!((s.remaining, s.waiting, s.link_secret_needed), (1, 1, true));
        let s = reseal(&db, &OsRandom, &k, clock.now(), 1000).unwrap();
        assert_eq!((s.resealed, s.remaining, s.waiting), (1, 0, 1));
        assert!(
            s.link_secret_needed,
            "the legacy backup code still needs it"
        );
        let now = clock.now();
        let code = totp::code_at(b"12345678901234567890", now / 30);
        assert!(
            totp::verify(&db, &OsRandom, &DataKeys::new(b"D", None), "u1", &code, now).unwrap()
        );
    }

    #[test]
    fn link_secret_is_needed_while_it_is_the_data_key() {
        let db = db();
        let k = DataKeys::new(b"S", None).current_from_link_secret();
        assert!(status(&db, &k, T0).unwrap().link_secret_needed);
        let k = DataKeys::new(b"D", None);
        assert!(!status(&db, &k, T0).unwrap().link_secret_needed);
    }
}
