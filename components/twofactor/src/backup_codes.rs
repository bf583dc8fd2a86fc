//! Backup codes: 15 single-use codes, shown once.
//!
//! Each code is 10 characters from a 32-letter alphabet without look-alikes
//! (50 random bits), shown as `XXXXX-XXXXX`. That is enough entropy for a fast
//! keyed hash (HMAC with the link key, bound to the user) instead of argon2, so
//! checking one costs microseconds. Regenerating replaces the whole set; using a
//! code is one conditional UPDATE, so it works exactly once.

use edgedesk_core::db::transaction;
use edgedesk_core::token::keyed_hash_hex;
use edgedesk_core::{ApiError, Random, Sql, params};

use crate::methods::{self, Kind};

pub const COUNT: usize = 15;
pub const LEN: usize = 10;
/// 32 symbols: A–Z without I and O, digits 2–9 (no 0/O, 1/I/L confusion).
const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

fn hash(key: &[u8], user_id: &str, code: &str) -> String {
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
    key: &[u8],
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
                params![user_id, hash(key, user_id, c)],
            )?;
        }
        methods::add(sql, user_id, Kind::BackupCodes, now)
    })?;
    Ok(codes.iter().map(|c| display(c)).collect())
}

const USE: &str = "UPDATE twofactor_backup_codes SET used_at = ?3 \
     WHERE user_id = ?1 AND code_hash = ?2 AND used_at IS NULL RETURNING 1";

/// Uses a code: `true` the first time a right code is given, `false` otherwise.
pub fn use_code(
    sql: &dyn Sql,
    key: &[u8],
    user_id: &str,
    code: &str,
    now: i64,
) -> Result<bool, ApiError> {
    let rows = sql.execute(USE, params![user_id, hash(key, user_id, code), now])?;
    Ok(!rows.is_empty())
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
    use crate::testutil::{KEY, db};
    use edgedesk_core::random::OsRandom;

    #[test]
    fn fifteen_distinct_codes_in_groups() {
        let db = db();
        let codes = regenerate(&db, &OsRandom, KEY, "u1", 0).unwrap();
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
        let codes = regenerate(&db, &OsRandom, KEY, "u1", 0).unwrap();
        let c0 = parse_code(&codes[0].to_lowercase()).unwrap();
        assert!(!use_code(&db, KEY, "u2", &c0, 1).unwrap());
        assert!(use_code(&db, KEY, "u1", &c0, 1).unwrap());
        assert!(!use_code(&db, KEY, "u1", &c0, 2).unwrap());
        assert_eq!(remaining(&db, "u1").unwrap(), 14);
        let c1 = parse_code(&codes[1]).unwrap();
        assert!(use_code(&db, KEY, "u1", &c1, 3).unwrap());
        assert_eq!(remaining(&db, "u1").unwrap(), 13);
    }

    #[test]
    fn regenerating_replaces_every_old_code() {
        let db = db();
        let old = regenerate(&db, &OsRandom, KEY, "u1", 0).unwrap();
        let new = regenerate(&db, &OsRandom, KEY, "u1", 1).unwrap();
        assert!(!use_code(&db, KEY, "u1", &parse_code(&old[3]).unwrap(), 2).unwrap());
        assert!(use_code(&db, KEY, "u1", &parse_code(&new[3]).unwrap(), 2).unwrap());
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
}
