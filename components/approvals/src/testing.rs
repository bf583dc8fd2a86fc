//! Test fixtures: an in-memory database at a fixed time, with people in it.
#![allow(clippy::unwrap_used)]

use edgedesk_core::clock::FixedClock;
use edgedesk_core::migrate::ensure_schema;
use edgedesk_core::native::NativeSql;
use edgedesk_core::random::OsRandom;
use edgedesk_core::{Sql, params};

use crate::env::Env;

pub struct World {
    pub db: NativeSql,
    pub clock: FixedClock,
}

impl World {
    pub fn new() -> Self {
        let db = NativeSql::memory();
        ensure_schema(&db).unwrap();
        Self {
            db,
            clock: FixedClock::at(1_795_262_400),
        }
    }

    pub fn env(&self) -> Env<'_> {
        Env {
            sql: &self.db,
            clock: &self.clock,
            rng: &OsRandom,
            portal_name: "EdgeDesk Service Desk".into(),
            base_url: "http://127.0.0.1:3000".into(),
            address: "10.0.0.1".into(),
        }
    }

    /// Adds a user `id` with email `<id>@<domain>` and `role`.
    pub fn user(&self, id: &str, domain: &str, role: &str) {
        self.db
            .execute(
                "INSERT INTO users (id, username, email, full_name, password_hash, role, \
                 email_confirmed_at, created_at, updated_at) \
                 VALUES (?1, ?1, ?1 || '@' || ?2, 'Name ' || ?1, 'h', ?3, 0, 0, 0)",
                params![id, domain, role],
            )
            .unwrap();
    }

    /// Mail queued so far: (kind, to, subject).
    pub fn mails(&self) -> Vec<(String, String, String)> {
        self.db
            .execute(
                "SELECT kind, to_addr, subject FROM outbox ORDER BY rowid",
                &[],
            )
            .unwrap()
            .rows
            .iter()
            .map(|r| (r.text(0).unwrap(), r.text(1).unwrap(), r.text(2).unwrap()))
            .collect()
    }
}
