//! Backup codes: 15 single-use codes, shown once.
//!
//! Each code is 10 characters from a 32-letter alphabet without look-alikes
//! (50 random bits), shown as `XXXXX-XXXXX`. That is enough entropy for a fast
//! digest instead of argon2, so checking one costs microseconds. Regenerating
//! replaces the whole set; using a code is one conditional UPDATE, so it works
//! exactly once.
//!
//! At rest each code is a SHA-256 digest (bound to the user) sealed with the
//! data key (`DataKeys::seal`, the key id in the value): useless without the
//! key, like a keyed hash, and unlike a keyed hash it can be re-sealed under a
//! new key, so a data-key rotation finishes without anyone's codes breaking.
//! Codes stored before key ids existed are an HMAC of the raw `link_secret`
//! (key id `legacy`): they keep working while `link_secret` is set, cannot be
//! re-keyed, and go away when used or regenerated.

use edgedesk_core::db::transaction;
use edgedesk_core::keys::{DataKeys, LEGACY_ID};
use edgedesk_core::token::{ct_eq, keyed_hash_hex};
use edgedesk_core::{ApiError, Random, Sql, params};
use sha2::{Digest, Sha256};

use crate::methods::{self, Kind};

pub const COUNT: usize = 15;
pub const LEN: usize = 10;
/// 32 symbols: A–Z without I and O, digits 2–9 (no 0/O, 1/I/L confusion).
const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// What a sealed backup-code digest is (part of its associated data).
pub const SEAL_CONTEXT: &str = "twofactor/backup-code";

fn digest(user_id: &str, code: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in ["twofactor/backup-code/v1", user_id, code] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

/// The legacy form: hex HMAC of the raw `link_secret`.
fn legacy_hash(key: &[u8], user_id: &str, code: &str) -> String {
    keyed_hash_hex(key, &["twofactor/backup-code", user_id, code])
}

/// A code as typed (any case, spaces or dashes anywhere), or `400 invalid_code`.
pub fn parse_code(raw: &str) -> Result<String, ApiError> {
    let bad = || {
        ApiError::invalid(
            "code",
            "invalid_code",
            "Enter a backup code: 10 letters and digits, like ABCDE-FGH23.",
        )
    };
    if raw.len() > 64 {
        return Err(bad());
    }
    let code: String = raw
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if code.len() == LEN && code.bytes().all(|b| ALPHABET.contains(&b)) {
        Ok(code)
    } else {
        Err(bad())
    }
}

fn new_code(rng: &dyn Random) -> String {
    let mut b = [0u8; LEN];
    rng.fill(&mut b);
    // 256 is a multiple of 32: taking the low 5 bits is unbiased.
    b.iter()
        .map(|x| ALPHABET[(x & 31) as usize] as char)
        .collect()
}

/// `ABCDEFGH23` -> `ABCDE-FGH23`.
pub fn display(code: &str) -> String {
    format!("{}-{}", &code[..LEN / 2], &code[LEN / 2..])
}

/// A fresh set of codes replacing any earlier set; configures the method.
/// Returns the codes for display (the only time they exist in clear).
pub fn regenerate(
    sql: &dyn Sql,
    rng: &dyn Random,
    keys: &DataKeys,
    user_id: &str,
    now: i64,
) -> Result<Vec<String>, ApiError> {
    let mut codes: Vec<String> = Vec::with_capacity(COUNT);
    while codes.len() < COUNT {
        let c = new_code(rng);
        if !codes.contains(&c) {
            codes.push(c);
        }
    }
    transaction(sql, || {
        sql.execute(
            "DELETE FROM twofactor_backup_codes WHERE user_id = ?1",
            params![user_id],
        )?;
        for c in &codes {
            sql.execute(
                "INSERT INTO twofactor_backup_codes (user_id, code_hash) VALUES (?1, ?2)",
                params![
                    user_id,
                    keys.seal(rng, SEAL_CONTEXT, user_id, &digest(user_id, c))
                ],
            )?;
        }
        methods::add(sql, user_id, Kind::BackupCodes, now)
    })?;
    Ok(codes.iter().map(|c| display(c)).collect())
}

const UNUSED: &str =
    "SELECT code_hash FROM twofactor_backup_codes WHERE user_id = ?1 AND used_at IS NULL";
const USE: &str = "UPDATE twofactor_backup_codes SET used_at = ?3 \
     WHERE user_id = ?1 AND code_hash = ?2 AND used_at IS NULL RETURNING 1";
/// Conditional: a row used or replaced meanwhile is left alone.
const RESEAL: &str = "UPDATE twofactor_backup_codes SET code_hash = ?3 \
     WHERE user_id = ?1 AND code_hash = ?2 AND used_at IS NULL";

/// Uses a code: `true` the first time a right code is given, `false` otherwise.
/// Codes of this user sealed with an older key are re-sealed on the way.
pub fn use_code(
    sql: &dyn Sql,
    rng: &dyn Random,
    keys: &DataKeys,
    user_id: &str,
    code: &str,
    now: i64,
) -> Result<bool, ApiError> {
    let want = digest(user_id, code);
    let legacy = keys.legacy_secret().map(|k| legacy_hash(k, user_id, code));
    // Twice: a concurrent re-seal may change the stored value between the
    // read and the UPDATE; a concurrent use of the same code makes the second
    // round find nothing.
    for _ in 0..2 {
        let rows = sql.execute(UNUSED, params![user_id])?;
        let mut hit: Option<String> = None;
        let mut stale: Vec<(String, Vec<u8>)> = Vec::new();
        // Every unused code is checked (no early exit): at most 15 rows.
        for r in &rows.rows {
            let stored = r.text(0)?;
            let matches = if DataKeys::key_id_of(stored.as_bytes()) == LEGACY_ID {
                legacy
                    .as_ref()
                    .is_some_and(|l| ct_eq(l.as_bytes(), stored.as_bytes()))
            } else {
                match keys.open(SEAL_CONTEXT, user_id, stored.as_bytes()) {
                    Ok(o) => {
                        let m = ct_eq(&o.plaintext, &want);
                        if o.stale && !m {
                            stale.push((stored.clone(), o.plaintext));
                        }
                        m
                    }
                    // Sealed with a removed key or damaged: it cannot match.
                    Err(_) => false,
                }
            };
            if matches && hit.is_none() {
                hit = Some(stored);
            }
        }
        for (old, plain) in &stale {
            let fresh = keys.seal(rng, SEAL_CONTEXT, user_id, plain);
            sql.execute(RESEAL, params![user_id, old.as_str(), fresh])?;
        }
        let Some(stored) = hit else {
            return Ok(false);
        };
        if !sql.execute(USE, params![user_id, stored, now])?.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// How many unused codes are left.
pub fn remaining(sql: &dyn Sql, user_id: &str) -> Result<i64, ApiError> {
    let rows = sql.execute(
        "SELECT count(*) FROM twofactor_backup_codes WHERE user_id = ?1 AND used_at IS NULL",
        params![user_id],
    )?;
    Ok(rows.first().map(|r| r.i64(0)).transpose()?.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{db, keys};
    use edgedesk_core::random::OsRandom;

    #[test]
    fn fifteen_distinct_codes_in_groups() {
        let db = db();
        let codes = regenerate(&db, &OsRandom, &keys(), "u1", 0).unwrap();
        assert_eq!(codes.len(), 15);
        for c in &codes {
            assert_eq!(c.len(), 11);
            assert_eq!(&c[5..6], "-");
            assert_eq!(parse_code(c).unwrap().len(), 10);
        }
        let mut d = codes.clone();
        d.sort();
        d.dedup();
        assert_eq!(d.len(), 15);
        assert_eq!(remaining(&db, "u1").unwrap(), 15);
        assert!(methods::is_configured(&db, "u1", Kind::BackupCodes).unwrap());
    }

    #[test]
    fn each_backup_code_works_once() {
        let db = db();
        let codes = regenerate(&db, &OsRandom, &keys(), "u1", 0).unwrap();
        let c0 = parse_code(&codes[0].to_lowercase()).unwrap();
        assert!(!use_code(&db, &OsRandom, &keys(), "u2", &c0, 1).unwrap());
        assert!(use_code(&db, &OsRandom, &keys(), "u1", &c0, 1).unwrap());
        assert!(!use_code(&db, &OsRandom, &keys(), "u1", &c0, 2).unwrap());
        assert_eq!(remaining(&db, "u1").unwrap(), 14);
        let c1 = parse_code(&codes[1]).unwrap();
        assert!(use_code(&db, &OsRandom, &keys(), "u1", &c1, 3).unwrap());
        assert_eq!(remaining(&db, "u1").unwrap(), 13);
    }

    #[test]
    fn regenerating_replaces_every_old_code() {
        let db = db();
        let old = regenerate(&db, &OsRandom, &keys(), "u1", 0).unwrap();
        let new = regenerate(&db, &OsRandom, &keys(), "u1", 1).unwrap();
        assert!(
            !use_code(
                &db,
                &OsRandom,
                &keys(),
                "u1",
                &parse_code(&old[3]).unwrap(),
                2
            )
            .unwrap()
        );
        assert!(
            use_code(
                &db,
                &OsRandom,
                &keys(),
                "u1",
                &parse_code(&new[3]).unwrap(),
                2
            )
            .unwrap()
        );
        assert_eq!(remaining(&db, "u1").unwrap(), 14);
    }

    #[test]
    fn malformed_codes_are_400() {
        for bad in [
            "",
            "ABCDE",
            "ABCDE-FGH2I",
            "ABCDE-FGH230",
            "ÄBCDE-FGH23",
            &"A".repeat(500),
        ] {
            let e = parse_code(bad).unwrap_err();
            assert_eq!((e.status(), e.code()), (400, "invalid_code"), "{bad}");
        }
        assert_eq!(parse_code(" abcde fgh23 ").unwrap(), "ABCDEFGH23");
    }

    fn stored(db: &dyn Sql) -> Vec<String> {
        db.execute(
            "SELECT code_hash FROM twofactor_backup_codes WHERE used_at IS NULL ORDER BY 1",
            &[],
        )
        .unwrap()
        .rows
        .iter()
        .map(|r| r.text(0).unwrap())
        .collect()
    }

    #[test]
    fn codes_are_stored_sealed_for_their_user() {
        let db = db();
        let codes = regenerate(&db, &OsRandom, &keys(), "u1", 0).unwrap();
        let all = stored(&db).join(" ");
        for c in &codes {
            assert!(!all.contains(&parse_code(c).unwrap()));
        }
        assert!(stored(&db).iter().all(|s| keys().is_current(s.as_bytes())));
        // A sealed row moved to another user does not work for them.
        let one = &stored(&db)[0];
        db.execute(
            "INSERT INTO twofactor_backup_codes (user_id, code_hash) VALUES ('u2', ?1)",
            params![one.as_str()],
        )
        .unwrap();
        for c in &codes {
            let c = parse_code(c).unwrap();
            assert!(!use_code(&db, &OsRandom, &keys(), "u2", &c, 1).unwrap());
        }
    }

    #[test]
    fn codes_survive_a_data_key_rotation_and_are_resealed_on_use() {
        let db = db();
        let a = DataKeys::new(b"A", None);
        let codes = regenerate(&db, &OsRandom, &a, "u1", 0).unwrap();
        let rotated = DataKeys::new(b"B", Some(b"A"));
        let c0 = parse_code(&codes[0]).unwrap();
        assert!(use_code(&db, &OsRandom, &rotated, "u1", &c0, 1).unwrap());
        // Every remaining code was re-sealed with B on the way.
        assert!(stored(&db).iter().all(|s| rotated.is_current(s.as_bytes())));
        let b_only = DataKeys::new(b"B", None);
        let c1 = parse_code(&codes[1]).unwrap();
        assert!(use_code(&db, &OsRandom, &b_only, "u1", &c1, 2).unwrap());
        assert!(!use_code(&db, &OsRandom, &b_only, "u1", &c0, 3).unwrap());
        assert_eq!(remaining(&db, "u1").unwrap(), 13);
    }

    #[test]
    fn legacy_codes_work_while_the_link_secret_is_set() {
        let db = db();
        db.execute(
            "INSERT INTO twofactor_backup_codes (user_id, code_hash) VALUES ('u1', ?1)",
            params![legacy_hash(b"old secret", "u1", "ABCDEFGH23")],
        )
        .unwrap();
        let without = DataKeys::new(b"D", None);
        assert!(!use_code(&db, &OsRandom, &without, "u1", "ABCDEFGH23", 1).unwrap());
        let with = DataKeys::new(b"D", None).with_legacy(b"old secret");
        assert!(!use_code(&db, &OsRandom, &with, "u1", "ABCDEFGH24", 1).unwrap());
        assert!(use_code(&db, &OsRandom, &with, "u1", "ABCDEFGH23", 1).unwrap());
        assert!(!use_code(&db, &OsRandom, &with, "u1", "ABCDEFGH23", 2).unwrap());
    }
}
