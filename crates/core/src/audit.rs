//! The audit log: an append-only record of security-relevant actions (sign-in
//! failures and lockouts, second-factor changes, role changes, access
//! decisions, deactivations, unlocks, admin edits).
//!
//! Every component appends with [`record`] *inside the transaction of the change
//! it records*, so an entry exists exactly when the change does. The table
//! refuses UPDATE and DELETE (triggers in migration 0007). The console reads it
//! through [`list`] (filters + `core::paging`) and [`csv`].
//!
//! Entries never hold secrets: no passwords, codes, tokens or typed login names
//! (a mistyped password in the name field would otherwise be kept for ever).

use serde::Serialize;

use crate::db::{Row, Sql, Value};
use crate::error::ApiError;
use crate::paging::{Page, Paging};
use crate::params;

/// Who did it: a signed-in person, or nobody known (an anonymous sign-in attempt).
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub id: Option<&'a str>,
    pub label: &'a str,
}

impl<'a> Actor<'a> {
    pub fn user(id: &'a str, label: &'a str) -> Self {
        Actor {
            id: Some(id),
            label,
        }
    }
    pub const ANONYMOUS: Actor<'static> = Actor {
        id: None,
        label: "anonymous",
    };
}

/// What it was done to: `user:<id>`, `request_type:<id>`, `organization:<id>`,
/// `access_request:<id>`, `outbox:<id>`, with a readable label.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub id: &'a str,
    pub label: &'a str,
}

/// Longest stored detail and label: an entry stays a line, whatever the input.
const MAX_FIELD: usize = 500;

fn clip(s: &str) -> String {
    s.chars().take(MAX_FIELD).collect()
}

const INSERT: &str = "INSERT INTO audit_log (at, actor_id, actor_label, action, target, \
     target_label, detail, address) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

/// Appends one entry. Call it inside the transaction of the change (`tx` is the
/// same connection the change is written on).
pub fn record(
    tx: &dyn Sql,
    at: i64,
    actor: Actor<'_>,
    action: &str,
    target: Target<'_>,
    detail: &str,
    address: &str,
) -> Result<(), ApiError> {
    tx.execute(
        INSERT,
        params![
            at,
            actor.id,
            clip(actor.label),
            action,
            clip(target.id),
            clip(target.label),
            clip(detail),
            clip(address)
        ],
    )?;
    Ok(())
}

/// The label of a user for entries: their username, or the id if gone.
pub fn user_label(sql: &dyn Sql, user_id: &str) -> Result<String, ApiError> {
    Ok(crate::users::contact(sql, user_id)?
        .map(|c| c.username)
        .unwrap_or_else(|| user_id.to_owned()))
}

/// One entry as the console shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Entry {
    pub id: i64,
    pub at: String,
    pub actor_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub target_label: String,
    pub detail: String,
    pub address: String,
}

/// The console's filters; all optional. `since`/`until` are Unix seconds
/// (inclusive, exclusive).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub action: Option<String>,
    pub actor: Option<String>,
    pub target: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
}

impl Filter {
    /// `WHERE …` and its parameters. `actor` matches the actor's id or label;
    /// `action` is exact or a prefix ending in `.` (`user.` = every user action).
    fn clause(&self) -> (String, Vec<Value>) {
        let mut w = vec!["1 = 1".to_owned()];
        let mut p: Vec<Value> = Vec::new();
        if let Some(a) = &self.action {
            if let Some(prefix) = a.strip_suffix('.') {
                p.push(Value::from(format!("{prefix}.")));
                p.push(Value::from(format!("{prefix}/")));
                w.push(format!(
                    "action >= ?{} AND action < ?{}",
                    p.len() - 1,
                    p.len()
                ));
            } else {
                p.push(Value::from(a.as_str()));
                w.push(format!("action = ?{}", p.len()));
            }
        }
        if let Some(a) = &self.actor {
            p.push(Value::from(a.as_str()));
            w.push(format!(
                "(actor_id = ?{n} OR actor_label = ?{n})",
                n = p.len()
            ));
        }
        if let Some(t) = &self.target {
            p.push(Value::from(t.as_str()));
            w.push(format!("target = ?{}", p.len()));
        }
        if let Some(s) = self.since {
            p.push(Value::from(s));
            w.push(format!("at >= ?{}", p.len()));
        }
        if let Some(u) = self.until {
            p.push(Value::from(u));
            w.push(format!("at < ?{}", p.len()));
        }
        (w.join(" AND "), p)
    }
}

const COLS: &str = "id, at, actor_id, actor_label, action, target, target_label, detail, address";

fn from_row(r: &Row) -> Result<Entry, ApiError> {
    Ok(Entry {
        id: r.i64(0)?,
        at: crate::clock::rfc3339(r.i64(1)?),
        actor_id: r.opt_text(2)?,
        actor: r.text(3)?,
        action: r.text(4)?,
        target: r.text(5)?,
        target_label: r.text(6)?,
        detail: r.text(7)?,
        address: r.text(8)?,
    })
}

/// Newest first, one page. The count is capped (`COUNT_CAP`): an unfiltered
/// log of millions of entries must not be counted on every page view.
pub fn list(sql: &dyn Sql, f: &Filter, paging: &Paging) -> Result<Page<Entry>, ApiError> {
    let (w, p) = f.clause();
    let rows = sql.execute(
        &format!(
            "SELECT {COLS} FROM audit_log WHERE {w} ORDER BY id DESC {}",
            paging.sql_limit()
        ),
        &p,
    )?;
    let items = rows
        .rows
        .iter()
        .map(from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let total = sql
        .execute(
            &format!("SELECT count(*) FROM (SELECT 1 FROM audit_log WHERE {w} LIMIT {COUNT_CAP})"),
            &p,
        )?
        .first()
        .map(|r| r.i64(0))
        .transpose()?
        .unwrap_or(0);
    Ok(paging.list(items, total))
}

/// Totals above this are reported as this (the console says "10,000+").
pub const COUNT_CAP: i64 = 10_000;

/// Most rows one CSV export holds (newest first); narrow the filter for more.
pub const CSV_MAX_ROWS: i64 = 50_000;

/// The filtered log as CSV (RFC 4180), newest first, at most [`CSV_MAX_ROWS`].
pub fn csv(sql: &dyn Sql, f: &Filter) -> Result<String, ApiError> {
    let (w, p) = f.clause();
    let rows = sql.execute(
        &format!("SELECT {COLS} FROM audit_log WHERE {w} ORDER BY id DESC LIMIT {CSV_MAX_ROWS}"),
        &p,
    )?;
    let mut out =
        String::from("id,at,actor_id,actor,action,target,target_label,detail,address\r\n");
    for r in &rows.rows {
        let e = from_row(r)?;
        let fields = [
            e.id.to_string(),
            e.at,
            e.actor_id.unwrap_or_default(),
            e.actor,
            e.action,
            e.target,
            e.target_label,
            e.detail,
            e.address,
        ];
        let line: Vec<String> = fields.iter().map(|v| csv_field(v)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    Ok(out)
}

/// One CSV field: quoted when needed (RFC 4180), and a leading `=`, `+`, `-`,
/// `@` (a formula to spreadsheets) is defused with a `'`: names and details
/// come from users.
pub fn csv_field(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}")
    } else {
        v.to_owned()
    };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// `2026-11-29` (midnight UTC) or an RFC 3339 time, as Unix seconds.
pub fn parse_time(s: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t.unix_timestamp());
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &fmt)
        .ok()
        .map(|d| d.midnight().assume_utc().unix_timestamp())
}

#[cfg(all(test, feature = "native"))]
#[allow(clippy::unwrap_used)] // test helpers: a failing unwrap is a failing test
mod tests {
    use super::*;
    use crate::migrate::ensure_schema;
    use crate::native::NativeSql;

    fn db() -> NativeSql {
        let db = NativeSql::memory();
        ensure_schema(&db).unwrap();
        db
    }

    fn add(db: &NativeSql, at: i64, actor: Actor<'_>, action: &str, target: &str) {
        let t = Target {
            id: target,
            label: "ada",
        };
        record(db, at, actor, action, t, "why, \"quoted\"", "10.0.0.1").unwrap();
    }

    #[test]
    fn entries_are_listed_newest_first_and_filtered() {
        let db = db();
        let op = Actor::user("u-op", "opal");
        add(
            &db,
            100,
            Actor::ANONYMOUS,
            "auth.login_failed",
            "user:u-ada",
        );
        add(&db, 200, op, "user.unlock", "user:u-ada");
        add(&db, 300, op, "user.role", "user:u-bob");
        let all = list(
            &db,
            &Filter::default(),
            &Paging {
                page: 1,
                per_page: 2,
            },
        )
        .unwrap();
        assert_eq!(all.total, 3);
        let actions: Vec<&str> = all.items.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["user.role", "user.unlock"]);
        let f = Filter {
            action: Some("user.".into()),
            target: Some("user:u-ada".into()),
            ..Filter::default()
        };
        let p = list(
            &db,
            &f,
            &Paging {
                page: 1,
                per_page: 25,
            },
        )
        .unwrap();
        assert_eq!(p.total, 1);
        assert_eq!(p.items[0].actor, "opal");
        let f = Filter {
            actor: Some("opal".into()),
            since: Some(250),
            ..Filter::default()
        };
        assert_eq!(
            list(
                &db,
                &f,
                &Paging {
                    page: 1,
                    per_page: 25
                }
            )
            .unwrap()
            .items[0]
                .action,
            "user.role"
        );
        let f = Filter {
            until: Some(150),
            ..Filter::default()
        };
        let p = list(
            &db,
            &f,
            &Paging {
                page: 1,
                per_page: 25,
            },
        )
        .unwrap();
        assert_eq!(p.items[0].actor_id, None);
    }

    #[test]
    fn the_log_cannot_be_rewritten() {
        let db = db();
        add(&db, 1, Actor::ANONYMOUS, "auth.login_failed", "user:x");
        assert!(
            db.execute("UPDATE audit_log SET action = 'x'", &[])
                .is_err()
        );
        assert!(db.execute("DELETE FROM audit_log", &[]).is_err());
        assert_eq!(
            list(
                &db,
                &Filter::default(),
                &Paging {
                    page: 1,
                    per_page: 5
                }
            )
            .unwrap()
            .total,
            1
        );
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let db = db();
        let actor = Actor::user("u1", "=cmd|' /C calc'!A0");
        add(&db, 1, actor, "user.role", "user:u2");
        let text = csv(&db, &Filter::default()).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("id,at,actor_id,actor,action,target,target_label,detail,address")
        );
        let line = lines.next().unwrap();
        assert!(line.contains(",'=cmd|' /C calc'!A0,"), "{line}");
        assert!(line.contains(",\"why, \"\"quoted\"\"\","), "{line}");
        assert_eq!(csv_field("-1"), "'-1");
        assert_eq!(csv_field("plain"), "plain");
    }
}
