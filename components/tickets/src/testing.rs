//! Test fixtures: an in-memory database at a fixed time with Acme (Ann, Bob),
//! Globex (Gil) and an operator.
#![allow(clippy::unwrap_used)]

use edgedesk_core::access::{Access, set_member};
use edgedesk_core::clock::FixedClock;
use edgedesk_core::keys::LinkKeys;
use edgedesk_core::migrate::ensure_schema;
use edgedesk_core::native::NativeSql;
use edgedesk_core::random::OsRandom;
use edgedesk_core::{Sql, params};

use crate::env::Env;
use crate::tickets::{NewTicket, Ticket, insert};

pub struct World {
    pub db: NativeSql,
    pub clock: FixedClock,
}

impl World {
    pub fn new() -> Self {
        let db = NativeSql::memory();
        ensure_schema(&db).unwrap();
        for (id, org) in [("o1", "Acme"), ("o2", "Globex")] {
            db.execute(
                "INSERT INTO organizations (id, name, name_key, state, created_at, updated_at) \
                 VALUES (?1, ?2, lower(?2), 'approved', 0, 0)",
                params![id, org],
            )
            .unwrap();
        }
        for (id, role, org) in [
            ("ann", "customer", Some("o1")),
            ("bob", "customer", Some("o1")),
            ("gil", "customer", Some("o2")),
            ("op", "operator", None),
        ] {
            db.execute(
                "INSERT INTO users (id, username, email, full_name, password_hash, role, \
                 created_at, updated_at) VALUES (?1, ?1, ?1 || '@x.test', 'Name ' || ?1, 'h', ?2, 0, 0)",
                params![id, role],
            )
            .unwrap();
            if let Some(o) = org {
                set_member(&db, id, o, Access::Approved, 0).unwrap();
            }
        }
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
            prefix: "SD".into(),
            links: std::cell::OnceCell::new(),
            load_links: Box::new(|| Ok(LinkKeys::new(b"test link key", None))),
            limits: Vec::new(),
        }
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

    /// SQLite's plan for `sql` with `args`, its steps joined with "; ".
    pub fn plan(&self, sql: &str, args: &[edgedesk_core::Value]) -> String {
        self.db
            .execute(&format!("EXPLAIN QUERY PLAN {sql}"), args)
            .unwrap()
            .rows
            .iter()
            .map(|r| r.text(3).unwrap())
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Ann's private "Site down" request (Technical Support), in Acme.
    pub fn site_down(&self) -> Ticket {
        insert(
            &self.env(),
            &NewTicket {
                request_type: "technical-support",
                summary: "Site down",
                description: "",
                visibility: "private",
                customer_id: "ann",
                organization_id: Some("o1"),
                raised_by: "ann",
            },
        )
        .unwrap()
    }
}

/// A list's rows, as its answer's body has them.
pub fn rows(page: &edgedesk_core::paging::JsonPage) -> Vec<serde_json::Value> {
    let body: serde_json::Value = serde_json::from_slice(&page.to_json()).unwrap();
    body["items"].as_array().unwrap().clone()
}

/// The keys of a list's rows, in the answer's order.
pub fn keys(page: &edgedesk_core::paging::JsonPage) -> Vec<String> {
    rows(page)
        .iter()
        .map(|row| row["key"].as_str().unwrap().to_owned())
        .collect()
}
