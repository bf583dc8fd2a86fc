//! Mobile authenticator codes: RFC 6238 with SHA-1, 6 digits, 30-second steps,
//! which every standard authenticator app understands.
//!
//! One step of clock drift is accepted either side. A code is accepted only for
//! a step later than the last accepted one (`last_step`, moved forward by a
//! single conditional UPDATE), so a code cannot be replayed within its window,
//! even by two concurrent requests. Secrets are returned only once, at setup.
//!
//! At rest a secret is sealed with the data key (`DataKeys::seal`:
//! XChaCha20-Poly1305, the user id as associated data, the key id in the
//! value). A secret sealed with a key other than the current one is re-sealed
//! the next time it is opened. Secrets stored before key ids existed (an HMAC
//! keystream of the raw `link_secret` XORed with the secret, no integrity) read
//! as key id `legacy` and are re-sealed the same way.

use edgedesk_core::db::transaction;
use edgedesk_core::keys::{DataKeys, LEGACY_ID, OpenError, Opened};
use edgedesk_core::token::{ct_eq, keyed_hash_hex};
use edgedesk_core::{ApiError, Random, Sql, params};
use totp_rs::{Algorithm, Secret, TOTP};

use crate::methods::{self, Kind};

pub const STEP_S: i64 = 30;
pub const DIGITS: usize = 6;
/// How long a started setup waits for its first code.
pub const PENDING_S: i64 = 15 * 60;
const SECRET_BYTES: usize = 20;

/// What the setup screen shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Setup {
    pub secret: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
}

/// A 6-digit code as typed (spaces allowed), or `400 invalid_code`.
pub fn parse_code(raw: &str) -> Result<String, ApiError> {
    let bad = || ApiError::invalid("code", "invalid_code", "Enter the 6-digit code.");
    if raw.len() > 32 {
        return Err(bad());
    }
    let code: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() == DIGITS && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(code)
    } else {
        Err(bad())
    }
}

/// The code of one 30-second step.
pub fn code_at(secret: &[u8], step: i64) -> String {
    let t = (step.max(0) as u64) * STEP_S as u64;
    TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 0, STEP_S as u64, secret.to_vec()).generate(t)
}

/// The step within one of `now` whose code is `code` and which is later than
/// `after`. Every candidate is computed and compared in constant time.
pub fn matching_step(secret: &[u8], code: &str, now: i64, after: i64) -> Option<i64> {
    let current = now.div_euclid(STEP_S);
    let mut found = None;
    for step in current - 1..=current + 1 {
        let hit = ct_eq(code_at(secret, step).as_bytes(), code.as_bytes());
        if hit && step > after && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// `otpauth://totp/Issuer:account?secret=…&issuer=…` (Key Uri Format).
pub fn otpauth_uri(issuer: &str, account: &str, secret_b32: &str) -> String {
    let i = uri_encode(issuer);
    format!(
        "otpauth://totp/{i}:{}?secret={secret_b32}&issuer={i}&algorithm=SHA1&digits={DIGITS}&period={STEP_S}",
        uri_encode(account)
    )
}

fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The QR code of `uri` as a standalone SVG document.
pub fn qr_svg(uri: &str) -> Result<String, ApiError> {
    use qrcode::render::svg;
    let code = qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M)
        .map_err(ApiError::internal)?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build())
}

/// What a sealed TOTP secret is (part of its associated data). Pending and
/// active secrets share it: confirming copies one into the other.
pub const SEAL_CONTEXT: &str = "twofactor/totp-secret";

/// A secret sealed with the current data key, as stored.
pub fn seal(keys: &DataKeys, rng: &dyn Random, user_id: &str, secret: &[u8]) -> Vec<u8> {
    keys.seal(rng, SEAL_CONTEXT, user_id, secret).into_bytes()
}

/// Opens a stored secret, `v1` or legacy.
pub fn open(keys: &DataKeys, user_id: &str, stored: &[u8]) -> Result<Opened, OpenError> {
    if DataKeys::key_id_of(stored) != LEGACY_ID {
        return keys.open(SEAL_CONTEXT, user_id, stored);
    }
    let legacy = keys.legacy_secret().ok_or(OpenError::UnknownKey)?;
    let plaintext = legacy_open(legacy, user_id, stored).ok_or(OpenError::Tampered)?;
    Ok(Opened {
        plaintext,
        key_id: LEGACY_ID.to_owned(),
        stale: true,
    })
}

fn unreadable(e: OpenError) -> ApiError {
    // The cause names no secret: only which kind of failure.
    ApiError::internal(format!("sealed TOTP secret unreadable: {e:?}"))
}

/// The legacy keystream: HMAC(raw link key, user, nonce), 32 bytes.
fn legacy_pad(key: &[u8], user_id: &str, nonce: &[u8]) -> Vec<u8> {
    let hex = keyed_hash_hex(
        key,
        &[
            "twofactor/totp-seal",
            user_id,
            &edgedesk_core::token::hex(nonce),
        ],
    );
    (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect()
}

/// Reads a legacy value, `nonce(16) || secret XOR pad`. It has no integrity
/// check: a wrong key gives a wrong secret, never an error.
fn legacy_open(key: &[u8], user_id: &str, sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() <= 16 || sealed.len() > 16 + 32 {
        return None;
    }
    let (nonce, ct) = sealed.split_at(16);
    let p = legacy_pad(key, user_id, nonce);
    Some(ct.iter().zip(p.iter()).map(|(c, k)| c ^ k).collect())
}

/// The legacy format, as earlier versions wrote it (tests of the upgrade path).
#[cfg(test)]
pub(crate) fn legacy_seal(key: &[u8], user_id: &str, secret: &[u8], nonce: [u8; 16]) -> Vec<u8> {
    let p = legacy_pad(key, user_id, &nonce);
    let mut out = nonce.to_vec();
    out.extend(secret.iter().zip(p.iter()).map(|(s, k)| s ^ k));
    out
}

const PUT_PENDING: &str = "INSERT INTO twofactor_totp (user_id, pending_secret, pending_expires_at) \
     VALUES (?1, ?2, ?3) ON CONFLICT(user_id) DO UPDATE SET \
     pending_secret = excluded.pending_secret, pending_expires_at = excluded.pending_expires_at";

/// Starts (or restarts) a setup: a fresh secret waits for its first code. An
/// active secret keeps working until the new one is confirmed.
pub fn begin_setup(
    sql: &dyn Sql,
    rng: &dyn Random,
    keys: &DataKeys,
    user_id: &str,
    issuer: &str,
    account: &str,
    now: i64,
) -> Result<Setup, ApiError> {
    let mut secret = [0u8; SECRET_BYTES];
    rng.fill(&mut secret);
    let sealed = seal(keys, rng, user_id, &secret);
    sql.execute(PUT_PENDING, params![user_id, sealed, now + PENDING_S])?;
    let b32 = match Secret::Raw(secret.to_vec()).to_encoded() {
        Secret::Encoded(s) => s,
        Secret::Raw(_) => return Err(ApiError::internal("base32 encoding failed")),
    };
    let uri = otpauth_uri(issuer, account, &b32);
    let qr_svg = qr_svg(&uri)?;
    Ok(Setup {
        secret: b32,
        otpauth_uri: uri,
        qr_svg,
    })
}

const PENDING: &str =
    "SELECT pending_secret, pending_expires_at FROM twofactor_totp WHERE user_id = ?1";
const ACTIVATE: &str = "UPDATE twofactor_totp SET secret = pending_secret, pending_secret = NULL, \
     pending_expires_at = NULL, last_step = ?2 WHERE user_id = ?1 AND pending_secret IS NOT NULL";

/// Confirms a setup with its first code: the pending secret becomes the active
/// one and the method is configured. `false` for a wrong code.
pub fn confirm(
    sql: &dyn Sql,
    keys: &DataKeys,
    user_id: &str,
    code: &str,
    now: i64,
) -> Result<bool, ApiError> {
    let rows = sql.execute(PENDING, params![user_id])?;
    let pending = match rows.first() {
        Some(r) => match (r.0.first(), r.opt_i64(1)?) {
            (Some(edgedesk_core::Value::Blob(b)), Some(exp)) if exp > now => Some(b.clone()),
            _ => None,
        },
        None => None,
    };
    let Some(sealed) = pending else {
        return Err(ApiError::conflict(
            "setup_not_started",
            "Start the authenticator setup again: it has expired or was never started.",
        ));
    };
    // A stale pending secret is copied as it is; the first sign-in re-seals it.
    let secret = open(keys, user_id, &sealed).map_err(unreadable)?.plaintext;
    let Some(step) = matching_step(&secret, code, now, i64::MIN) else {
        return Ok(false);
    };
    transaction(sql, || {
        sql.execute(ACTIVATE, params![user_id, step])?;
        methods::add(sql, user_id, Kind::Totp, now)
    })?;
    Ok(true)
}

const ACTIVE: &str = "SELECT secret, last_step FROM twofactor_totp WHERE user_id = ?1";
const ADVANCE: &str = "UPDATE twofactor_totp SET last_step = ?2 \
     WHERE user_id = ?1 AND last_step < ?2 RETURNING last_step";
/// Conditional: a secret replaced meanwhile (a new setup confirmed) is kept.
const RESEAL: &str = "UPDATE twofactor_totp SET secret = ?3 WHERE user_id = ?1 AND secret = ?2";

/// Checks a sign-in code; `false` for a wrong or already used code.
pub fn verify(
    sql: &dyn Sql,
    rng: &dyn Random,
    keys: &DataKeys,
    user_id: &str,
    code: &str,
    now: i64,
) -> Result<bool, ApiError> {
    let rows = sql.execute(ACTIVE, params![user_id])?;
    let Some(row) = rows.first() else {
        return Ok(false);
    };
    let sealed = match row.0.first() {
        Some(edgedesk_core::Value::Blob(b)) => b.clone(),
        _ => return Ok(false),
    };
    let last = row.i64(1)?;
    let opened = open(keys, user_id, &sealed).map_err(unreadable)?;
    if opened.stale {
        // Re-sealed on use, so a rotation finishes by itself for active users.
        let fresh = seal(keys, rng, user_id, &opened.plaintext);
        sql.execute(RESEAL, params![user_id, sealed, fresh])?;
    }
    let secret = opened.plaintext;
    let Some(step) = matching_step(&secret, code, now, last) else {
        return Ok(false);
    };
    // Only one request can move last_step past `step`: the loser sees no row.
    Ok(!sql.execute(ADVANCE, params![user_id, step])?.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{db, keys};
    use edgedesk_core::random::OsRandom;

    const T0: i64 = 1_795_262_400; // a step boundary (divisible by 30)

    /// A code that differs from `code` in its first digit.
    fn wrong(code: &str) -> String {
        let d = code.as_bytes()[0] - b'0';
        format!("{}{}", (d + 1) % 10, &code[1..])
    }

    fn secret_of(setup: &Setup) -> Vec<u8> {
        Secret::Encoded(setup.secret.clone()).to_bytes().unwrap()
    }

    #[test]
    fn rfc6238_sha1_test_vectors() {
        // RFC 6238 appendix B, SHA-1, last 6 digits.
        let secret = b"12345678901234567890";
        for (t, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(code_at(secret, t / 30), code);
        }
    }

    #[test]
    fn codes_must_be_six_digits() {
        assert_eq!(parse_code(" 123 456 ").unwrap(), "123456");
        for bad in [
            "12345",
            "1234567",
            "12a456",
            "",
            "１２３４５６",
            &"1".repeat(1000),
        ] {
            let e = parse_code(bad).unwrap_err();
            assert_eq!((e.status(), e.code()), (400, "invalid_code"), "{bad}");
        }
    }

    #[test]
    fn setup_gives_secret_uri_and_svg_and_confirms_with_a_current_code() {
        let db = db();
        let s = begin_setup(
            &db,
            &OsRandom,
            &keys(),
            "u1",
            "EdgeDesk Service Desk",
            "alice",
            T0,
        )
        .unwrap();
        assert_eq!(s.secret.len(), 32);
        assert!(
            s.otpauth_uri
                .starts_with("otpauth://totp/EdgeDesk%20Service%20Desk:alice?secret=")
        );
        assert!(
            s.otpauth_uri
                .contains("&issuer=EdgeDesk%20Service%20Desk&algorithm=SHA1&digits=6&period=30")
        );
        assert!(s.qr_svg.contains("<svg"));
        let secret = secret_of(&s);
        let right = code_at(&secret, T0 / 30);
        assert!(!confirm(&db, &keys(), "u1", &wrong(&right), T0).unwrap());
        assert!(!methods::is_configured(&db, "u1", Kind::Totp).unwrap());
        assert!(confirm(&db, &keys(), "u1", &code_at(&secret, T0 / 30), T0).unwrap());
        assert!(methods::is_configured(&db, "u1", Kind::Totp).unwrap());
        // The setup code cannot be replayed at sign-in.
        assert!(
            !verify(
                &db,
                &OsRandom,
                &keys(),
                "u1",
                &code_at(&secret, T0 / 30),
                T0 + 5
            )
            .unwrap()
        );
        assert!(
            verify(
                &db,
                &OsRandom,
                &keys(),
                "u1",
                &code_at(&secret, T0 / 30 + 1),
                T0 + 30
            )
            .unwrap()
        );
    }

    #[test]
    fn secret_is_stored_sealed() {
        let db = db();
        let s = begin_setup(&db, &OsRandom, &keys(), "u1", "X", "alice", T0).unwrap();
        let raw = secret_of(&s);
        let rows = db
            .execute("SELECT pending_secret FROM twofactor_totp", &[])
            .unwrap();
        let stored = rows.first().unwrap().blob(0).unwrap();
        assert!(!stored.windows(raw.len()).any(|w| w == raw.as_slice()));
        assert!(stored.starts_with(format!("v1.{}.", keys().current_id()).as_bytes()));
        assert_eq!(open(&keys(), "u1", &stored).unwrap().plaintext, raw);
        let other = DataKeys::new(b"other key", None);
        assert_eq!(open(&other, "u1", &stored), Err(OpenError::UnknownKey));
        // Copied into another user's row, it does not open.
        assert_eq!(open(&keys(), "u2", &stored), Err(OpenError::Tampered));
    }

    #[test]
    fn setup_expires_after_fifteen_minutes() {
        let db = db();
        let s = begin_setup(&db, &OsRandom, &keys(), "u1", "X", "alice", T0).unwrap();
        let later = T0 + PENDING_S;
        let e = confirm(
            &db,
            &keys(),
            "u1",
            &code_at(&secret_of(&s), later / 30),
            later,
        )
        .unwrap_err();
        assert_eq!(e.code(), "setup_not_started");
    }

    fn configured(db: &dyn Sql) -> Vec<u8> {
        let s = begin_setup(db, &OsRandom, &keys(), "u1", "X", "alice", T0).unwrap();
        let secret = secret_of(&s);
        assert!(confirm(db, &keys(), "u1", &code_at(&secret, T0 / 30), T0).unwrap());
        secret
    }

    #[test]
    fn one_step_of_drift_is_accepted_either_side_but_not_two() {
        let db = db();
        let secret = configured(&db);
        let now = T0 + 300; // step T0/30 + 10
        let cur = now / 30;
        assert!(
            !verify(
                &db,
                &OsRandom,
                &keys(),
                "u1",
                &code_at(&secret, cur - 2),
                now
            )
            .unwrap()
        );
        assert!(
            !verify(
                &db,
                &OsRandom,
                &keys(),
                "u1",
                &code_at(&secret, cur + 2),
                now
            )
            .unwrap()
        );
        assert!(
            verify(
                &db,
                &OsRandom,
                &keys(),
                "u1",
                &code_at(&secret, cur - 1),
                now
            )
            .unwrap()
        );
        assert!(
            verify(
                &db,
                &OsRandom,
                &keys(),
                "u1",
                &code_at(&secret, cur + 1),
                now
            )
            .unwrap()
        );
    }

    #[test]
    fn verify_rejects_reused_totp_code() {
        let db = db();
        let secret = configured(&db);
        let now = T0 + 600;
        let code = code_at(&secret, now / 30);
        assert!(verify(&db, &OsRandom, &keys(), "u1", &code, now).unwrap());
        assert!(!verify(&db, &OsRandom, &keys(), "u1", &code, now + 1).unwrap());
        // An older step within the drift window is refused after a newer one.
        assert!(
            !verify(
                &db,
                &OsRandom,
                &keys(),
                "u1",
                &code_at(&secret, now / 30 - 1),
                now + 2
            )
            .unwrap()
        );
        assert!(
            verify(
                &db,
                &OsRandom,
                &keys(),
                "u1",
                &code_at(&secret, now / 30 + 1),
                now + 30
            )
            .unwrap()
        );
    }

    #[test]
    fn a_new_setup_keeps_the_old_secret_until_confirmed() {
        let db = db();
        let old = configured(&db);
        let now = T0 + 900;
        let s = begin_setup(&db, &OsRandom, &keys(), "u1", "X", "alice", now).unwrap();
        assert!(verify(&db, &OsRandom, &keys(), "u1", &code_at(&old, now / 30), now).unwrap());
        let new = secret_of(&s);
        assert!(confirm(&db, &keys(), "u1", &code_at(&new, now / 30 + 1), now + 30).unwrap());
        assert!(
            !verify(
                &db,
                &OsRandom,
                &keys(),
                "u1",
                &code_at(&old, now / 30 + 2),
                now + 60
            )
            .unwrap()
        );
        assert!(
            verify(
                &db,
                &OsRandom,
                &keys(),
                "u1",
                &code_at(&new, now / 30 + 2),
                now + 60
            )
            .unwrap()
        );
    }
}

#[cfg(test)]
mod rotation_tests {
    use super::*;
    use crate::testutil::{db, keys};
    use edgedesk_core::random::OsRandom;

    const T0: i64 = 1_795_262_400;

    fn stored(db: &dyn Sql) -> Vec<u8> {
        db.execute(
            "SELECT secret FROM twofactor_totp WHERE user_id = 'u1'",
            &[],
        )
        .unwrap()
        .first()
        .unwrap()
        .blob(0)
        .unwrap()
    }

    fn setup(db: &dyn Sql, k: &DataKeys) -> Vec<u8> {
        let s = begin_setup(db, &OsRandom, k, "u1", "X", "alice", T0).unwrap();
        let secret = Secret::Encoded(s.secret).to_bytes().unwrap();
        assert!(confirm(db, k, "u1", &code_at(&secret, T0 / 30), T0).unwrap());
        secret
    }

    #[test]
    fn secret_sealed_with_previous_key_verifies_and_is_resealed_on_use() {
        let db = db();
        let a = DataKeys::new(b"A", None);
        let secret = setup(&db, &a);
        let rotated = DataKeys::new(b"B", Some(b"A"));
        let now = T0 + 60;
        assert!(
            verify(
                &db,
                &OsRandom,
                &rotated,
                "u1",
                &code_at(&secret, now / 30),
                now
            )
            .unwrap()
        );
        assert!(rotated.is_current(&stored(&db)));
        // The previous key can go now: B alone opens it.
        let b_only = DataKeys::new(b"B", None);
        let now = now + 30;
        assert!(
            verify(
                &db,
                &OsRandom,
                &b_only,
                "u1",
                &code_at(&secret, now / 30),
                now
            )
            .unwrap()
        );
    }

    #[test]
    fn swapped_rows_between_users_do_not_open() {
        let db = db();
        let k = keys();
        setup(&db, &k);
        let u1 = stored(&db);
        db.execute(
            "INSERT INTO twofactor_totp (user_id, secret, last_step) VALUES ('u2', ?1, 0)",
            params![u1],
        )
        .unwrap();
        let e = verify(&db, &OsRandom, &k, "u2", "123456", T0 + 60).unwrap_err();
        assert_eq!(e.status(), 500);
    }

    #[test]
    fn legacy_secret_opens_with_the_old_link_secret_and_is_resealed() {
        let db = db();
        let secret = b"12345678901234567890";
        let legacy = legacy_seal(b"old link secret", "u1", secret, [7u8; 16]);
        db.execute(
            "INSERT INTO twofactor_totp (user_id, secret, last_step) VALUES ('u1', ?1, 0)",
            params![legacy.clone()],
        )
        .unwrap();
        let k = DataKeys::new(b"new data key", None).with_legacy(b"old link secret");
        let now = T0 + 60;
        assert!(verify(&db, &OsRandom, &k, "u1", &code_at(secret, now / 30), now).unwrap());
        let after = stored(&db);
        assert!(k.is_current(&after));
        assert!(!after.windows(secret.len()).any(|w| w == secret));
        // Without the old secret a legacy value cannot be read at all.
        assert_eq!(
            open(&DataKeys::new(b"x", None), "u1", &legacy),
            Err(OpenError::UnknownKey)
        );
    }
}
