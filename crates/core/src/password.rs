//! Password-grade hashing: argon2id with OWASP's parameters (m=19456 KiB, t=2, p=1).
//!
//! The PHC string stores its own parameters, so they can be raised later:
//! `needs_rehash` tells the sign-in path to upgrade an old hash after a successful
//! verification. `dummy_verify` spends the same time for unknown users, so timing
//! does not reveal whether an account exists.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::ApiError;
use crate::random::Random;

pub const M_COST_KIB: u32 = 19_456;
pub const T_COST: u32 = 2;
pub const P_COST: u32 = 1;

fn hasher() -> Result<Argon2<'static>, ApiError> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).map_err(ApiError::internal)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a secret into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub fn hash(secret: &str, rng: &dyn Random) -> Result<String, ApiError> {
    let mut salt = [0u8; 16];
    rng.fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(ApiError::internal)?;
    hasher()?
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(ApiError::internal)
}

/// Verifies a secret against a stored PHC string, using the parameters stored in it.
pub fn verify(secret: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    Argon2::default()
        .verify_password(secret.as_bytes(), &parsed)
        .is_ok()
}

/// True when the stored hash is weaker than today's parameters or algorithm.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    if parsed.algorithm.as_str() != "argon2id" {
        return true;
    }
    let Ok(params) = Params::try_from(&parsed) else {
        return true;
    };
    params.m_cost() < M_COST_KIB || params.t_cost() < T_COST || params.p_cost() < P_COST
}

/// A valid hash of a random secret nobody knows: verifying against it costs the same
/// as a real verification. Used when the account does not exist.
pub const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$5nWn/ALWLWk2kWsXaUSRlRfW6kfYOF46/vCa76PEMyA";

pub fn dummy_verify(secret: &str) {
    let _ = verify(secret, DUMMY_HASH);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;

    #[test]
    fn hash_then_verify_roundtrips_and_rejects_wrong_secret() {
        let h = hash("correct horse battery staple", &OsRandom).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("correct horse battery staple", &h));
        assert!(!verify("correct horse battery stapl", &h));
        assert!(!needs_rehash(&h));
    }

    #[test]
    fn weaker_hashes_are_flagged_for_upgrade_and_still_verify() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(4096, 1, 1, None).unwrap(),
        );
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let h = weak.hash_password(b"pw", &salt).unwrap().to_string();
        assert!(verify("pw", &h));
        assert!(needs_rehash(&h));
    }

    #[test]
    fn dummy_hash_is_well_formed() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify("", DUMMY_HASH));
    }

    #[test]
    fn garbage_hash_never_verifies() {
        assert!(!verify("x", "not a hash"));
        assert!(needs_rehash("not a hash"));
    }
}
