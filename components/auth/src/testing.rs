//! Test fixtures: an in-memory database at a fixed time.

use edgedesk_core::clock::FixedClock;
use edgedesk_core::migrate::ensure_schema;
use edgedesk_core::native::NativeSql;
use edgedesk_core::random::OsRandom;
use edgedesk_core::{Sql, params};

use crate::env::{Config, Env};

pub struct World {
    pub db: NativeSql,
    pub clock: FixedClock,
    pub cfg: Config,
}

impl World {
    pub fn new() -> Self {
        Self::with_admins("")
    }

    pub fn with_admins(admins: &str) -> Self {
        let db = NativeSql::memory();
        ensure_schema(&db).unwrap();
        Self {
            db,
            clock: FixedClock::at(1_795_262_400),
            cfg: Config::new(
                "EdgeDesk Service Desk",
                "http://127.0.0.1:3000",
                "open",
                admins,
            ),
        }
    }

    pub fn env(&self) -> Env<'_> {
        Env {
            sql: &self.db,
            clock: &self.clock,
            rng: &OsRandom,
            cfg: &self.cfg,
        }
    }

    /// The token in the newest mail's link `{base}{marker}TOKEN`.
    pub fn last_link_token(&self, marker: &str) -> String {
        let rows = self
            .db
            .execute(
                "SELECT text_body FROM outbox ORDER BY rowid DESC LIMIT 1",
                &[],
            )
            .unwrap();
        let body = rows.first().unwrap().text(0).unwrap();
        let start = body.find(marker).expect("mail has the link") + marker.len();
        body[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }

    /// A confirmed account `ada` / `ada@corp.example` with the given password.
    pub fn confirmed_user(&self, username: &str, email: &str, pw: &str) -> String {
        let hash = edgedesk_core::password::hash(pw, &OsRandom).unwrap();
        let id = format!("id-{username}");
        self.db
            .execute(
                "INSERT INTO users (id, username, email, full_name, password_hash, email_confirmed_at, \
                 terms_version, terms_accepted_at, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, 'Ada Lovelace', ?4, 1, '2026-01', 1, 1, 1)",
                params![id.as_str(), username, email, hash],
            )
            .unwrap();
        id
    }
}

/// Kinds of the queued mails, oldest first.
pub fn outbox_kinds(db: &dyn Sql) -> Vec<String> {
    db.execute("SELECT kind FROM outbox ORDER BY rowid", &[])
        .unwrap()
        .rows
        .iter()
        .map(|r| r.text(0).unwrap())
        .collect()
}
