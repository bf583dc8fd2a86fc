//! What `spin up` does between loading an app and serving it: the
//! `--key-value` and `--sqlite` flags (Spin's `InitialKvSetterHook` and
//! `SqlStatementExecutorHook`), and plain warnings about settings that cannot
//! work.
//!
//! `--key-value KEY=VALUE` sets the pair in the `default` store, overwriting.
//! `--sqlite SQL` runs one statement against the `default` database;
//! `--sqlite @file.sql` runs the file's statements there, `@file.sql:label`
//! against database `label` (which must be defined). Both run in order,
//! before the first request, whether or not a component uses the store.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use rusqlite::Connection;

use crate::runtime_config::RuntimeConfig;
use crate::spin_kv::{self, Backend};
use crate::spin_sqlite;

/// The label `--key-value` and a plain `--sqlite` use.
pub const DEFAULT_LABEL: &str = "default";

/// Parses `KEY=VALUE` (`--key-value`, `-e`): the first `=` splits, the value
/// may hold more.
pub fn parse_pair(arg: &str, what: &str) -> anyhow::Result<(String, String)> {
    match arg.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => bail!("{what} must be of the form `key=value`, got {arg:?}"),
    }
}

/// Sets `pairs` in the `default` key-value store. `open` is the store the
/// running app already has open (an in-memory store must be that one);
/// otherwise the store's file is opened for the purpose.
pub fn set_key_values(
    open: Option<Arc<Backend>>,
    rc: &RuntimeConfig,
    pairs: &[(String, String)],
) -> anyhow::Result<()> {
    if pairs.is_empty() {
        return Ok(());
    }
    let backend = match open {
        Some(b) => b,
        None => {
            let location = rc
                .key_value
                .get(DEFAULT_LABEL)
                .cloned()
                .unwrap_or(spin_kv::Location::Memory);
            Arc::new(Backend::open(location).context("--key-value: opening the default store")?)
        }
    };
    for (key, value) in pairs {
        backend
            .set(DEFAULT_LABEL, key, value.as_bytes())
            .with_context(|| format!("--key-value: cannot set {key:?}"))?;
    }
    Ok(())
}

/// Runs `--sqlite` statements in order.
pub fn run_sql(rc: &RuntimeConfig, statements: &[String]) -> anyhow::Result<()> {
    for statement in statements {
        if let Some(config) = statement.strip_prefix('@') {
            let (file, label) = parse_file_and_label(config)?;
            let location = rc.sqlite.get(label).ok_or_else(|| {
                anyhow!(
                    "--sqlite @{config}: no database named {label:?} is defined (define [sqlite_database.{label}] in the runtime config file)"
                )
            })?;
            let sql = std::fs::read_to_string(file)
                .with_context(|| format!("--sqlite: cannot read {file:?}"))?;
            connect(location)?
                .execute_batch(&sql)
                .with_context(|| format!("--sqlite: {file:?} failed against database {label:?}"))?;
        } else {
            let location = rc
                .sqlite
                .get(DEFAULT_LABEL)
                .ok_or_else(|| anyhow!("--sqlite: no default database"))?;
            let conn = connect(location)?;
            // One statement, as Spin runs it (a query on the default
            // database): stepping through its rows executes it.
            let run = || -> rusqlite::Result<()> {
                let mut stmt = conn.prepare(statement)?;
                let mut rows = stmt.query([])?;
                while rows.next()?.is_some() {}
                Ok(())
            };
            run().with_context(|| {
                format!("--sqlite: statement failed against the default database: {statement:?}")
            })?;
        }
    }
    Ok(())
}

fn connect(location: &spin_sqlite::Location) -> anyhow::Result<Connection> {
    let conn = match location {
        spin_sqlite::Location::Memory => Connection::open_in_memory()?,
        spin_sqlite::Location::File(path) => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            Connection::open(path).with_context(|| format!("cannot open {}", path.display()))?
        }
    };
    conn.busy_timeout(spin_sqlite::BUSY_TIMEOUT)?;
    Ok(conn)
}

/// Spin's `@file[:label]` form: the label defaults to `default`; neither
/// part may be empty.
fn parse_file_and_label(config: &str) -> anyhow::Result<(&str, &str)> {
    let config = config.trim();
    if config.is_empty() {
        bail!("--sqlite @: the file name is missing");
    }
    match config.split_once(':') {
        Some((_, label)) if label.trim().is_empty() => {
            bail!("--sqlite @{config}: the database label is empty")
        }
        Some((file, _)) if file.trim().is_empty() => {
            bail!("--sqlite @{config}: the file path is empty")
        }
        Some((file, label)) => Ok((file.trim(), label.trim())),
        None => Ok((config, DEFAULT_LABEL)),
    }
}

/// Warnings about EdgeDesk's mail relay settings, from the resolved app
/// variables (empty unless the app declares them). With `mail_transport =
/// http`, every delivery goes to `mail_relay_url`, and `allowed_outbound_hosts`
/// lets the app reach only `mail_relay_origin`: when the two differ, every
/// attempt is denied. Only origins are printed, never the URL's path, query
/// or credentials.
pub fn relay_warnings(values: &HashMap<String, String>) -> Vec<String> {
    let get = |k: &str| values.get(k).map(|v| v.trim());
    if get("mail_transport") != Some("http") {
        return Vec::new();
    }
    let (Some(relay_url), Some(allowed)) = (get("mail_relay_url"), get("mail_relay_origin")) else {
        return Vec::new();
    };
    let origin = match url::Url::parse(relay_url) {
        Ok(u) if u.has_host() && matches!(u.scheme(), "http" | "https") => {
            u.origin().ascii_serialization()
        }
        _ => {
            return vec![
                "mail_transport is http but mail_relay_url is not an http(s) URL: no mail can be delivered; set SPIN_VARIABLE_MAIL_RELAY_URL".to_owned(),
            ];
        }
    };
    let allowed_origin = url::Url::parse(allowed)
        .ok()
        .filter(url::Url::has_host)
        .map(|u| u.origin().ascii_serialization());
    if allowed_origin.as_deref() == Some(origin.as_str()) {
        return Vec::new();
    }
    vec![format!(
        "relay origin not allowed: set mail_relay_origin to {origin} (mail_relay_url is on {origin}, mail_relay_origin is {}); until then every delivery is refused",
        allowed_origin.unwrap_or_else(|| format!("{allowed:?}"))
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn vars(list: &[(&str, &str)]) -> HashMap<String, String> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn relay_origin_mismatch_is_named_plainly() {
        let w = relay_warnings(&vars(&[
            ("mail_transport", "http"),
            (
                "mail_relay_url",
                "https://user:pw@relay.example.com/send?token=abc",
            ),
            ("mail_relay_origin", "https://mail-relay.invalid"),
        ]));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with(
                "relay origin not allowed: set mail_relay_origin to https://relay.example.com"
            ),
            "{w:?}"
        );
        // Credentials, path and query never reach the log.
        for secret in ["pw", "token", "abc", "/send"] {
            assert!(!w[0].contains(secret), "{secret} in {w:?}");
        }
    }

    #[test]
    fn matching_or_log_transport_is_quiet() {
        assert!(
            relay_warnings(&vars(&[
                ("mail_transport", "http"),
                ("mail_relay_url", "https://relay.example.com:443/send"),
                ("mail_relay_origin", "https://relay.example.com"),
            ]))
            .is_empty()
        );
        assert!(
            relay_warnings(&vars(&[
                ("mail_transport", "http"),
                ("mail_relay_url", "http://127.0.0.1:8025/send"),
                ("mail_relay_origin", "http://127.0.0.1:8025/"),
            ]))
            .is_empty()
        );
        assert!(
            relay_warnings(&vars(&[
                ("mail_transport", "log"),
                ("mail_relay_url", "https://relay.example.com/send"),
                ("mail_relay_origin", "https://mail-relay.invalid"),
            ]))
            .is_empty()
        );
        assert!(relay_warnings(&vars(&[("portal_name", "x")])).is_empty());
    }

    #[test]
    fn a_different_port_is_a_different_origin() {
        let w = relay_warnings(&vars(&[
            ("mail_transport", "http"),
            ("mail_relay_url", "http://127.0.0.1:8026/send"),
            ("mail_relay_origin", "http://127.0.0.1:8025"),
        ]));
        assert!(
            w[0].contains("set mail_relay_origin to http://127.0.0.1:8026"),
            "{w:?}"
        );
        let w = relay_warnings(&vars(&[
            ("mail_transport", "http"),
            ("mail_relay_url", ""),
            ("mail_relay_origin", "https://relay.example.com"),
        ]));
        assert!(w[0].contains("not an http(s) URL"), "{w:?}");
    }

    #[test]
    fn sqlite_file_and_label_like_spin() {
        assert_eq!(
            parse_file_and_label("file:label").ok(),
            Some(("file", "label"))
        );
        assert_eq!(parse_file_and_label("file").ok(), Some(("file", "default")));
        assert!(parse_file_and_label("file:").is_err());
        assert!(parse_file_and_label(":label").is_err());
        assert!(parse_file_and_label("").is_err());
    }

    fn rc(dir: &std::path::Path) -> RuntimeConfig {
        RuntimeConfig {
            state_dir: dir.to_path_buf(),
            key_value: [(
                "default".to_owned(),
                spin_kv::Location::File(dir.join("kv.db")),
            )]
            .into_iter()
            .collect(),
            sqlite: [
                (
                    "default".to_owned(),
                    spin_sqlite::Location::File(dir.join("db.db")),
                ),
                (
                    "audit".to_owned(),
                    spin_sqlite::Location::File(dir.join("audit.db")),
                ),
            ]
            .into_iter()
            .collect(),
        }
    }

    #[test]
    fn sql_statements_and_files_run_in_order() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let rc = rc(dir.path());
        let file: PathBuf = dir.path().join("m.sql");
        std::fs::write(
            &file,
            "CREATE TABLE a (v TEXT); INSERT INTO a VALUES ('x');",
        )?;
        run_sql(
            &rc,
            &[
                "CREATE TABLE t (v INTEGER)".to_owned(),
                "INSERT INTO t VALUES (7)".to_owned(),
                format!("@{}:audit", file.display()),
            ],
        )?;
        let db = Connection::open(dir.path().join("db.db"))?;
        let v: i64 = db.query_row("SELECT v FROM t", [], |r| r.get(0))?;
        assert_eq!(v, 7);
        let audit = Connection::open(dir.path().join("audit.db"))?;
        let a: String = audit.query_row("SELECT v FROM a", [], |r| r.get(0))?;
        assert_eq!(a, "x");
        let e = run_sql(&rc, &["@m.sql:nope".to_owned()]).expect_err("unknown label");
        assert!(e.to_string().contains("no database named \"nope\""), "{e}");
        let e = run_sql(&rc, &["NOT SQL".to_owned()]).expect_err("bad statement");
        assert!(e.to_string().contains("NOT SQL"), "{e:#}");
        Ok(())
    }

    #[test]
    fn key_values_overwrite_in_the_default_store() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let rc = rc(dir.path());
        set_key_values(None, &rc, &[("k".to_owned(), "one".to_owned())])?;
        set_key_values(
            None,
            &rc,
            &[
                ("k".to_owned(), "two=2".to_owned()),
                ("j".to_owned(), String::new()),
            ],
        )?;
        let db = Connection::open(dir.path().join("kv.db"))?;
        let v: Vec<u8> = db.query_row(
            "SELECT value FROM spin_key_value WHERE store = 'default' AND key = 'k'",
            [],
            |r| r.get(0),
        )?;
        assert_eq!(v, b"two=2");
        assert_eq!(
            parse_pair("a=b=c", "--key-value")?,
            ("a".into(), "b=c".into())
        );
        assert!(parse_pair("novalue", "--key-value").is_err());
        assert!(parse_pair("=v", "--key-value").is_err());
        Ok(())
    }
}
