//! Requests: raising one, reading one as a given viewer, and who may see it.
//!
//! Who sees a request: operators; its reporter; its participants; and, when it
//! is shared, the approved members of its organization. Anyone else gets 404
//! everywhere (pages, lists, comments, ratings, mute, share), so keys cannot be
//! probed.

use edgedesk_core::access::Viewer;
use edgedesk_core::clock::rfc3339;
use edgedesk_core::db::Row;
use edgedesk_core::token::new_id;
use edgedesk_core::{ApiError, Sql, params, validate};
use serde::Serialize;
use serde_json::{Value as Json, json};

use crate::env::Env;
use crate::{search, types};

pub const SUMMARY_MAX: usize = 255;
pub const DESCRIPTION_MAX: usize = 32_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub id: String,
    pub number: i64,
    pub request_type_id: String,
    pub summary: String,
    pub description: String,
    pub status: String,
    pub resolution: Option<String>,
    pub visibility: String,
    pub customer_id: String,
    pub raised_by: String,
    pub organization_id: Option<String>,
    pub assignee_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_activity_at: i64,
    pub waiting_since: Option<i64>,
}

pub const COLS: &str = "t.id, t.number, t.request_type_id, t.summary, t.description, t.status, \
     t.resolution, t.visibility, t.customer_id, t.raised_by, t.organization_id, t.assignee_id, \
     t.created_at, t.updated_at, t.last_activity_at, t.waiting_since";

pub fn from_row(r: &Row) -> Result<Ticket, ApiError> {
    Ok(Ticket {
        id: r.text(0)?,
        number: r.i64(1)?,
        request_type_id: r.text(2)?,
        summary: r.text(3)?,
        description: r.text(4)?,
        status: r.text(5)?,
        resolution: r.opt_text(6)?,
        visibility: r.text(7)?,
        customer_id: r.text(8)?,
        raised_by: r.text(9)?,
        organization_id: r.opt_text(10)?,
        assignee_id: r.opt_text(11)?,
        created_at: r.i64(12)?,
        updated_at: r.i64(13)?,
        last_activity_at: r.i64(14)?,
        waiting_since: r.opt_i64(15)?,
    })
}

pub fn by_number(sql: &dyn Sql, number: i64) -> Result<Option<Ticket>, ApiError> {
    let rows = sql.execute(
        &format!("SELECT {COLS} FROM tickets t WHERE t.number = ?"),
        params![number],
    )?;
    rows.first().map(from_row).transpose()
}

pub fn is_participant(sql: &dyn Sql, ticket_id: &str, user_id: &str) -> Result<bool, ApiError> {
    let rows = sql.execute(
        "SELECT 1 FROM ticket_participants WHERE ticket_id = ? AND user_id = ?",
        params![ticket_id, user_id],
    )?;
    Ok(!rows.is_empty())
}

/// True when `viewer` may see `t`.
pub fn can_see(sql: &dyn Sql, viewer: &Viewer, t: &Ticket) -> Result<bool, ApiError> {
    match viewer {
        Viewer::Operator { .. } => Ok(true),
        Viewer::Customer {
            user_id,
            organization_id,
        } => Ok(t.customer_id == *user_id
            || (t.visibility == "organization"
                && t.organization_id.as_deref() == Some(organization_id.as_str()))
            || is_participant(sql, &t.id, user_id)?),
    }
}

/// The request behind `key` if the viewer may see it; 404 otherwise (also for
/// keys that are not this desk's).
pub fn visible(env: &Env<'_>, viewer: &Viewer, key: &str) -> Result<Ticket, ApiError> {
    let number = env.parse_key(key).ok_or(ApiError::NotFound)?;
    let t = by_number(env.sql, number)?.ok_or(ApiError::NotFound)?;
    if can_see(env.sql, viewer, &t)? {
        Ok(t)
    } else {
        Err(ApiError::NotFound)
    }
}

/// What a new request says.
#[derive(Debug, Clone)]
pub struct NewTicket<'a> {
    pub request_type: &'a str,
    pub summary: &'a str,
    pub description: &'a str,
    pub visibility: &'a str,
    /// Who it is for.
    pub customer_id: &'a str,
    /// Their organization (shared requests are visible to its members).
    pub organization_id: Option<&'a str>,
    pub raised_by: &'a str,
}

pub fn check_visibility(v: &str) -> Result<&'static str, ApiError> {
    match v {
        "private" => Ok("private"),
        "organization" => Ok("organization"),
        _ => Err(ApiError::invalid(
            "visibility",
            "invalid_visibility",
            "Use private or organization.",
        )),
    }
}

pub fn clean_summary(s: &str) -> Result<String, ApiError> {
    validate::line("summary", s, 1, SUMMARY_MAX)
}

pub fn clean_description(s: &str) -> Result<String, ApiError> {
    validate::text("description", s, 0, DESCRIPTION_MAX)
}

/// Takes the next number, and keeps the key's head the kept first pages
/// are written with (migration 0018: a trigger cannot read the prefix).
const NEXT_NUMBER: &str = "UPDATE ticket_sequence SET last = last + 1, list_head = ?1 \
     WHERE name = 'tickets' RETURNING last";
const INSERT: &str = "INSERT INTO tickets (id, number, request_type_id, summary, description, \
     status, visibility, customer_id, raised_by, organization_id, created_at, updated_at, \
     last_activity_at, waiting_since) \
     VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, ?7, ?8, ?9, ?10, ?10, ?10, ?10)";

/// A new request's topic and text, checked: what [`insert_checked`] stores.
#[derive(Debug, Clone)]
pub struct Checked {
    pub request_type_id: String,
    pub summary: String,
    pub description: String,
    pub visibility: &'static str,
}

impl NewTicket<'_> {
    /// Checks topic, text and visibility (one read: the topic). A raise does
    /// this before its write transaction, so invalid input never waits for
    /// the write lock and the lock is not held for the read.
    pub fn check(&self, sql: &dyn Sql) -> Result<Checked, ApiError> {
        let t = types::for_new_request(sql, self.request_type)?;
        let summary = clean_summary(self.summary)?;
        let description = clean_description(self.description)?;
        let visibility = check_visibility(self.visibility)?;
        if visibility == "organization" && self.organization_id.is_none() {
            return Err(ApiError::invalid(
                "visibility",
                "no_organization",
                "There is no organization to share this request with.",
            ));
        }
        Ok(Checked {
            request_type_id: t.id,
            summary,
            description,
            visibility,
        })
    }
}

/// Checks and inserts a request inside the caller's transaction.
pub fn insert(env: &Env<'_>, n: &NewTicket<'_>) -> Result<Ticket, ApiError> {
    insert_checked(env, n, n.check(env.sql)?)
}

/// Inserts a request checked by `n.check` inside the caller's transaction:
/// the number comes from one UPDATE … RETURNING on the sequence row, so
/// concurrent creations get consecutive numbers with no gap (a rolled-back
/// creation gives its number back).
pub fn insert_checked(
    env: &Env<'_>,
    n: &NewTicket<'_>,
    checked: Checked,
) -> Result<Ticket, ApiError> {
    let Checked {
        request_type_id,
        summary,
        description,
        visibility,
    } = checked;
    let sql = env.sql;
    let number = sql
        .execute(NEXT_NUMBER, params![list_row_head(&env.prefix)])?
        .first()
        .ok_or_else(|| ApiError::internal("ticket sequence row missing"))?
        .i64(0)?;
    let id = new_id(env.rng);
    let now = env.now();
    sql.execute(
        INSERT,
        params![
            id.as_str(),
            number,
            request_type_id.as_str(),
            summary.as_str(),
            description.as_str(),
            visibility,
            n.customer_id,
            n.raised_by,
            n.organization_id,
            now
        ],
    )?;
    add_participant(sql, &id, n.customer_id, now)?;
    search::index_ticket(sql, number, &env.key(number), &summary, &description)?;
    // The row as `INSERT` wrote it, without reading it back inside the write
    // lock (`a_new_request_is_the_row_stored` pins the two together).
    Ok(Ticket {
        id,
        number,
        request_type_id,
        summary,
        description,
        status: "open".into(),
        resolution: None,
        visibility: visibility.to_owned(),
        customer_id: n.customer_id.to_owned(),
        raised_by: n.raised_by.to_owned(),
        organization_id: n.organization_id.map(str::to_owned),
        assignee_id: None,
        created_at: now,
        updated_at: now,
        last_activity_at: now,
        waiting_since: Some(now),
    })
}

pub fn add_participant(
    sql: &dyn Sql,
    ticket_id: &str,
    user_id: &str,
    now: i64,
) -> Result<(), ApiError> {
    sql.execute(
        "INSERT INTO ticket_participants (ticket_id, user_id, muted, added_at) VALUES (?, ?, 0, ?) \
         ON CONFLICT DO NOTHING",
        params![ticket_id, user_id, now],
    )?;
    Ok(())
}

/// Someone as pages show them.
pub fn person(sql: &dyn Sql, user_id: &str) -> Result<Json, ApiError> {
    let rows = sql.execute(
        "SELECT username, full_name, role FROM users WHERE id = ?",
        params![user_id],
    )?;
    match rows.first() {
        Some(r) => person_at(r, user_id, 0),
        None => Ok(removed_person(user_id)),
    }
}

/// [`person`] from `username, full_name, role` at column `at` of a row that
/// left-joined `users` (a removed person's are null).
pub fn person_at(r: &Row, user_id: &str, at: usize) -> Result<Json, ApiError> {
    Ok(match r.opt_text(at)? {
        Some(username) => json!({
            "id": user_id,
            "username": username,
            "full_name": r.text(at + 1)?,
            "operator": r.text(at + 2)? != "customer",
        }),
        None => removed_person(user_id),
    })
}

fn removed_person(user_id: &str) -> Json {
    json!({ "id": user_id, "full_name": "(removed)", "operator": false })
}

/// A request's columns ([`COLS`]) followed by the names its views show: topic,
/// reporter, organization and assignee, read in the same query (lists would
/// otherwise pay four queries a row).
pub const SUMMARY_COLS: &str = "t.id, t.number, t.request_type_id, t.summary, t.description, \
     t.status, t.resolution, t.visibility, t.customer_id, t.raised_by, t.organization_id, \
     t.assignee_id, t.created_at, t.updated_at, t.last_activity_at, t.waiting_since, \
     rt.key, rt.name, u.username, u.full_name, u.role, o.name, a.username, a.full_name, a.role";
/// A page of list rows as one JSON text, without its brackets: the rows a
/// subquery yields as `r`, joined in the order it yields them. Each is the
/// row its request keeps ready in `tickets.list_row` (migration 0015: a
/// view builds it, triggers rebuild it whenever anything it shows changes),
/// which starts at its key's number (migration 0017). The same fields,
/// order and values as [`SummaryRow`] (`a_json_list_row_is_the_summary_row`
/// pins the two together, after every kind of change). Lists pass these on
/// as they come: building each row per read (four joins and four time
/// formats) was most of "my requests"' statement (docs/PERFORMANCE.md,
/// "Seventh pass"), and joining three texts per row to put its key in front
/// was a fifth of what was left ("Tenth pass"). Its two parameters are
/// [`list_row_head`] and [`list_row_joint`]: the key prefix is a Spin
/// variable, which is why the kept row starts after it. Migration 0018's
/// triggers write each customer's first pages in this same form (a change
/// here is a new migration for them too; `lists` tests hold the two equal).
pub const LIST_PAGE_JSON: &str = "? || group_concat(r, ?)";

/// What goes between two list rows: the comma and the next row's head.
pub fn list_row_joint(prefix: &str) -> String {
    format!(",{}", list_row_head(prefix))
}

/// What every list row starts with, up to its key's number: `{"key":"`,
/// the key prefix and `-`. The prefix is escaped here, once a list, not per
/// row by SQLite (`json_quote` and two more joins for each of a page's rows,
/// ~2% of a "my requests" answer; docs/PERFORMANCE.md, "Ninth pass").
pub fn list_row_head(prefix: &str) -> String {
    let key = serde_json::Value::String(format!("{prefix}-")).to_string();
    // `key` is the quoted string; the row goes on with the number and the
    // closing quote.
    format!("{{\"key\":{}", key.strip_suffix('"').unwrap_or(&key))
}

pub const SUMMARY_JOINS: &str = "LEFT JOIN request_types rt ON rt.id = t.request_type_id \
     LEFT JOIN users u ON u.id = t.customer_id \
     LEFT JOIN organizations o ON o.id = t.organization_id \
     LEFT JOIN users a ON a.id = t.assignee_id";

/// A request as every view shows it (list rows and the page alike),
/// serialized straight from its row. Lists used to build each row as a
/// `serde_json::Value` map and serialize it again: for "my requests" that
/// was half of the guest's CPU (docs/PERFORMANCE.md). The key comes first,
/// as lists write it ([`LIST_PAGE_JSON`]); the other fields are in
/// alphabetical order, as in migration 0015's `ticket_list_rows`.
#[derive(Debug, Serialize)]
pub struct SummaryRow {
    pub key: String,
    pub assignee: Option<PersonRef>,
    pub created_at: String,
    pub id: String,
    pub last_activity_at: String,
    pub organization: Option<OrgRef>,
    pub reporter: Option<PersonRef>,
    pub request_type: Option<TypeRef>,
    pub resolution: Option<String>,
    pub status: String,
    pub summary: String,
    pub updated_at: String,
    pub visibility: String,
    pub waiting_since: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TypeRef {
    pub id: String,
    pub key: String,
    pub name: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct OrgRef {
    pub id: String,
    pub name: String,
}

/// A person on a request; `username` is absent (not null) for a removed one.
#[derive(Debug, Serialize)]
pub struct PersonRef {
    pub full_name: String,
    pub id: String,
    pub operator: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<Option<String>>,
}

fn person_ref_at(r: &Row, id: Option<&str>, at: usize) -> Result<Option<PersonRef>, ApiError> {
    let Some(id) = id else {
        return Ok(None);
    };
    Ok(Some(match r.opt_text(at + 1)? {
        Some(full_name) => PersonRef {
            full_name,
            id: id.to_owned(),
            operator: r.opt_text(at + 2)?.is_some_and(|role| role != "customer"),
            username: Some(r.opt_text(at)?),
        },
        None => PersonRef {
            full_name: "(removed)".to_owned(),
            id: id.to_owned(),
            operator: false,
            username: None,
        },
    }))
}

/// The fields every view of a request has, from a [`SUMMARY_COLS`] row, and
/// the request itself.
pub fn summary_row(env: &Env<'_>, r: &Row) -> Result<(Ticket, SummaryRow), ApiError> {
    let t = from_row(r)?;
    let request_type = match r.opt_text(16)? {
        Some(key) => Some(TypeRef {
            id: t.request_type_id.clone(),
            key,
            name: r.opt_text(17)?,
        }),
        None => None,
    };
    let organization = match (&t.organization_id, r.opt_text(21)?) {
        (Some(id), Some(name)) => Some(OrgRef {
            id: id.clone(),
            name,
        }),
        _ => None,
    };
    let row = SummaryRow {
        key: env.key(t.number),
        assignee: person_ref_at(r, t.assignee_id.as_deref(), 22)?,
        created_at: rfc3339(t.created_at),
        id: t.id.clone(),
        last_activity_at: rfc3339(t.last_activity_at),
        organization,
        reporter: person_ref_at(r, Some(&t.customer_id), 18)?,
        request_type,
        resolution: t.resolution.clone(),
        status: t.status.clone(),
        summary: t.summary.clone(),
        updated_at: rfc3339(t.updated_at),
        visibility: t.visibility.clone(),
        waiting_since: t.waiting_since.map(rfc3339),
    };
    Ok((t, row))
}

/// [`summary_row`] as JSON, for views that add fields to it.
pub fn summary_from_row(env: &Env<'_>, r: &Row) -> Result<(Ticket, Json), ApiError> {
    let (t, row) = summary_row(env, r)?;
    let v = serde_json::to_value(row).map_err(ApiError::internal)?;
    Ok((t, v))
}

/// The fields every view of a request has (list rows and the page alike).
pub fn summary_json(env: &Env<'_>, t: &Ticket) -> Result<Json, ApiError> {
    let rows = env.sql.execute(
        &format!("SELECT {SUMMARY_COLS} FROM tickets t {SUMMARY_JOINS} WHERE t.id = ?"),
        params![t.id.as_str()],
    )?;
    let row = rows.first().ok_or(ApiError::NotFound)?;
    Ok(summary_from_row(env, row)?.1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::testing::World;

    #[test]
    fn keys_parse_only_for_this_desk() {
        let w = World::new();
        let env = w.env();
        assert_eq!(env.parse_key("SD-12"), Some(12));
        assert_eq!(env.parse_key(" sd-7 "), Some(7));
        for k in [
            "XX-1",
            "SD-",
            "SD-0",
            "SD-1a",
            "SD--1",
            "SD-+1",
            "12",
            "SD-99999999999999",
        ] {
            assert_eq!(env.parse_key(k), None, "{k}");
        }
    }

    #[test]
    fn a_new_request_is_the_row_stored() {
        let w = World::new();
        let env = w.env();
        for (visibility, org, raised_by) in
            [("private", None, "ann"), ("organization", Some("o1"), "op")]
        {
            let made = insert(
                &env,
                &NewTicket {
                    request_type: "technical-support",
                    summary: "  Site down  ",
                    description: "It is down.\r\nSince 9:00.",
                    visibility,
                    customer_id: "ann",
                    organization_id: org,
                    raised_by,
                },
            )
            .unwrap();
            assert_eq!(Some(&made), by_number(&w.db, made.number).unwrap().as_ref());
        }
    }

    #[test]
    fn numbers_are_consecutive_and_bad_input_stores_nothing() {
        let w = World::new();
        let env = w.env();
        let ok = NewTicket {
            request_type: "technical-support",
            summary: "Site down",
            description: "It is down.\nSince 9:00.",
            visibility: "private",
            customer_id: "ann",
            organization_id: Some("o1"),
            raised_by: "ann",
        };
        assert_eq!(insert(&env, &ok).unwrap().number, 1);
        let bad = NewTicket {
            summary: &"x".repeat(256),
            ..ok.clone()
        };
        let e = edgedesk_core::db::transaction(&w.db, || insert(&env, &bad)).unwrap_err();
        assert_eq!(e.public_message(), "Use at most 255 characters.");
        let t = insert(&env, &ok).unwrap();
        assert_eq!(t.number, 2);
        assert_eq!(t.description, "It is down.\nSince 9:00.");
        let e = insert(
            &env,
            &NewTicket {
                request_type: "nope",
                ..ok.clone()
            },
        )
        .unwrap_err();
        assert_eq!(e.code(), "unknown_request_type");
    }

    #[test]
    fn a_json_list_row_is_the_summary_row() {
        let w = World::new();
        let env = w.env();
        let new = |summary: &'static str, customer_id: &'static str, org: Option<&'static str>| {
            insert(
                &env,
                &NewTicket {
                    request_type: "technical-support",
                    summary,
                    description: "",
                    visibility: if org.is_some() {
                        "organization"
                    } else {
                        "private"
                    },
                    customer_id,
                    organization_id: org,
                    raised_by: customer_id,
                },
            )
            .unwrap()
        };
        new("Plain", "ann", Some("o1"));
        new(
            "Quotes \" and \\ and <script>alert(1)</script>",
            "ann",
            None,
        );
        new("Ünïcödé — 日本語 😀 \u{2028}", "bob", Some("o1"));
        let assigned = new("Assigned", "gil", Some("o2"));
        let gone = new("Reporter and assignee removed", "bob", None);
        let answered = new("Answered", "ann", Some("o1"));
        let sql = |s: &str, p: &[edgedesk_core::Value]| {
            w.db.execute(s, p).unwrap();
        };
        sql(
            "UPDATE tickets SET assignee_id = 'op' WHERE id = ?",
            params![assigned.id.as_str()],
        );
        sql(
            "UPDATE tickets SET assignee_id = 'ghost', customer_id = 'nobody' WHERE id = ?",
            params![gone.id.as_str()],
        );
        sql(
            "UPDATE tickets SET status = 'answered', resolution = 'Sent \"it\"\n', \
             waiting_since = NULL, updated_at = updated_at + 3661 WHERE id = ?",
            params![answered.id.as_str()],
        );
        // Every row as lists read it (kept in `list_row`) against the row
        // built here from a fresh join, after each kind of change.
        let check = |after: &str| {
            let rows =
                w.db.execute(
                    &format!(
                        "SELECT ? || t.list_row, {SUMMARY_COLS} FROM tickets t {SUMMARY_JOINS} \
                         ORDER BY t.number"
                    ),
                    params![list_row_head(&env.prefix)],
                )
                .unwrap();
            assert_eq!(rows.rows.len(), 6, "{after}");
            for r in &rows.rows {
                let kept = r.text(0).unwrap();
                let rest = Row(r.0[1..].to_vec());
                let made_here =
                    serde_json::to_string(&summary_row(&env, &rest).unwrap().1).unwrap();
                assert_eq!(kept, made_here, "after {after}");
            }
        };
        check("changes to the requests");
        sql(
            "UPDATE request_types SET name = 'Tech \"support\"' WHERE key = 'technical-support'",
            &[],
        );
        check("a topic renamed");
        sql(
            "UPDATE users SET full_name = 'Ann \"A\" <b>' WHERE id = 'ann'",
            &[],
        );
        sql(
            "UPDATE users SET username = 'gilbert' WHERE id = 'gil'",
            &[],
        );
        sql("UPDATE users SET role = 'admin' WHERE id = 'op'", &[]);
        check("people renamed and an operator made admin");
        sql("UPDATE users SET role = 'customer' WHERE id = 'op'", &[]);
        check("an operator made customer");
        sql("DELETE FROM users WHERE id = 'bob'", &[]);
        check("a reporter removed");
        sql(
            "INSERT INTO users (id, username, email, full_name, password_hash, role, \
             created_at, updated_at) VALUES ('ghost', 'ghost', 'g@x.test', 'Ghost', 'h', \
             'operator', 0, 0)",
            &[],
        );
        check("a missing assignee's account created");
        sql(
            "UPDATE organizations SET name = 'Acme & \"Co\"' WHERE id = 'o1'",
            &[],
        );
        check("an organization renamed");
        sql("DELETE FROM organizations WHERE id = 'o2'", &[]);
        check("an organization removed");
        sql(
            "UPDATE request_types SET key = 'tech' WHERE key = 'technical-support'",
            &[],
        );
        check("a topic's key changed");
        sql("DELETE FROM request_types WHERE key = 'tech'", &[]);
        check("a topic removed");
        sql(
            "UPDATE tickets SET status = 'closed', visibility = 'private', summary = 'New', \
             organization_id = NULL, last_activity_at = last_activity_at + 86400",
            &[],
        );
        check("every request changed at once");
    }

    #[test]
    fn a_list_row_keeps_any_key_prefix_as_text() {
        for prefix in ["SD", "S\"D", "a\\b", "Ünï </script>", "\u{1}"] {
            let row = format!("{}42\",\"status\":\"open\"}}", list_row_head(prefix));
            let v: serde_json::Value = serde_json::from_str(&row).unwrap();
            assert_eq!(v["key"], format!("{prefix}-42"), "{row}");
            assert_eq!(v["status"], "open");
        }
    }

    #[test]
    fn a_summary_names_every_field_and_a_removed_person_has_no_username() {
        let w = World::new();
        let env = w.env();
        let t = w.site_down();
        let v = summary_json(&env, &t).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "assignee",
                "created_at",
                "id",
                "key",
                "last_activity_at",
                "organization",
                "reporter",
                "request_type",
                "resolution",
                "status",
                "summary",
                "updated_at",
                "visibility",
                "waiting_since"
            ]
        );
        assert_eq!(v["key"], "SD-1");
        assert!(v["assignee"].is_null() && v["resolution"].is_null());
        assert_eq!(v["organization"]["name"], "Acme");
        assert_eq!(v["request_type"]["key"], "technical-support");
        assert_eq!(v["reporter"]["id"], "ann");
        assert_eq!(v["reporter"]["username"], "ann");
        assert_eq!(v["reporter"]["operator"], false);
        // The reporter's account is gone: the request still names them.
        w.db.execute("DELETE FROM users WHERE id = 'ann'", &[])
            .unwrap();
        let v = summary_json(&env, &t).unwrap();
        assert_eq!(v["reporter"]["full_name"], "(removed)");
        assert!(v["reporter"].get("username").is_none());
    }
}
