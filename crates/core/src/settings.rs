//! App settings derived at run time: the local key and the key rings.

use crate::db::Sql;
use crate::error::ApiError;
use crate::keys::{DataKeys, LinkKeys};
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

/// The single base secret of earlier versions, raw: `link_keys` and
/// `data_keys` derive their keys from it when the purpose's own variable is
/// unset, and read legacy values with it. Not for direct use.
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
    // Read first: made once per data directory, then only read. An insert
    // (even one that changes nothing) takes the write lock on every request.
    if let Some(key) = existing_local_key(sql)? {
        return Ok(key);
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

/// The key variables as a component read them (empty = unset).
#[derive(Default, Clone)]
pub struct KeyVars {
    pub link_key: String,
    pub link_key_previous: String,
    pub data_key: String,
    pub data_key_previous: String,
    /// The single secret of earlier versions: used for a purpose whose own key
    /// is unset, and still read for data made with it.
    pub link_secret: String,
}

impl std::fmt::Debug for KeyVars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Which are set, never their values.
        f.debug_struct("KeyVars")
            .field("link_key", &!self.link_key.is_empty())
            .field("link_key_previous", &!self.link_key_previous.is_empty())
            .field("data_key", &!self.data_key.is_empty())
            .field("data_key_previous", &!self.data_key_previous.is_empty())
            .field("link_secret", &!self.link_secret.is_empty())
            .finish()
    }
}

fn missing(name: &'static str) -> ApiError {
    ApiError::Unavailable {
        code: "key_missing",
        message: format!("This service is not configured yet ({name} is unset)."),
    }
}

/// The localhost key if one was made already (never makes one).
fn existing_local_key(sql: &dyn Sql) -> Result<Option<Vec<u8>>, ApiError> {
    let rows = sql.execute(GET_SETTING, params!["local_link_key"])?;
    match rows.first() {
        Some(r) => Ok(b64url_decode(&r.text(0)?)),
        None => Ok(None),
    }
}

/// The link keys: `link_key` (else `link_secret`, else on plain-http localhost
/// the per-data-dir key) signs; `link_key_previous` still verifies.
pub fn link_keys(
    sql: &dyn Sql,
    rng: &dyn Random,
    vars: &KeyVars,
    public_base_url: &str,
) -> Result<LinkKeys, ApiError> {
    let previous = Some(vars.link_key_previous.as_bytes());
    if !vars.link_key.is_empty() {
        return Ok(LinkKeys::new(vars.link_key.as_bytes(), previous));
    }
    let base =
        link_key(sql, rng, &vars.link_secret, public_base_url).map_err(|_| missing("link_key"))?;
    Ok(LinkKeys::new(&base, previous))
}

/// The data keys: `data_key` (else `link_secret`, else on plain-http localhost
/// the per-data-dir key) seals; `data_key_previous` and the `link_secret`
/// (or localhost) key still open; the raw `link_secret` (or localhost key)
/// reads values made before key ids existed (key id `legacy`).
pub fn data_keys(
    sql: &dyn Sql,
    rng: &dyn Random,
    vars: &KeyVars,
    public_base_url: &str,
) -> Result<DataKeys, ApiError> {
    let previous = Some(vars.data_key_previous.as_bytes());
    // What the old single secret was on this install, if anything.
    let old = if !vars.link_secret.is_empty() {
        Some(vars.link_secret.as_bytes().to_vec())
    } else if is_local_http(public_base_url) {
        existing_local_key(sql)?
    } else {
        None
    };
    let keys = if !vars.data_key.is_empty() {
        DataKeys::new(vars.data_key.as_bytes(), previous)
    } else {
        let base = link_key(sql, rng, &vars.link_secret, public_base_url)
            .map_err(|_| missing("data_key"))?;
        DataKeys::new(&base, previous).current_from_link_secret()
    };
    Ok(match old {
        Some(old) => keys.with_fallback(&old).with_legacy(&old),
        // No old secret: nothing can be legacy (a localhost key made just
        // now sealed nothing yet).
        None => keys,
    })
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

    fn vars(link_key: &str, data_key: &str, data_prev: &str, secret: &str) -> KeyVars {
        KeyVars {
            link_key: link_key.into(),
            data_key: data_key.into(),
            data_key_previous: data_prev.into(),
            link_secret: secret.into(),
            ..KeyVars::default()
        }
    }

    #[test]
    fn purpose_keys_win_over_link_secret_which_stays_readable() {
        let db = NativeSql::memory();
        ensure_schema(&db).unwrap();
        let url = "https://desk.example.com";
        let only_secret = data_keys(&db, &OsRandom, &vars("", "", "", "S"), url).unwrap();
        let both = data_keys(&db, &OsRandom, &vars("", "D", "", "S"), url).unwrap();
        assert_ne!(only_secret.current_id(), both.current_id());
        assert!(only_secret.current_is_link_secret());
        assert!(!both.current_is_link_secret());
        let sealed = only_secret.seal(&OsRandom, "c", "u1", b"x");
        assert!(both.open("c", "u1", sealed.as_bytes()).unwrap().stale);
        assert_eq!(both.legacy_secret(), Some(&b"S"[..]));
        let l1 = link_keys(&db, &OsRandom, &vars("", "", "", "S"), url).unwrap();
        let l2 = link_keys(&db, &OsRandom, &vars("L", "", "", "S"), url).unwrap();
        assert_ne!(l1.current_id(), l2.current_id());
        assert_eq!(l2.previous_id(), None);
    }

    #[test]
    fn keys_are_refused_off_localhost_without_secrets() {
        let db = NativeSql::memory();
        ensure_schema(&db).unwrap();
        let url = "https://desk.example.com";
        let e = data_keys(&db, &OsRandom, &KeyVars::default(), url).unwrap_err();
        assert_eq!((e.status(), e.code()), (503, "key_missing"));
        let e = link_keys(&db, &OsRandom, &KeyVars::default(), url).unwrap_err();
        assert_eq!(e.status(), 503);
        // A data key alone is enough for data; links still need theirs.
        assert!(data_keys(&db, &OsRandom, &vars("", "D", "", ""), url).is_ok());
        assert!(link_keys(&db, &OsRandom, &vars("", "D", "", ""), url).is_err());
    }

    #[test]
    fn localhost_key_is_derived_and_read_as_legacy() {
        let db = NativeSql::memory();
        ensure_schema(&db).unwrap();
        let url = "http://127.0.0.1:3000";
        // The raw key that sealed (pre-key-id) values of a dev install.
        let raw = link_key(&db, &OsRandom, "", url).unwrap();
        let local = data_keys(&db, &OsRandom, &KeyVars::default(), url).unwrap();
        assert_eq!(local.legacy_secret(), Some(raw.as_slice()));
        let sealed = local.seal(&OsRandom, "c", "u1", b"x");
        // Moving a dev install to a data key keeps its data readable.
        let moved = data_keys(&db, &OsRandom, &vars("", "D", "", ""), url).unwrap();
        assert!(moved.open("c", "u1", sealed.as_bytes()).unwrap().stale);
        assert_eq!(moved.legacy_secret(), Some(raw.as_slice()));
    }
}
