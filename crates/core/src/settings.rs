//! App settings derived at run time.

use crate::db::Sql;
use crate::error::ApiError;
use crate::params;
use crate::random::Random;
use crate::token::{b64url, b64url_decode};

const GET_SETTING: &str = "SELECT value FROM settings WHERE name = ?1";
const INSERT_SETTING: &str =
    "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING";

/// True when `public_base_url` is plain http on a loopback host.
pub fn is_local_http(public_base_url: &str) -> bool {
    let Some(rest) = public_base_url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or("");
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    matches!(host, "localhost" | "127.0.0.1" | "::1")
}

/// The key for signed links and keyed hashes.
///
/// The `link_secret` variable wins. Without it, on plain-http localhost, a random
/// key is made once and kept in this data directory's database (so a dev setup
/// needs no configuration and two data dirs never share a key); anywhere else the
/// request is refused rather than signing with a guessable key.
pub fn link_key(
    sql: &dyn Sql,
    rng: &dyn Random,
    link_secret: &str,
    public_base_url: &str,
) -> Result<Vec<u8>, ApiError> {
    if !link_secret.is_empty() {
        return Ok(link_secret.as_bytes().to_vec());
    }
    if !is_local_http(public_base_url) {
        return Err(ApiError::Unavailable {
            code: "link_secret_missing",
            message: "This service is not configured yet (link_secret is unset).".into(),
        });
    }
    let mut fresh = [0u8; 32];
    rng.fill(&mut fresh);
    sql.execute(INSERT_SETTING, params!["local_link_key", b64url(&fresh)])?;
    let rows = sql.execute(GET_SETTING, params!["local_link_key"])?;
    let stored = rows
        .first()
        .ok_or_else(|| ApiError::internal("local link key missing after insert"))?
        .text(0)?;
    b64url_decode(&stored).ok_or_else(|| ApiError::internal("local link key unreadable"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_local_http_only() {
        assert!(is_local_http("http://127.0.0.1:3000"));
        assert!(is_local_http("http://localhost"));
        assert!(is_local_http("http://[::1]:8080/x"));
        assert!(!is_local_http("https://127.0.0.1:3000"));
        assert!(!is_local_http("http://desk.example.com"));
        assert!(!is_local_http("http://localhost.example.com"));
    }
}

#[cfg(all(test, feature = "native"))]
#[allow(clippy::unwrap_used)] // test helpers: a failing unwrap is a failing test
mod native_tests {
    use super::*;
    use crate::migrate::ensure_schema;
    use crate::native::NativeSql;
    use crate::random::OsRandom;

    #[test]
    fn local_key_is_made_once_and_kept() {
        let db = NativeSql::memory();
        ensure_schema(&db).unwrap();
        let a = link_key(&db, &OsRandom, "", "http://127.0.0.1:3000").unwrap();
        let b = link_key(&db, &OsRandom, "", "http://127.0.0.1:3000").unwrap();
        assert_eq!(a.len(), 32);
        assert_eq!(a, b);
    }

    #[test]
    fn configured_secret_wins_and_public_host_needs_one() {
        let db = NativeSql::memory();
        ensure_schema(&db).unwrap();
        assert_eq!(
            link_key(&db, &OsRandom, "s3cret", "https://x.example").unwrap(),
            b"s3cret"
        );
        let err = link_key(&db, &OsRandom, "", "https://desk.example.com").unwrap_err();
        assert_eq!(err.status(), 503);
    }
}
