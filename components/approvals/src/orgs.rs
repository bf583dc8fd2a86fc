//! Organizations: finding the company a request joins, and the operators'
//! upkeep (create, rename, domains, merge, members).

use edgedesk_core::access::{self, email_domain, is_free_mail, name_key};
use edgedesk_core::clock::rfc3339;
use edgedesk_core::db::Row;
use edgedesk_core::paging::{Page, Paging};
use edgedesk_core::token::new_id;
use edgedesk_core::{ApiError, Random, Sql, params, validate};
use serde::Serialize;

/// Company names are one line, 2 to 120 characters.
pub const NAME_MAX: usize = 120;
/// Domains an organization may register.
pub const DOMAINS_MAX: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    pub id: String,
    pub name: String,
    pub approved: bool,
}

const ORG_COLS: &str = "id, name, state";
fn org_row(r: &Row) -> Result<Org, ApiError> {
    Ok(Org {
        id: r.text(0)?,
        name: r.text(1)?,
        approved: r.text(2)? == "approved",
    })
}

fn one(sql: &dyn Sql, query: &str, value: &str) -> Result<Option<Org>, ApiError> {
    sql.execute(query, params![value])?
        .first()
        .map(org_row)
        .transpose()
}

pub fn by_id(sql: &dyn Sql, id: &str) -> Result<Option<Org>, ApiError> {
    one(
        sql,
        &format!("SELECT {ORG_COLS} FROM organizations WHERE id = ?"),
        id,
    )
}

fn by_name_key(sql: &dyn Sql, key: &str) -> Result<Option<Org>, ApiError> {
    one(
        sql,
        &format!("SELECT {ORG_COLS} FROM organizations WHERE name_key = ?"),
        key,
    )
}

fn by_domain(sql: &dyn Sql, domain: &str) -> Result<Option<Org>, ApiError> {
    one(
        sql,
        "SELECT o.id, o.name, o.state FROM organization_domains d \
         JOIN organizations o ON o.id = d.organization_id WHERE d.domain = ?",
        domain,
    )
}

/// The organization a request for `company_name` from `email` joins: the one
/// whose name matches (case- and space-insensitive), else the one that
/// registered the address's domain (never a free-mail domain).
pub fn find_for_request(
    sql: &dyn Sql,
    company_name: &str,
    email: &str,
) -> Result<Option<Org>, ApiError> {
    if let Some(o) = by_name_key(sql, &name_key(company_name))? {
        return Ok(Some(o));
    }
    match email_domain(email) {
        Some(d) if !is_free_mail(&d) => by_domain(sql, &d),
        _ => Ok(None),
    }
}

/// A checked company name.
pub fn clean_name(field: &str, name: &str) -> Result<String, ApiError> {
    // Collapse runs of spaces: "ACME   Corp" is stored as "ACME Corp".
    let v = validate::line(field, name, 2, NAME_MAX)?;
    Ok(v.split_whitespace().collect::<Vec<_>>().join(" "))
}

const INSERT_ORG: &str = "INSERT INTO organizations (id, name, name_key, state, created_at, \
     updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)";

/// Creates an organization; `409 name_taken` when the name matches another.
pub fn create(
    sql: &dyn Sql,
    rng: &dyn Random,
    name: &str,
    approved: bool,
    now: i64,
) -> Result<Org, ApiError> {
    if by_name_key(sql, &name_key(name))?.is_some() {
        return Err(name_taken());
    }
    let id = new_id(rng);
    let state = if approved { "approved" } else { "pending" };
    sql.execute(
        INSERT_ORG,
        params![id.as_str(), name, name_key(name), state, now],
    )?;
    Ok(Org {
        id,
        name: name.to_owned(),
        approved,
    })
}

fn name_taken() -> ApiError {
    ApiError::conflict("name_taken", "Another organization already has this name.")
}

/// One person as pages show them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Person {
    pub id: String,
    pub username: String,
    pub full_name: String,
    pub email: String,
}

pub fn person_row(r: &Row, at: usize) -> Result<Person, ApiError> {
    Ok(Person {
        id: r.text(at)?,
        username: r.text(at + 1)?,
        full_name: r.text(at + 2)?,
        email: r.text(at + 3)?,
    })
}

/// A member and their access.
#[derive(Debug, Clone, Serialize)]
pub struct Member {
    #[serde(flatten)]
    pub person: Person,
    pub access: String,
    pub since: String,
}

const MEMBERS: &str = "SELECT u.id, u.username, u.full_name, u.email, m.access, m.updated_at \
     FROM memberships m JOIN users u ON u.id = m.user_id \
     WHERE m.organization_id = ?1 AND (?2 = 0 OR m.access = 'approved') \
     ORDER BY u.full_name COLLATE NOCASE, u.id";

/// The organization's members (only approved ones unless `with_pending`).
pub fn members(sql: &dyn Sql, id: &str, with_pending: bool) -> Result<Vec<Member>, ApiError> {
    let rows = sql.execute(MEMBERS, params![id, i64::from(!with_pending)])?;
    rows.rows
        .iter()
        .map(|r| {
            Ok(Member {
                person: person_row(r, 0)?,
                access: r.text(4)?,
                since: rfc3339(r.i64(5)?),
            })
        })
        .collect()
}

pub fn domains(sql: &dyn Sql, id: &str) -> Result<Vec<String>, ApiError> {
    let rows = sql.execute(
        "SELECT domain FROM organization_domains WHERE organization_id = ? ORDER BY domain",
        params![id],
    )?;
    rows.rows
        .iter()
        .map(|r| r.text(0).map_err(Into::into))
        .collect()
}

/// An organization in the operators' list.
#[derive(Debug, Serialize)]
pub struct OrgSummary {
    pub id: String,
    pub name: String,
    pub state: String,
    pub domains: Vec<String>,
    pub member_count: i64,
    pub pending_count: i64,
    pub created_at: String,
}

const LIST: &str = "SELECT o.id, o.name, o.state, o.created_at, \
     (SELECT count(*) FROM memberships m WHERE m.organization_id = o.id AND m.access = 'approved'), \
     (SELECT count(*) FROM memberships m WHERE m.organization_id = o.id AND m.access = 'pending') \
     FROM organizations o WHERE ?1 = '' OR o.name_key LIKE '%' || ?1 || '%' ESCAPE '\\' \
     ORDER BY o.name COLLATE NOCASE, o.id";
const COUNT: &str = "SELECT count(*) FROM organizations o \
     WHERE ?1 = '' OR o.name_key LIKE '%' || ?1 || '%' ESCAPE '\\'";

/// Escapes `%`, `_` and `\` for a LIKE pattern.
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Organizations whose name contains `q` (case- and space-insensitive).
pub fn list(sql: &dyn Sql, q: &str, paging: &Paging) -> Result<Page<OrgSummary>, ApiError> {
    let needle = like_escape(&name_key(q));
    let rows = sql.execute(
        &format!("{LIST} {}", paging.sql_limit()),
        params![needle.as_str()],
    )?;
    let mut items = Vec::with_capacity(rows.rows.len());
    for r in &rows.rows {
        let id = r.text(0)?;
        items.push(OrgSummary {
            domains: domains(sql, &id)?,
            id,
            name: r.text(1)?,
            state: r.text(2)?,
            created_at: rfc3339(r.i64(3)?),
            member_count: r.i64(4)?,
            pending_count: r.i64(5)?,
        });
    }
    let total = sql.execute(COUNT, params![needle.as_str()])?;
    let total = total.first().map(|r| r.i64(0)).transpose()?.unwrap_or(0);
    Ok(paging.list(items, total))
}

/// Renames an organization (`409 name_taken` when another has the name).
pub fn rename(sql: &dyn Sql, id: &str, name: &str, now: i64) -> Result<(), ApiError> {
    if let Some(other) = by_name_key(sql, &name_key(name))?
        && other.id != id
    {
        return Err(name_taken());
    }
    sql.execute(
        "UPDATE organizations SET name = ?2, name_key = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, name, name_key(name), now],
    )?;
    Ok(())
}

/// A checked, lowercased email domain an organization may register.
pub fn clean_domain(d: &str) -> Result<String, ApiError> {
    let d = d.trim().trim_start_matches('@').to_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if d.len() > 253 || !d.contains('.') || !d.split('.').all(label_ok) {
        return Err(ApiError::invalid(
            "domains",
            "invalid_domain",
            "Enter domains such as example.com.",
        ));
    }
    if is_free_mail(&d) {
        return Err(ApiError::invalid(
            "domains",
            "free_mail_domain",
            format!("{d} is a free-mail provider: anyone can have an address there."),
        ));
    }
    Ok(d)
}

/// Replaces the organization's domains (`409 domain_taken` when another
/// organization has one of them).
pub fn set_domains(sql: &dyn Sql, id: &str, list: &[String]) -> Result<Vec<String>, ApiError> {
    if list.len() > DOMAINS_MAX {
        return Err(ApiError::invalid(
            "domains",
            "too_many",
            format!("At most {DOMAINS_MAX} domains."),
        ));
    }
    let mut clean = list
        .iter()
        .map(|d| clean_domain(d))
        .collect::<Result<Vec<_>, _>>()?;
    clean.sort();
    clean.dedup();
    for d in &clean {
        if let Some(o) = by_domain(sql, d)?
            && o.id != id
        {
            return Err(ApiError::conflict(
                "domain_taken",
                format!("{d} already belongs to another organization."),
            ));
        }
    }
    sql.execute(
        "DELETE FROM organization_domains WHERE organization_id = ?",
        params![id],
    )?;
    for d in &clean {
        sql.execute(
            "INSERT INTO organization_domains (domain, organization_id) VALUES (?, ?)",
            params![d.as_str(), id],
        )?;
    }
    Ok(clean)
}

/// Moves everything of `from` into `into` and deletes `from`: members keep
/// their access (approved wins), requests and domains follow.
pub fn merge(sql: &dyn Sql, from: &str, into: &str, now: i64) -> Result<(), ApiError> {
    for stmt in [
        "UPDATE memberships SET organization_id = ?2, updated_at = ?3 WHERE organization_id = ?1",
        "UPDATE access_requests SET organization_id = ?2 WHERE organization_id = ?1 AND ?3 >= 0",
        "UPDATE organization_domains SET organization_id = ?2 WHERE organization_id = ?1 AND ?3 >= 0",
        "UPDATE organizations SET state = 'approved', updated_at = ?3 WHERE id = ?2 AND \
         EXISTS (SELECT 1 FROM memberships WHERE organization_id = ?2 AND access = 'approved')",
        // Requests shared with the old organization stay shared with its
        // people (the one write here to a table the tickets component owns).
        "UPDATE tickets SET organization_id = ?2 WHERE organization_id = ?1 AND ?3 >= 0",
        "DELETE FROM organizations WHERE id = ?1 AND ?2 <> ?1 AND ?3 >= 0",
    ] {
        sql.execute(stmt, params![from, into, now])?;
    }
    Ok(())
}

/// Adds a customer (by username or email) to the organization as an approved
/// member, moving them from any other; returns who it was.
pub fn add_member(
    sql: &dyn Sql,
    id: &str,
    login: &str,
    by: &str,
    now: i64,
) -> Result<Person, ApiError> {
    let login = login.trim().to_lowercase();
    let rows = sql.execute(
        "SELECT id, username, full_name, email, role FROM users WHERE username = ?1 OR email = ?1",
        params![login.as_str()],
    )?;
    let Some(r) = rows.first() else {
        return Err(ApiError::invalid(
            "login",
            "unknown_user",
            "No account has this username or email.",
        ));
    };
    if r.text(4)? != "customer" {
        return Err(ApiError::conflict(
            "not_a_customer",
            "Operators see every request and belong to no organization.",
        ));
    }
    let p = person_row(r, 0)?;
    access::admit(sql, &p.id, id, now)?;
    // A pending request of theirs is settled by this.
    let settled = sql.execute(
        "UPDATE access_requests SET status = 'approved', decided_at = ?2, organization_id = ?3, \
         decided_by = ?4 WHERE user_id = ?1 AND status = 'pending' RETURNING id",
        params![p.id.as_str(), now, id, by],
    )?;
    for r in &settled.rows {
        crate::links::retire(sql, &r.text(0)?, now)?;
    }
    Ok(p)
}

/// Removes a member (404 when they are not in this organization).
pub fn remove_member(sql: &dyn Sql, id: &str, user_id: &str) -> Result<(), ApiError> {
    match access::membership(sql, user_id)? {
        Some(m) if m.organization_id == id => {
            access::remove_member(sql, user_id)?;
            Ok(())
        }
        _ => Err(ApiError::NotFound),
    }
}
