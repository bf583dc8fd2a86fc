//! The runtime config file (`--runtime-config-file`), Spin's format.
//!
//! Supported: `state_dir`, `log_dir` (accepted; guest output goes to stderr),
//! `[key_value_store.<label>]` and `[sqlite_database.<label>]` with
//! `type = "spin"` and an optional `path`. Paths follow Spin: key-value paths
//! are relative to the runtime config file's folder, SQLite paths to the
//! working directory; without a path a store is in memory. The `default`
//! labels always exist: `<state-dir>/sqlite_key_value.db` and
//! `<state-dir>/sqlite_db.db`. Other backends (Redis, libSQL, Azure, …) and
//! sections (variables providers, TLS, LLM) are refused with a clear message
//! rather than silently ignored.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};

use crate::{spin_kv, spin_sqlite};

/// File name of the default key-value store in the state dir (Spin's).
pub const DEFAULT_KV_FILE: &str = "sqlite_key_value.db";
/// File name of the default SQLite database in the state dir (Spin's).
pub const DEFAULT_SQLITE_FILE: &str = "sqlite_db.db";

/// Resolved storage configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    pub state_dir: PathBuf,
    pub key_value: HashMap<String, spin_kv::Location>,
    pub sqlite: HashMap<String, spin_sqlite::Location>,
}

/// Reads `file` (if any) and fills in the defaults.
///
/// `state_dir` is the `--state-dir` flag; it wins over the file's `state_dir`,
/// which wins over `.spin` beside the manifest.
pub fn load(
    file: Option<&Path>,
    state_dir: Option<&Path>,
    app_dir: &Path,
) -> anyhow::Result<RuntimeConfig> {
    let table: toml::Table = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read runtime config file {}", path.display()))?;
            toml::from_str(&text).map_err(|e| {
                anyhow!(
                    "runtime config file {} is not valid TOML: {e}",
                    path.display()
                )
            })?
        }
        None => toml::Table::new(),
    };
    let config_dir = file
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| app_dir.to_path_buf());
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let shown = file.map(|p| p.display().to_string()).unwrap_or_default();
    resolve(&table, state_dir, app_dir, &config_dir, &cwd)
        .map_err(|e| anyhow!("runtime config {shown}: {e:#}"))
}

fn absolute(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn resolve(
    table: &toml::Table,
    state_dir: Option<&Path>,
    app_dir: &Path,
    config_dir: &Path,
    cwd: &Path,
) -> anyhow::Result<RuntimeConfig> {
    let mut unknown = Vec::new();
    for key in table.keys() {
        match key.as_str() {
            "state_dir" | "log_dir" | "key_value_store" | "sqlite_database" => {}
            "variables_provider"
            | "config_provider"
            | "llm_compute"
            | "client_tls"
            | "outbound_networking"
            | "blob_store"
            | "otel" => bail!(
                "[{key}] is not supported by this host (supported: key_value_store, sqlite_database, state_dir)"
            ),
            other => unknown.push(other.to_owned()),
        }
    }
    if !unknown.is_empty() {
        bail!("unused runtime config key(s): {}", unknown.join(", "));
    }

    let state_dir = match state_dir {
        Some(p) => absolute(cwd, &p.to_string_lossy()),
        None => match table.get("state_dir") {
            Some(toml::Value::String(s)) if !s.is_empty() => absolute(cwd, s),
            Some(toml::Value::String(_)) | None => app_dir.join(".spin"),
            Some(_) => bail!("state_dir must be a string"),
        },
    };

    let mut key_value = HashMap::new();
    key_value.insert(
        "default".to_owned(),
        spin_kv::Location::File(state_dir.join(DEFAULT_KV_FILE)),
    );
    for (label, path) in spin_typed_sections(table, "key_value_store")? {
        let loc = match path {
            Some(p) => spin_kv::Location::File(absolute(config_dir, &p)),
            None => spin_kv::Location::Memory,
        };
        key_value.insert(label, loc);
    }

    let mut sqlite = HashMap::new();
    sqlite.insert(
        "default".to_owned(),
        spin_sqlite::Location::File(state_dir.join(DEFAULT_SQLITE_FILE)),
    );
    for (label, path) in spin_typed_sections(table, "sqlite_database")? {
        let loc = match path {
            Some(p) => spin_sqlite::Location::File(absolute(cwd, &p)),
            None => spin_sqlite::Location::Memory,
        };
        sqlite.insert(label, loc);
    }

    Ok(RuntimeConfig {
        state_dir,
        key_value,
        sqlite,
    })
}

/// `[<section>.<label>]` tables with `type = "spin"`: (label, optional path).
fn spin_typed_sections(
    table: &toml::Table,
    section: &str,
) -> anyhow::Result<Vec<(String, Option<String>)>> {
    let Some(value) = table.get(section) else {
        return Ok(Vec::new());
    };
    let sections = value
        .as_table()
        .ok_or_else(|| anyhow!("[{section}] must be a table of labelled stores"))?;
    let mut out = Vec::new();
    for (label, entry) in sections {
        let entry = entry
            .as_table()
            .ok_or_else(|| anyhow!("[{section}.{label}] must be a table"))?;
        match entry.get("type").and_then(toml::Value::as_str) {
            Some("spin") => {}
            Some(other) => bail!(
                "[{section}.{label}] type = {other:?} is not supported by this host; only type = \"spin\" (local SQLite file) is"
            ),
            None => bail!("[{section}.{label}] needs a type, e.g. type = \"spin\""),
        }
        for key in entry.keys() {
            if key != "type" && key != "path" {
                bail!("[{section}.{label}]: unknown key {key:?}");
            }
        }
        let path = match entry.get("path") {
            Some(toml::Value::String(p)) => Some(p.clone()),
            Some(_) => bail!("[{section}.{label}] path must be a string"),
            None => None,
        };
        out.push((label.clone(), path));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, state: Option<&Path>) -> anyhow::Result<RuntimeConfig> {
        let table: toml::Table = toml::from_str(text)?;
        resolve(
            &table,
            state,
            Path::new("/app"),
            Path::new("/conf"),
            Path::new("/cwd"),
        )
    }

    #[test]
    fn defaults_live_in_the_state_dir() -> anyhow::Result<()> {
        let c = run("", None)?;
        assert_eq!(c.state_dir, PathBuf::from("/app/.spin"));
        assert_eq!(
            c.key_value["default"],
            spin_kv::Location::File("/app/.spin/sqlite_key_value.db".into())
        );
        assert_eq!(
            c.sqlite["default"],
            spin_sqlite::Location::File("/app/.spin/sqlite_db.db".into())
        );
        let c = run("state_dir = \"data\"", Some(Path::new("/flag")))?;
        assert_eq!(c.state_dir, PathBuf::from("/flag"));
        let c = run("state_dir = \"data\"", None)?;
        assert_eq!(c.state_dir, PathBuf::from("/cwd/data"));
        Ok(())
    }

    #[test]
    fn spin_typed_stores_are_resolved() -> anyhow::Result<()> {
        let c = run(
            r#"
[key_value_store.cache]
type = "spin"
path = "cache.db"
[key_value_store.scratch]
type = "spin"
[sqlite_database.audit]
type = "spin"
path = "audit.db"
"#,
            None,
        )?;
        assert_eq!(
            c.key_value["cache"],
            spin_kv::Location::File("/conf/cache.db".into())
        );
        assert_eq!(c.key_value["scratch"], spin_kv::Location::Memory);
        assert_eq!(
            c.sqlite["audit"],
            spin_sqlite::Location::File("/cwd/audit.db".into())
        );
        Ok(())
    }

    #[test]
    fn unsupported_backends_are_refused() {
        let e = run(
            "[key_value_store.x]\ntype = \"redis\"\nurl = \"redis://x\"",
            None,
        )
        .expect_err("redis");
        assert!(e.to_string().contains("not supported by this host"), "{e}");
        let e = run("[variables_provider]\ntype = \"vault\"", None).expect_err("vault");
        assert!(e.to_string().contains("not supported"), "{e}");
        let e = run("bogus = 1", None).expect_err("unknown");
        assert!(
            e.to_string()
                .contains("unused runtime config key(s): bogus"),
            "{e}"
        );
    }
}
