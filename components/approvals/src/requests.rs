//! Access requests: asking to join a company, and reading requests back.
//!
//! Who may see one: the requester, approved members of its organization, and
//! operators; anyone else gets 404 (ids cannot be probed). Who may decide one:
//! the same people except the requester.

use edgedesk_core::access::{self, Access, Viewer};
use edgedesk_core::clock::rfc3339;
use edgedesk_core::db::{Row, transaction};
use edgedesk_core::outbox;
use edgedesk_core::paging::{Page, Paging};
use edgedesk_core::token::new_id;
use edgedesk_core::users::{self, Role};
use edgedesk_core::{ApiError, Sql, Value, params};
use serde::Serialize;
use serde_json::{Value as Json, json};

use crate::env::Env;
use crate::orgs::{self, Person, person_row};
use crate::{links, mail};

#[derive(Debug, Clone, Serialize)]
pub struct AccessRequest {
    pub id: String,
    pub status: String,
    pub approver: String,
    pub company_name: String,
    pub organization: Json,
    pub requester: Person,
    pub reason: Option<String>,
    pub created_at: String,
    pub decided_at: Option<String>,
    pub decided_by: Option<Person>,
    /// `pending` (by the requester), then `approved` or `declined` (by the decider).
    pub history: Vec<Json>,
    #[serde(skip)]
    pub organization_id: String,
    #[serde(skip)]
    pub organization_name: String,
}

const COLS: &str = "r.id, r.status, r.approver, r.company_name, r.organization_id, o.name, \
     r.reason, r.created_at, r.decided_at, \
     u.id, u.username, u.full_name, u.email, \
     d.id, d.username, d.full_name, d.email";
const FROM: &str = "FROM access_requests r \
     JOIN organizations o ON o.id = r.organization_id \
     JOIN users u ON u.id = r.user_id \
     LEFT JOIN users d ON d.id = r.decided_by";

fn from_row(r: &Row) -> Result<AccessRequest, ApiError> {
    let requester = person_row(r, 9)?;
    let decided_by = match r.opt_text(13)? {
        Some(_) => Some(person_row(r, 13)?),
        None => None,
    };
    let status = r.text(1)?;
    let created_at = rfc3339(r.i64(7)?);
    let decided_at = r.opt_i64(8)?.map(rfc3339);
    let mut history = vec![json!({
        "status": "pending",
        "at": created_at,
        "by": { "id": requester.id, "full_name": requester.full_name },
    })];
    if status != "pending" {
        history.push(json!({
            "status": status,
            "at": decided_at,
            "by": decided_by.as_ref().map(|p| json!({ "id": p.id, "full_name": p.full_name })),
        }));
    }
    let organization_id = r.text(4)?;
    let organization_name = r.text(5)?;
    Ok(AccessRequest {
        id: r.text(0)?,
        approver: r.text(2)?,
        company_name: r.text(3)?,
        organization: json!({ "id": organization_id, "name": organization_name }),
        reason: r.opt_text(6)?,
        created_at,
        decided_at,
        requester,
        decided_by,
        history,
        status,
        organization_id,
        organization_name,
    })
}

pub fn by_id(sql: &dyn Sql, id: &str) -> Result<Option<AccessRequest>, ApiError> {
    let rows = sql.execute(&format!("SELECT {COLS} {FROM} WHERE r.id = ?"), params![id])?;
    rows.first().map(from_row).transpose()
}

/// What the caller may do with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Right {
    None,
    See,
    Decide,
}

/// The caller's right on `r`: operators and approved members of its
/// organization decide (never their own), the requester sees.
pub fn right(sql: &dyn Sql, user_id: &str, r: &AccessRequest) -> Result<Right, ApiError> {
    if r.requester.id == user_id {
        return Ok(Right::See);
    }
    if users::role(sql, user_id)?.is_some_and(Role::is_operator) {
        return Ok(Right::Decide);
    }
    Ok(match access::membership(sql, user_id)? {
        Some(m) if m.access == Access::Approved && m.organization_id == r.organization_id => {
            Right::Decide
        }
        _ => Right::None,
    })
}

/// A request the caller may see, else 404.
pub fn visible(sql: &dyn Sql, user_id: &str, id: &str) -> Result<(AccessRequest, Right), ApiError> {
    let r = by_id(sql, id)?.ok_or(ApiError::NotFound)?;
    match right(sql, user_id, &r)? {
        Right::None => Err(ApiError::NotFound),
        rt => Ok((r, rt)),
    }
}

/// The JSON of a request for this caller (adds `can_decide`).
pub fn view(r: &AccessRequest, right: Right) -> Json {
    let mut v = serde_json::to_value(r).unwrap_or(Json::Null);
    v["can_decide"] = json!(right == Right::Decide && r.status == "pending");
    v
}

/// The answer to `POST /api/access-requests`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Created {
    pub id: String,
    pub status: &'static str,
    pub approver: &'static str,
}

const INSERT: &str = "INSERT INTO access_requests (id, user_id, organization_id, company_name, \
     approver, status, created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?)";

/// A customer asks to join a company. The first person of a company creates it
/// (pending) and waits for operators; later people wait for any approved
/// member. The answer has the same shape either way, and the requester's mail
/// says only that the request was received: a company's existence is not
/// confirmed beyond the contract's `approver` field.
pub fn create(env: &Env<'_>, user_id: &str, company_name: &str) -> Result<Created, ApiError> {
    let company = orgs::clean_name("company_name", company_name)?;
    let sql = env.sql;
    let now = env.now();
    transaction(sql, || {
        if users::role(sql, user_id)?.is_some_and(Role::is_operator) {
            return Err(ApiError::conflict(
                "not_needed",
                "Operators see every request: no company access is needed.",
            ));
        }
        match access::membership(sql, user_id)? {
            Some(m) if m.access == Access::Approved => {
                return Err(ApiError::conflict(
                    "already_member",
                    "You already have access through your company.",
                ));
            }
            Some(_) => {
                return Err(ApiError::conflict(
                    "request_pending",
                    "Your access request is still waiting for a decision.",
                ));
            }
            None => {}
        }
        let me = users::contact(sql, user_id)?.ok_or(ApiError::NotFound)?;
        let org = match orgs::find_for_request(sql, &company, &me.email)? {
            Some(o) => o,
            None => orgs::create(sql, env.rng, &company, false, now)?,
        };
        let deciders = if org.approved {
            access::approved_members(sql, &org.id)?
        } else {
            Vec::new()
        };
        let approver = if deciders.is_empty() {
            "operators"
        } else {
            "organization"
        };
        let id = new_id(env.rng);
        sql.execute(
            INSERT,
            params![
                id.as_str(),
                user_id,
                org.id.as_str(),
                company.as_str(),
                approver,
                now
            ],
        )?;
        access::set_member(sql, user_id, &org.id, Access::Pending, now)?;
        outbox::enqueue(
            sql,
            env.clock,
            env.rng,
            &mail::received(env, &me, &company, approver),
        )?;
        for member in deciders {
            let Some(to) = users::contact(sql, &member)? else {
                continue;
            };
            let token = links::issue(env, &id, &member)?;
            outbox::enqueue(
                sql,
                env.clock,
                env.rng,
                &mail::asks_to_join(env, &to, &me.full_name, &org.name, &id, &token),
            )?;
        }
        Ok(Created {
            id,
            status: "pending",
            approver,
        })
    })
}

/// Status filter: `pending` (default), `approved`, `declined` or `any`.
pub fn status_filter(v: Option<&str>) -> Result<&'static str, ApiError> {
    match v.unwrap_or("pending") {
        "" | "pending" => Ok("pending"),
        "approved" => Ok("approved"),
        "declined" => Ok("declined"),
        "any" => Ok("any"),
        _ => Err(ApiError::invalid(
            "status",
            "invalid_status",
            "Use pending, approved, declined or any.",
        )),
    }
}

/// Approver filter: `operators`, `organization` or any (empty).
pub fn approver_filter(v: Option<&str>) -> Result<&'static str, ApiError> {
    match v.unwrap_or("") {
        "" | "any" => Ok(""),
        "operators" => Ok("operators"),
        "organization" => Ok("organization"),
        _ => Err(ApiError::invalid(
            "approver",
            "invalid_approver",
            "Use operators or organization.",
        )),
    }
}

/// Requests the viewer may decide: operators all, members their organization's.
/// Newest first; each filter is backed by an index.
pub fn list(
    sql: &dyn Sql,
    viewer: &Viewer,
    status: &str,
    approver: &str,
    paging: &Paging,
) -> Result<Page<Json>, ApiError> {
    // Only the conditions in use go into the statement, so SQLite plans each
    // shape with its index (an `?1 = '' OR …` would hide it).
    let mut conds = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    if let Some(org) = viewer.organization_id() {
        conds.push("r.organization_id = ?");
        args.push(org.into());
    }
    if status != "any" {
        conds.push("r.status = ?");
        args.push(status.into());
    }
    if !approver.is_empty() {
        conds.push("r.approver = ?");
        args.push(approver.into());
    }
    let filter = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    let total = sql.execute(
        &format!("SELECT count(*) FROM access_requests r {filter}"),
        &args,
    )?;
    let total = total.first().map(|r| r.i64(0)).transpose()?.unwrap_or(0);
    let rows = sql.execute(
        &format!(
            "SELECT {COLS} {FROM} {filter} ORDER BY r.created_at DESC, r.id {}",
            paging.sql_limit()
        ),
        &args,
    )?;
    let items = rows
        .rows
        .iter()
        .map(|row| {
            let r = from_row(row)?;
            // The requester never decides their own.
            let rt = if r.requester.id == viewer.user_id() {
                Right::See
            } else {
                Right::Decide
            };
            Ok(view(&r, rt))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(paging.list(items, total))
}

/// The caller's own requests, newest first.
pub fn mine(sql: &dyn Sql, user_id: &str, paging: &Paging) -> Result<Page<Json>, ApiError> {
    let rows = sql.execute(
        &format!(
            "SELECT {COLS} {FROM} WHERE r.user_id = ?1 \
             ORDER BY r.created_at DESC, r.id {}",
            paging.sql_limit()
        ),
        params![user_id],
    )?;
    let items = rows
        .rows
        .iter()
        .map(|row| Ok(view(&from_row(row)?, Right::See)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    let total = sql.execute(
        "SELECT count(*) FROM access_requests WHERE user_id = ?",
        params![user_id],
    )?;
    let total = total.first().map(|r| r.i64(0)).transpose()?.unwrap_or(0);
    Ok(paging.list(items, total))
}
