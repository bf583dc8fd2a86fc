//! `fermyon:spin/key-value@2.0.0` on SQLite, laid out like Spin's local store.
//!
//! Spin's `spin` key-value backend keeps every store of one file in a table
//! `spin_key_value(store, key, value)`; the `default` store lives in
//! `<state-dir>/sqlite_key_value.db`. Using the same file and table means data
//! written under `spin up` is visible here and the other way round.
//!
//! Access rules are Spin's: `open` of a label the component did not list in
//! `key_value_stores` is `access-denied` (whether or not the store exists);
//! labels a component lists must be defined (start-up fails otherwise), so
//! `no-such-store` is never seen by a correctly started app.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use rusqlite::{Connection, OptionalExtension as _};
use wasmtime::component::Resource;

use crate::bindings::fermyon::spin::key_value::{self, Error};
use crate::engine::HostState;

/// Where a store's data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Memory,
    File(PathBuf),
}

/// One backing SQLite connection, shared by every request (as in Spin).
pub struct Backend {
    conn: Mutex<Connection>,
    pub location: Location,
    /// Stops the checkpoint thread of a file store when the backend goes.
    checkpointer: Option<Arc<AtomicBool>>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some(stop) = &self.checkpointer {
            stop.store(true, Ordering::Relaxed);
        }
    }
}

/// How often the checkpoint thread folds the write-ahead log into the file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Write-ahead logging for a file store, with checkpoints off the write path.
///
/// Measured (docs/PERFORMANCE.md, "Attachments"): with SQLite's defaults, as
/// Spin opens this file, every `set` is a transaction with its own fsyncs,
/// and a 25 MiB attachment (100 values of 256 KiB) took 1.9 s (13.5 MB/s).
/// In WAL mode with `synchronous=NORMAL` a commit appends to the log without
/// an fsync; the cost left was the automatic checkpoint every 4 MiB, which a
/// writer pays inline. Here a thread with its own connection checkpoints
/// instead (PASSIVE: it never blocks readers or the writer), and the inline
/// checkpoint only backs it up should the log reach 64 MiB.
///
/// Durability: a host crash loses nothing committed; a power cut may lose
/// the last commits, never consistency. WAL mode persists in the file, and
/// Spin opens such a file as it is, so the layout stays shared with `spin up`.
fn write_ahead(conn: &Connection, path: &Path) -> anyhow::Result<Arc<AtomicBool>> {
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        anyhow::bail!("key-value store {}: journal mode {mode}", path.display());
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "wal_autocheckpoint", 16384)?;
    // Attachment chunks pass through once: a large page cache would only
    // hold them (SQLite's default is 2 MB per connection).
    conn.pragma_update(None, "cache_size", -512)?;
    let checkpoints = Connection::open(path)?;
    checkpoints.busy_timeout(Duration::from_secs(5))?;
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    std::thread::Builder::new()
        .name("kv-checkpoint".into())
        .spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                std::thread::sleep(CHECKPOINT_EVERY);
                if let Err(e) =
                    checkpoints.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                {
                    eprintln!("key-value checkpoint: {e}");
                }
            }
        })?;
    Ok(stop)
}

impl Backend {
    /// Opens (creating if needed) the database and the `spin_key_value` table.
    pub fn open(location: Location) -> anyhow::Result<Self> {
        crate::wal_gather::install();
        let conn = match &location {
            Location::Memory => Connection::open_in_memory()?,
            Location::File(path) => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create {}", parent.display()))?;
                }
                Connection::open(path)
                    .with_context(|| format!("cannot open key-value store {}", path.display()))?
            }
        };
        conn.busy_timeout(Duration::from_secs(5))?;
        let checkpointer = match &location {
            Location::File(path) => Some(write_ahead(&conn, path)?),
            Location::Memory => None,
        };
        conn.execute(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL,
                key   TEXT NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY (store, key)
            )",
            [],
        )?;
        Ok(Self {
            conn: Mutex::new(conn),
            location,
            checkpointer,
        })
    }
}

impl Backend {
    /// Sets `key` in store `label`, overwriting any value (`spin up --key-value`).
    pub fn set(&self, label: &str, key: &str, value: &[u8]) -> anyhow::Result<()> {
        let conn = self
            .conn
            .lock()
            .map_err(|_| anyhow::anyhow!("store lock poisoned"))?;
        conn.execute(
            "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT(store, key) DO UPDATE SET value = ?3",
            (label, key, value),
        )?;
        Ok(())
    }
}

/// All stores defined for the app: label -> backend.
#[derive(Default)]
pub struct KvStores {
    pub stores: HashMap<String, Arc<Backend>>,
}

/// An open store handle (the `store` resource).
pub struct KvStore {
    label: String,
    backend: Arc<Backend>,
}

/// Per-instance state.
pub struct KvState {
    pub stores: Arc<KvStores>,
    pub allowed: Arc<HashSet<String>>,
}

fn other(e: impl std::fmt::Display) -> Error {
    Error::Other(e.to_string())
}

/// Runs blocking SQLite work off the async executor.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f).await.map_err(other)?
}

impl KvStore {
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection, &str) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, Error> {
        let backend = self.backend.clone();
        let label = self.label.clone();
        blocking(move || {
            let conn = backend
                .conn
                .lock()
                .map_err(|_| other("store lock poisoned"))?;
            f(&conn, &label).map_err(other)
        })
        .await
    }
}

impl key_value::Host for HostState {}

impl key_value::HostStore for HostState {
    async fn open(&mut self, label: String) -> Result<Resource<KvStore>, Error> {
        if !self.kv.allowed.contains(&label) {
            return Err(Error::AccessDenied);
        }
        let backend = self
            .kv
            .stores
            .stores
            .get(&label)
            .cloned()
            .ok_or(Error::NoSuchStore)?;
        self.table
            .push(KvStore { label, backend })
            .map_err(|_| Error::StoreTableFull)
    }

    async fn get(
        &mut self,
        store: Resource<KvStore>,
        key: String,
    ) -> Result<Option<Vec<u8>>, Error> {
        let store = self.table.get(&store).map_err(other)?;
        store
            .run(move |c, label| {
                c.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                    .query_row((label, &key), |r| r.get::<_, Vec<u8>>(0))
                    .optional()
            })
            .await
    }

    async fn set(
        &mut self,
        store: Resource<KvStore>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), Error> {
        let store = self.table.get(&store).map_err(other)?;
        store
            .run(move |c, label| {
                c.prepare_cached(
                    "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT(store, key) DO UPDATE SET value = ?3",
                )?
                .execute((label, &key, &value))
                .map(drop)
            })
            .await
    }

    async fn delete(&mut self, store: Resource<KvStore>, key: String) -> Result<(), Error> {
        let store = self.table.get(&store).map_err(other)?;
        store
            .run(move |c, label| {
                c.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                    .execute((label, &key))
                    .map(drop)
            })
            .await
    }

    async fn exists(&mut self, store: Resource<KvStore>, key: String) -> Result<bool, Error> {
        let store = self.table.get(&store).map_err(other)?;
        store
            .run(move |c, label| {
                c.prepare_cached(
                    "SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2 LIMIT 1",
                )?
                .exists((label, &key))
            })
            .await
    }

    async fn get_keys(&mut self, store: Resource<KvStore>) -> Result<Vec<String>, Error> {
        let store = self.table.get(&store).map_err(other)?;
        store
            .run(move |c, label| {
                c.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1")?
                    .query_map([label], |r| r.get::<_, String>(0))?
                    .collect()
            })
            .await
    }

    async fn drop(&mut self, store: Resource<KvStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_creates_spins_table_layout() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("nested/sqlite_key_value.db");
        let backend = Backend::open(Location::File(path.clone()))?;
        {
            let conn = backend.conn.lock().map_err(|_| anyhow::anyhow!("lock"))?;
            conn.execute(
                "INSERT INTO spin_key_value (store, key, value) VALUES ('default', 'k', x'00ff')",
                [],
            )?;
        }
        drop(backend);
        let conn = Connection::open(path)?;
        let v: Vec<u8> = conn.query_row(
            "SELECT value FROM spin_key_value WHERE store = 'default' AND key = 'k'",
            [],
            |r| r.get(0),
        )?;
        assert_eq!(v, [0, 255]);
        // Write-ahead logging persists in the file (Spin opens it as it is).
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        assert_eq!(mode, "wal");
        Ok(())
    }
}
