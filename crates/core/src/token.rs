//! Tokens and hashes.
//!
//! Session, confirmation, reset and unsubscribe tokens are 256 random bits in
//! base64url; only their SHA-256 is stored, so a leaked database grants nothing.
//! Signed links carry an HMAC-SHA256 over purpose, subject and expiry.
//! Every comparison of secret material is constant-time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::random::Random;

type HmacSha256 = Hmac<Sha256>;

/// A fresh 256-bit token, base64url without padding (43 characters).
pub fn new_token(rng: &dyn Random) -> String {
    let mut b = [0u8; 32];
    rng.fill(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// A short random id for rows (128 bits, base64url): opaque and unguessable.
pub fn new_id(rng: &dyn Random) -> String {
    let mut b = [0u8; 16];
    rng.fill(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// Lowercase hex SHA-256 of a token: the only form in which tokens are stored.
pub fn sha256_hex(data: &str) -> String {
    hex(&Sha256::digest(data.as_bytes()))
}

pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// Constant-time equality of two byte strings.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// HMAC-SHA256 of `parts` joined unambiguously (length-prefixed), base64url.
pub fn hmac_sign(key: &[u8], parts: &[&str]) -> String {
    URL_SAFE_NO_PAD.encode(hmac_raw(key, parts))
}

/// Checks a signature made by [`hmac_sign`] in constant time.
pub fn hmac_verify(key: &[u8], parts: &[&str], signature: &str) -> bool {
    let Ok(sig) = URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    let expected = hmac_raw(key, parts);
    ct_eq(&expected, &sig)
}

/// Keyed hash for high-entropy one-time codes (backup codes, email OTPs): fast,
/// and useless to an attacker without the key.
pub fn keyed_hash_hex(key: &[u8], parts: &[&str]) -> String {
    hex(&hmac_raw(key, parts))
}

fn hmac_raw(key: &[u8], parts: &[&str]) -> Vec<u8> {
    #[allow(clippy::expect_used)] // HMAC takes keys of any length
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    for p in parts {
        mac.update(&(p.len() as u64).to_be_bytes());
        mac.update(p.as_bytes());
    }
    mac.finalize().into_bytes().to_vec()
}

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;

    #[test]
    fn tokens_are_256_bits_of_base64url() {
        let t = new_token(&OsRandom);
        assert_eq!(t.len(), 43);
        assert_eq!(b64url_decode(&t).map(|b| b.len()), Some(32));
        assert!(
            t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    #[test]
    fn sha256_matches_known_vector() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hmac_signature_verifies_and_rejects_tampering() {
        let key = b"k";
        let sig = hmac_sign(key, &["unsubscribe", "user1", "1700000000"]);
        assert!(hmac_verify(
            key,
            &["unsubscribe", "user1", "1700000000"],
            &sig
        ));
        assert!(!hmac_verify(
            key,
            &["unsubscribe", "user2", "1700000000"],
            &sig
        ));
        assert!(!hmac_verify(
            b"other",
            &["unsubscribe", "user1", "1700000000"],
            &sig
        ));
        assert!(!hmac_verify(
            key,
            &["unsubscribe", "user1", "1700000000"],
            "not base64!"
        ));
    }

    #[test]
    fn hmac_parts_are_not_ambiguous() {
        assert_ne!(hmac_sign(b"k", &["ab", "c"]), hmac_sign(b"k", &["a", "bc"]));
    }

    #[test]
    fn ct_eq_compares_content_and_length() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
    }
}
