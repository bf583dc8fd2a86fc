//! The key-value seam: Spin's key-value store interface.
//!
//! Spin key-value has no TTL and no atomic update; values here carry their own
//! `expires_at`, and anything that must count exactly lives in SQLite instead.

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KvError {
    #[error("{0}")]
    Store(String),
}

pub trait Kv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError>;
    fn delete(&self, key: &str) -> Result<(), KvError>;
    fn exists(&self, key: &str) -> Result<bool, KvError>;
}

/// Reads a JSON value; an unreadable value counts as absent (it will be rewritten).
pub fn get_json<T: serde::de::DeserializeOwned>(
    kv: &dyn Kv,
    key: &str,
) -> Result<Option<T>, KvError> {
    Ok(kv
        .get(key)?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

pub fn set_json<T: serde::Serialize>(kv: &dyn Kv, key: &str, value: &T) -> Result<(), KvError> {
    let bytes = serde_json::to_vec(value).map_err(|e| KvError::Store(e.to_string()))?;
    kv.set(key, &bytes)
}
