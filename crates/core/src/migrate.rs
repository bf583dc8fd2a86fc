//! Forward-only schema migrations, embedded in order.
//!
//! Every component calls [`ensure_schema`] before touching the database: whichever
//! request comes first after a deploy migrates, under `BEGIN IMMEDIATE` so two
//! instances never apply the same step. `PRAGMA user_version` records progress.

use crate::db::{DbError, Sql, Value, transaction};

/// The migrations, in order. Append only; never edit a released one.
pub const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_foundation",
        include_str!("../../../migrations/0001_foundation.sql"),
    ),
    (
        "0002_accounts",
        include_str!("../../../migrations/0002_accounts.sql"),
    ),
    (
        "0003_twofactor",
        include_str!("../../../migrations/0003_twofactor.sql"),
    ),
    (
        "0004_organizations",
        include_str!("../../../migrations/0004_organizations.sql"),
    ),
    (
        "0005_requests",
        include_str!("../../../migrations/0005_requests.sql"),
    ),
    (
        "0006_attachments",
        include_str!("../../../migrations/0006_attachments.sql"),
    ),
    (
        "0007_console",
        include_str!("../../../migrations/0007_console.sql"),
    ),
    (
        "0008_desk_speed",
        include_str!("../../../migrations/0008_desk_speed.sql"),
    ),
    (
        "0009_mail_fanout",
        include_str!("../../../migrations/0009_mail_fanout.sql"),
    ),
    (
        "0010_outbox_bulk",
        include_str!("../../../migrations/0010_outbox_bulk.sql"),
    ),
    (
        "0011_console_summaries",
        include_str!("../../../migrations/0011_console_summaries.sql"),
    ),
    (
        "0012_list_order",
        include_str!("../../../migrations/0012_list_order.sql"),
    ),
    (
        "0013_search_contentless",
        include_str!("../../../migrations/0013_search_contentless.sql"),
    ),
    (
        "0014_my_requests_covering",
        include_str!("../../../migrations/0014_my_requests_covering.sql"),
    ),
    (
        "0015_list_rows",
        include_str!("../../../migrations/0015_list_rows.sql"),
    ),
    (
        "0016_request_counts",
        include_str!("../../../migrations/0016_request_counts.sql"),
    ),
    (
        "0017_list_rows_numbered",
        include_str!("../../../migrations/0017_list_rows_numbered.sql"),
    ),
    (
        "0018_first_pages",
        include_str!("../../../migrations/0018_first_pages.sql"),
    ),
];

fn user_version(sql: &dyn Sql) -> Result<i64, DbError> {
    sql.execute("PRAGMA user_version", &[])?
        .first()
        .map(|r| r.i64(0))
        .transpose()
        .map(|v| v.unwrap_or(0))
}

/// Splits a migration file into statements: `;` at the end of a line ends one.
/// Comment-only chunks are dropped.
pub fn statements(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in script.lines() {
        let code = line.trim();
        if code.starts_with("--") {
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
        if code.ends_with(';') {
            let s = cur.trim().trim_end_matches(';').trim().to_owned();
            if !s.is_empty() {
                out.push(s);
            }
            cur.clear();
        }
    }
    let rest = cur.trim();
    if !rest.is_empty() {
        out.push(rest.to_owned());
    }
    out
}

/// Brings the schema up to date. Cheap when it already is: one PRAGMA read.
/// The schema version this build migrates to (`PRAGMA user_version`).
pub fn version() -> i64 {
    MIGRATIONS.len() as i64
}

pub fn ensure_schema(sql: &dyn Sql) -> Result<(), DbError> {
    let target = version();
    let v = user_version(sql)?;
    if v == target {
        return Ok(());
    }
    if v > target {
        return Err(DbError::Sqlite(format!(
            "database schema version {v} is newer than this build ({target})"
        )));
    }
    if v == 0 {
        // WAL persists in the file, so real Spin benefits too; it cannot change
        // inside a transaction. A host that refuses (e.g. in-memory) is fine.
        let _ = sql.execute("PRAGMA journal_mode=WAL", &[]);
    }
    transaction(sql, || {
        // Another instance may have migrated while we waited for the lock.
        let v = user_version(sql)?;
        for (_, script) in MIGRATIONS.iter().skip(v.max(0) as usize) {
            for stmt in statements(script) {
                sql.execute(&stmt, &[])?;
            }
        }
        sql.execute(&format!("PRAGMA user_version = {target}"), &[])?;
        mark_version(sql)
    })
}

/// The `settings` row that mirrors `PRAGMA user_version`, written with it.
/// Every request with a session reads the version in its opening statement
/// (`session::open`); read through `pragma_user_version`, SQLite prepared a
/// statement of its own each time, 1.4% of the host's CPU on a "my
/// requests" answer (docs/PERFORMANCE.md, "Ninth pass"). A row costs a lookup.
pub const VERSION_SETTING: &str = "schema.version";

/// Writes [`VERSION_SETTING`] for this build's version. Migrations do it in
/// their transaction; a request whose opening statement found no row (a
/// database migrated before the row existed) does it once.
pub fn mark_version(sql: &dyn Sql) -> Result<(), DbError> {
    sql.execute(
        "INSERT INTO settings (name, value) VALUES (?1, CAST(?2 AS TEXT)) \
         ON CONFLICT(name) DO UPDATE SET value = excluded.value",
        &[Value::from(VERSION_SETTING), Value::from(version())],
    )?;
    Ok(())
}

#[cfg(all(test, feature = "native"))]
#[allow(clippy::unwrap_used)] // test helpers: a failing unwrap is a failing test
mod tests {
    use super::*;
    use crate::native::NativeSql;

    #[test]
    fn migration_count_is_pinned() {
        // Bump this together with a new file in migrations/: a migration that
        // disappears or is reordered must fail loudly.
        let names: Vec<&str> = MIGRATIONS.iter().map(|m| m.0).collect();
        assert_eq!(
            names,
            [
                "0001_foundation",
                "0002_accounts",
                "0003_twofactor",
                "0004_organizations",
                "0005_requests",
                "0006_attachments",
                "0007_console",
                "0008_desk_speed",
                "0009_mail_fanout",
                "0010_outbox_bulk",
                "0011_console_summaries",
                "0012_list_order",
                "0013_search_contentless",
                "0014_my_requests_covering",
                "0015_list_rows",
                "0016_request_counts",
                "0017_list_rows_numbered",
                "0018_first_pages"
            ]
        );
    }

    #[test]
    fn ensure_schema_applies_once_and_is_idempotent() {
        let db = NativeSql::memory();
        ensure_schema(&db).unwrap();
        assert_eq!(user_version(&db).unwrap(), MIGRATIONS.len() as i64);
        ensure_schema(&db).unwrap();
        let rows = db
            .execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name='outbox'",
                &[],
            )
            .unwrap();
        assert_eq!(rows.rows.len(), 1);
    }

    #[test]
    fn the_version_row_mirrors_user_version() {
        let db = NativeSql::memory();
        let row = || {
            db.execute(
                "SELECT CAST(value AS INTEGER) FROM settings WHERE name = ?1",
                &[Value::from(VERSION_SETTING)],
            )
            .unwrap()
            .first()
            .map(|r| r.i64(0).unwrap())
        };
        ensure_schema(&db).unwrap();
        assert_eq!(row(), Some(user_version(&db).unwrap()));
        assert_eq!(row(), Some(version()));
        // A database migrated before the row existed has none, and
        // ensure_schema (already at this version) leaves it so; the one
        // request that notices writes it.
        db.execute(
            "DELETE FROM settings WHERE name = ?1",
            &[Value::from(VERSION_SETTING)],
        )
        .unwrap();
        ensure_schema(&db).unwrap();
        assert_eq!(row(), None);
        mark_version(&db).unwrap();
        mark_version(&db).unwrap();
        assert_eq!(row(), Some(version()));
    }

    #[test]
    fn newer_database_is_refused() {
        let db = NativeSql::memory();
        db.execute("PRAGMA user_version = 999", &[]).unwrap();
        assert!(ensure_schema(&db).is_err());
    }

    #[test]
    fn statements_split_on_line_end_semicolons() {
        let s = statements("-- c\nCREATE TABLE a (x);\nCREATE INDEX i\n  ON a (x);\n");
        assert_eq!(s, vec!["CREATE TABLE a (x)", "CREATE INDEX i\n  ON a (x)"]);
    }
}
