//! The console's People pages (`/api/admin/users…`): search, a person's page,
//! and the account actions (unlock, end sessions, role, deactivate,
//! reactivate). Each action writes its audit entry in the same transaction as
//! the change (`core::audit`).
//!
//! Who may do what: operators act on customers' accounts; an account of an
//! operator or admin, and every role change, needs an admin (`403
//! admins_only`), so an operator can neither grant a role nor lock staff out.
//! The last active admin can neither lose the role nor be deactivated (`409
//! last_admin`), and nobody deactivates or demotes themselves (`409
//! not_yourself`): the console must always keep someone who can run it.

use edgedesk_core::audit::{self, Actor, Target};
use edgedesk_core::clock::rfc3339;
use edgedesk_core::db::{Row, transaction};
use edgedesk_core::paging::{Page, Paging};
use edgedesk_core::users::Role;
use edgedesk_core::{ApiError, Sql, access, params, second_factor};
use serde::Serialize;
use serde_json::{Value as Json, json};

/// The acting operator, as the audit log names them.
pub struct Operator<'a> {
    pub id: &'a str,
    pub username: &'a str,
    pub role: Role,
    pub address: &'a str,
}

impl Operator<'_> {
    fn actor(&self) -> Actor<'_> {
        Actor::user(self.id, self.username)
    }
}

/// One row of the people list.
#[derive(Debug, Serialize)]
pub struct PersonRow {
    pub id: String,
    pub username: String,
    pub email: String,
    pub full_name: String,
    pub role: String,
    pub organization: Option<String>,
    pub locked: bool,
    pub deactivated: bool,
    pub last_login_at: Option<String>,
    pub created_at: String,
}

// What a person must match: one LIKE over their names (not three) or their
// organization's name (a subquery computed once), and the role. This is
// the definition of a match; the trigram index below only narrows which
// rows are tested against it.
const MATCH_WHERE: &str = "(?1 = '' OR (u.username || ' ' || u.email || ' ' || u.full_name) LIKE ?2 ESCAPE '\\' \
       OR u.id IN (SELECT m2.user_id FROM organizations o2 JOIN memberships m2 \
                   ON m2.organization_id = o2.id WHERE ?1 <> '' AND o2.name LIKE ?2 ESCAPE '\\')) \
       AND (?3 = '' OR u.role = ?3 OR (?3 = 'staff' AND u.role <> 'customer'))";
// With 3 characters or more, the people the trigram index finds (migration
// 0011: `people_search` over the same text as the LIKE, case-folded, so a
// superset of the LIKE's matches) and the members of matching
// organizations: a rare match reads a few index entries instead of every
// person (p99 21.6 ms with 10,000 people; docs/PERFORMANCE.md).
const CANDIDATES: &str = "u.id IN (SELECT i.user_id FROM people_search \
       JOIN people_index i ON i.n = people_search.rowid WHERE people_search MATCH ?4 \
     UNION SELECT m3.user_id FROM organizations o3 JOIN memberships m3 \
       ON m3.organization_id = o3.id WHERE o3.name LIKE ?2 ESCAPE '\\')";
const LIST_JOINS: &str = "FROM users u LEFT JOIN memberships m ON m.user_id = u.id \
     LEFT JOIN organizations o ON o.id = m.organization_id";
const LIST_COLS: &str = "u.id, u.username, u.email, u.full_name, u.role, o.name, u.locked_until, \
     u.deactivated_at, u.last_login_at, u.created_at";

/// The trigram tokenizer indexes runs of three characters: a shorter text
/// cannot use it (and matches so many people that the newest-first scan
/// fills a page at once).
const TRIGRAM_MIN: usize = 3;

/// At this many index matches a search is common: the newest-first scan
/// fills a page within the first rows it reads, while the index would hand
/// over every match to be joined and sorted (`q=example`, 10,000 matches:
/// p50 111 ms through the index). Counting stops here, so the probe reads
/// at most this many index entries.
const COMMON: i64 = 300;
/// Counts a phrase's index matches up to `COMMON` (written into the text:
/// see `Paging::sql_limit` for why a LIMIT is never bound).
fn probe() -> String {
    format!(
        "SELECT count(*) FROM (SELECT 1 FROM people_search \
         WHERE people_search MATCH ?1 LIMIT {COMMON})"
    )
}

/// `q` as one FTS5 string: a phrase, i.e. a substring for the trigram
/// tokenizer, with nothing read as query syntax.
fn fts_phrase(q: &str) -> String {
    format!("\"{}\"", q.replace('"', "\"\""))
}

/// `%q%` with LIKE's wildcards taken literally.
fn like_pattern(q: &str) -> String {
    let mut out = String::from("%");
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// People matching `q` (name, username, email or organization, case-insensitive
/// substring) and `role` (`customer`, `operator`, `admin`, `staff`), newest first.
pub fn search(
    sql: &dyn Sql,
    q: &str,
    role: &str,
    paging: &Paging,
    now: i64,
) -> Result<Page<PersonRow>, ApiError> {
    let q = q.trim();
    if q.chars().count() > 100 {
        return Err(ApiError::invalid(
            "q",
            "too_long",
            "Use at most 100 characters.",
        ));
    }
    if !["", "customer", "operator", "admin", "staff"].contains(&role) {
        return Err(ApiError::invalid(
            "role",
            "invalid_role",
            "Use customer, operator, admin or staff.",
        ));
    }
    let pat = like_pattern(q);
    let (limit, offset) = paging.limit_offset();
    let phrase = fts_phrase(q);
    let indexed = q.chars().count() >= TRIGRAM_MIN
        && sql
            .execute(&probe(), params![phrase.as_str()])?
            .first()
            .map(|r| r.i64(0))
            .transpose()?
            .unwrap_or(0)
            < COMMON;
    let filter = if indexed {
        format!("{CANDIDATES} AND {MATCH_WHERE}")
    } else {
        MATCH_WHERE.to_owned()
    };
    // ?4 (the phrase) only in the indexed form: SQLite wants exactly the
    // parameters a statement names, up to the highest.
    let args = params![q, pat.as_str(), role, phrase.as_str()];
    let rows = sql.execute(
        &format!(
            "SELECT {LIST_COLS} {LIST_JOINS} WHERE {filter} \
             ORDER BY u.created_at DESC, u.id {}",
            paging.sql_limit()
        ),
        if indexed { &args[..] } else { &args[..3] },
    )?;
    let items = rows
        .rows
        .iter()
        .map(|r| {
            Ok(PersonRow {
                id: r.text(0)?,
                username: r.text(1)?,
                email: r.text(2)?,
                full_name: r.text(3)?,
                role: r.text(4)?,
                organization: r.opt_text(5)?,
                locked: r.opt_i64(6)?.is_some_and(|t| t > now),
                deactivated: r.opt_i64(7)?.is_some(),
                last_login_at: r.opt_i64(8)?.map(rfc3339),
                created_at: rfc3339(r.i64(9)?),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    // A short page that is not past the end is the end: its count is known
    // without a second pass (a one-match search costs one scan, not two).
    let short = (items.len() as i64) < limit && (offset == 0 || !items.is_empty());
    if short {
        let total = offset + items.len() as i64;
        return Ok(paging.list(items, total));
    }
    // The count needs no joins.
    let total = sql
        .execute(
            &format!("SELECT count(*) FROM users u WHERE {filter}"),
            if indexed { &args[..] } else { &args[..3] },
        )?
        .first()
        .map(|r| r.i64(0))
        .transpose()?
        .unwrap_or(0);
    Ok(paging.list(items, total))
}

/// The account fields the console needs.
struct Account {
    id: String,
    username: String,
    role: Role,
    deactivated_at: Option<i64>,
}

fn account(sql: &dyn Sql, id: &str) -> Result<Account, ApiError> {
    let rows = sql.execute(
        "SELECT id, username, role, deactivated_at FROM users WHERE id = ?1",
        params![id],
    )?;
    let r: &Row = rows.first().ok_or(ApiError::NotFound)?;
    Ok(Account {
        id: r.text(0)?,
        username: r.text(1)?,
        role: Role::parse(&r.text(2)?).unwrap_or(Role::Customer),
        deactivated_at: r.opt_i64(3)?,
    })
}

/// True when the account is deactivated (sign-in and password reset refuse it).
pub fn is_deactivated(sql: &dyn Sql, user_id: &str) -> Result<bool, ApiError> {
    let rows = sql.execute(
        "SELECT deactivated_at IS NOT NULL FROM users WHERE id = ?1",
        params![user_id],
    )?;
    Ok(rows
        .first()
        .map(|r| r.bool(0))
        .transpose()?
        .unwrap_or(false))
}

pub fn deactivated_error() -> ApiError {
    ApiError::forbidden(
        "account_deactivated",
        "This account has been deactivated. Contact the service desk if you need it again.",
    )
}

/// Records a correct password (the person page's "last sign-in").
pub fn touch_login(sql: &dyn Sql, user_id: &str, now: i64) -> Result<(), ApiError> {
    sql.execute(
        "UPDATE users SET last_login_at = ?2 WHERE id = ?1",
        params![user_id, now],
    )?;
    Ok(())
}

/// A person's page: never a secret (no hashes, no tokens, no 2FA material).
pub fn detail(sql: &dyn Sql, id: &str, now: i64) -> Result<Json, ApiError> {
    let rows = sql.execute(
        "SELECT id, username, email, full_name, phone, role, email_confirmed_at, created_at, \
         last_login_at, locked_until, deactivated_at FROM users WHERE id = ?1",
        params![id],
    )?;
    let r = rows.first().ok_or(ApiError::NotFound)?;
    let id = r.text(0)?;
    let org = access::membership(sql, &id)?.map(|m| {
        json!({ "id": m.organization_id, "name": m.organization_name, "access": m.access.as_str() })
    });
    let primary = sql
        .execute(
            "SELECT kind FROM twofactor_methods WHERE user_id = ?1 AND is_primary = 1",
            params![id.as_str()],
        )?
        .first()
        .map(|r| r.text(0))
        .transpose()?;
    let sessions = sql.execute(
        "SELECT stage, remember, created_at, last_seen_at, expires_at FROM sessions \
         WHERE user_id = ?1 AND expires_at > ?2 ORDER BY created_at DESC LIMIT 50",
        params![id.as_str(), now],
    )?;
    let sessions: Vec<Json> = sessions
        .rows
        .iter()
        .map(|s| {
            Ok(json!({
                "stage": s.text(0)?,
                "remember": s.bool(1)?,
                "created_at": rfc3339(s.i64(2)?),
                "last_seen_at": rfc3339(s.i64(3)?),
                "expires_at": rfc3339(s.i64(4)?),
            }))
        })
        .collect::<Result<_, ApiError>>()?;
    let failures = sql
        .execute(
            "SELECT failures FROM login_attempts WHERE key = ?1",
            params![format!("user:{id}")],
        )?
        .first()
        .map(|r| r.i64(0))
        .transpose()?
        .unwrap_or(0);
    let locked_until = r.opt_i64(9)?.filter(|t| *t > now);
    Ok(json!({
        "id": id,
        "username": r.text(1)?,
        "email": r.text(2)?,
        "full_name": r.text(3)?,
        "phone": r.opt_text(4)?,
        "role": r.text(5)?,
        "email_confirmed": r.opt_i64(6)?.is_some(),
        "created_at": rfc3339(r.i64(7)?),
        "last_login_at": r.opt_i64(8)?.map(rfc3339),
        "locked": locked_until.is_some(),
        "locked_until": locked_until.map(rfc3339),
        "recent_failures": failures,
        "deactivated": r.opt_i64(10)?.is_some(),
        "deactivated_at": r.opt_i64(10)?.map(rfc3339),
        "organization": org,
        "two_factor": {
            "methods": second_factor::configured_methods(sql, &id)?,
            "primary": primary,
        },
        "sessions": sessions,
    }))
}

fn admins_only() -> ApiError {
    ApiError::forbidden(
        "admins_only",
        "Only administrators may change an operator's or administrator's account.",
    )
}

/// The target account, if `op` may act on it.
fn target_for(sql: &dyn Sql, op: &Operator<'_>, id: &str) -> Result<Account, ApiError> {
    let a = account(sql, id)?;
    if a.role.is_operator() && op.role != Role::Admin {
        return Err(admins_only());
    }
    Ok(a)
}

fn target(a: &Account) -> (String, String) {
    (format!("user:{}", a.id), a.username.clone())
}

fn record(
    sql: &dyn Sql,
    op: &Operator<'_>,
    now: i64,
    action: &str,
    a: &Account,
    detail: &str,
) -> Result<(), ApiError> {
    let (t, label) = target(a);
    audit::record(
        sql,
        now,
        op.actor(),
        action,
        Target {
            id: &t,
            label: &label,
        },
        detail,
        op.address,
    )
}

/// Active admins other than `except`.
fn other_active_admins(sql: &dyn Sql, except: &str) -> Result<i64, ApiError> {
    Ok(sql
        .execute(
            "SELECT count(*) FROM users WHERE role = 'admin' AND deactivated_at IS NULL AND id <> ?1",
            params![except],
        )?
        .first()
        .map(|r| r.i64(0))
        .transpose()?
        .unwrap_or(0))
}

fn last_admin() -> ApiError {
    ApiError::conflict(
        "last_admin",
        "This is the last active administrator: make someone else an administrator first.",
    )
}

fn not_yourself() -> ApiError {
    ApiError::conflict(
        "not_yourself",
        "You cannot do this to your own account; ask another administrator.",
    )
}

/// Ends the lock of a password or second-factor lockout and forgets the
/// failures that led to it.
pub fn unlock(sql: &dyn Sql, op: &Operator<'_>, id: &str, now: i64) -> Result<(), ApiError> {
    transaction(sql, || {
        let a = target_for(sql, op, id)?;
        sql.execute(
            "UPDATE users SET locked_until = NULL, updated_at = ?2 WHERE id = ?1",
            params![a.id.as_str(), now],
        )?;
        sql.execute(
            "DELETE FROM login_attempts WHERE key = ?1",
            params![format!("user:{}", a.id)],
        )?;
        // The second factor's failure counter (twofactor's attempts.rs key).
        sql.execute(
            "DELETE FROM counters WHERE key = ?1",
            params![format!("2fa/fail/{}", a.id)],
        )?;
        record(sql, op, now, "user.unlock", &a, "")
    })
}

/// Ends every session of the account at once.
pub fn end_sessions(sql: &dyn Sql, op: &Operator<'_>, id: &str, now: i64) -> Result<i64, ApiError> {
    transaction(sql, || {
        let a = target_for(sql, op, id)?;
        let n = sql
            .execute(
                "DELETE FROM sessions WHERE user_id = ?1 RETURNING 1",
                params![a.id.as_str()],
            )?
            .rows
            .len() as i64;
        record(
            sql,
            op,
            now,
            "user.sessions_ended",
            &a,
            &format!("{n} sessions"),
        )?;
        Ok(n)
    })
}

/// Changes the role (admins only).
pub fn set_role(
    sql: &dyn Sql,
    op: &Operator<'_>,
    id: &str,
    role: &str,
    now: i64,
) -> Result<(), ApiError> {
    let Some(new) = Role::parse(role) else {
        return Err(ApiError::invalid(
            "role",
            "invalid_role",
            "Use customer, operator or admin.",
        ));
    };
    if op.role != Role::Admin {
        return Err(ApiError::forbidden(
            "admins_only",
            "Only administrators may change roles.",
        ));
    }
    transaction(sql, || {
        let a = account(sql, id)?;
        if a.role == new {
            return Ok(());
        }
        if a.id == op.id {
            return Err(not_yourself());
        }
        if a.role == Role::Admin && other_active_admins(sql, &a.id)? == 0 {
            return Err(last_admin());
        }
        sql.execute(
            "UPDATE users SET role = ?2, updated_at = ?3 WHERE id = ?1",
            params![a.id.as_str(), new.as_str(), now],
        )?;
        let detail = format!("{} -> {}", a.role.as_str(), new.as_str());
        record(sql, op, now, "user.role", &a, &detail)
    })
}

/// Deactivates the account: its sessions end in the same transaction, and
/// sign-in answers `403 account_deactivated` until it is reactivated.
pub fn deactivate(
    sql: &dyn Sql,
    op: &Operator<'_>,
    id: &str,
    reason: &str,
    now: i64,
) -> Result<(), ApiError> {
    let reason = edgedesk_core::validate::text("reason", reason, 0, 500)?;
    transaction(sql, || {
        let a = target_for(sql, op, id)?;
        if a.id == op.id {
            return Err(not_yourself());
        }
        if a.deactivated_at.is_some() {
            return Ok(());
        }
        if a.role == Role::Admin && other_active_admins(sql, &a.id)? == 0 {
            return Err(last_admin());
        }
        sql.execute(
            "UPDATE users SET deactivated_at = ?2, updated_at = ?2 WHERE id = ?1",
            params![a.id.as_str(), now],
        )?;
        sql.execute(
            "DELETE FROM sessions WHERE user_id = ?1",
            params![a.id.as_str()],
        )?;
        record(sql, op, now, "user.deactivate", &a, &reason)
    })
}

pub fn reactivate(sql: &dyn Sql, op: &Operator<'_>, id: &str, now: i64) -> Result<(), ApiError> {
    transaction(sql, || {
        let a = target_for(sql, op, id)?;
        if a.deactivated_at.is_none() {
            return Ok(());
        }
        sql.execute(
            "UPDATE users SET deactivated_at = NULL, updated_at = ?2 WHERE id = ?1",
            params![a.id.as_str(), now],
        )?;
        record(sql, op, now, "user.reactivate", &a, "")
    })
}

/// Audit filters from the query string; times are RFC 3339 or dates.
pub fn audit_filter(
    action: Option<String>,
    actor: Option<String>,
    target: Option<String>,
    since: Option<String>,
    until: Option<String>,
) -> Result<audit::Filter, ApiError> {
    let time = |field: &str, v: Option<String>| -> Result<Option<i64>, ApiError> {
        let Some(v) = v.filter(|v| !v.trim().is_empty()) else {
            return Ok(None);
        };
        audit::parse_time(v.trim()).map(Some).ok_or_else(|| {
            ApiError::invalid(
                field,
                "invalid_time",
                "Use a date (2026-11-29) or an RFC 3339 time.",
            )
        })
    };
    let text = |field: &str, v: Option<String>| -> Result<Option<String>, ApiError> {
        match v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()) {
            Some(s) if s.chars().count() > 200 => Err(ApiError::invalid(
                field,
                "too_long",
                "Use at most 200 characters.",
            )),
            other => Ok(other),
        }
    };
    Ok(audit::Filter {
        action: text("action", action)?,
        actor: text("actor", actor)?,
        target: text("target", target)?,
        since: time("since", since)?,
        until: time("until", until)?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::testing::World;
    use edgedesk_core::audit::Filter;

    const PW: &str = "orbit-cactus-velvet-42";

    fn op<'a>(id: &'a str, role: Role) -> Operator<'a> {
        Operator {
            id,
            username: id,
            role,
            address: "10.0.0.9",
        }
    }

    fn audit_actions(w: &World) -> Vec<String> {
        audit::list(
            &w.db,
            &Filter::default(),
            &Paging {
                page: 1,
                per_page: 50,
            },
        )
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.action)
        .collect()
    }

    #[test]
    fn the_last_admin_keeps_the_role_and_stays_active() {
        let w = World::new();
        let boss = w.confirmed_user("boss", "boss@corp.example", PW);
        let ada = w.confirmed_user("ada", "ada@corp.example", PW);
        w.db.execute(
            "UPDATE users SET role = 'admin' WHERE id = ?1",
            params![boss.as_str()],
        )
        .unwrap();
        let admin = op(&boss, Role::Admin);
        set_role(&w.db, &admin, &ada, "admin", 1).unwrap();
        // Ada (now admin) demotes the boss: allowed, another admin remains.
        let ada_op = op(&ada, Role::Admin);
        set_role(&w.db, &ada_op, &boss, "customer", 2).unwrap();
        // Ada is now the last admin: nobody may demote or deactivate her.
        assert_eq!(
            set_role(&w.db, &ada_op, &ada, "operator", 3)
                .unwrap_err()
                .code(),
            "not_yourself"
        );
        let other = op("someone", Role::Admin);
        assert_eq!(
            set_role(&w.db, &other, &ada, "operator", 3)
                .unwrap_err()
                .code(),
            "last_admin"
        );
        assert_eq!(
            deactivate(&w.db, &other, &ada, "", 3).unwrap_err().code(),
            "last_admin"
        );
        assert_eq!(
            audit_actions(&w),
            ["user.role", "user.role"],
            "refusals write nothing"
        );
    }

    #[test]
    fn operators_act_on_customers_only_and_never_grant_roles() {
        let w = World::new();
        let opal = w.confirmed_user("opal", "opal@corp.example", PW);
        let ada = w.confirmed_user("ada", "ada@corp.example", PW);
        w.db.execute(
            "UPDATE users SET role = 'operator' WHERE id = ?1",
            params![opal.as_str()],
        )
        .unwrap();
        let o = op("other-op", Role::Operator);
        assert_eq!(
            set_role(&w.db, &o, &ada, "operator", 1).unwrap_err().code(),
            "admins_only"
        );
        assert_eq!(
            deactivate(&w.db, &o, &opal, "", 1).unwrap_err().code(),
            "admins_only"
        );
        assert_eq!(
            unlock(&w.db, &o, &opal, 1).unwrap_err().code(),
            "admins_only"
        );
        // A customer: deactivation ends the sessions in the same transaction.
        w.db.execute(
            "INSERT INTO sessions (token_hash, user_id, stage, csrf_token, remember, created_at, \
             last_seen_at, expires_at) VALUES ('h', ?1, 'full', 'c', 0, 1, 1, 99999999999)",
            params![ada.as_str()],
        )
        .unwrap();
        deactivate(&w.db, &o, &ada, "left the company", 5).unwrap();
        assert!(is_deactivated(&w.db, &ada).unwrap());
        let n = w.db.execute("SELECT count(*) FROM sessions", &[]).unwrap();
        assert_eq!(n.first().unwrap().i64(0).unwrap(), 0);
        reactivate(&w.db, &o, &ada, 6).unwrap();
        assert!(!is_deactivated(&w.db, &ada).unwrap());
        assert_eq!(audit_actions(&w), ["user.reactivate", "user.deactivate"]);
    }

    #[test]
    fn search_finds_by_name_email_and_organization_with_wildcards_literal() {
        let w = World::new();
        w.confirmed_user("ada", "ada@corp.example", PW);
        w.confirmed_user("bob", "bob_x@other.example", PW);
        let p = Paging {
            page: 1,
            per_page: 25,
        };
        assert_eq!(search(&w.db, "CORP", "", &p, 0).unwrap().total, 1);
        assert_eq!(search(&w.db, "_", "", &p, 0).unwrap().total, 1);
        assert_eq!(search(&w.db, "%", "", &p, 0).unwrap().total, 0);
        assert_eq!(search(&w.db, "", "staff", &p, 0).unwrap().total, 0);
        assert_eq!(search(&w.db, "", "", &p, 0).unwrap().total, 2);
        // Past the end and on a full page the count is still exact.
        let one = Paging {
            page: 1,
            per_page: 1,
        };
        assert_eq!(search(&w.db, "", "", &one, 0).unwrap().total, 2);
        let far = Paging {
            page: 5,
            per_page: 1,
        };
        let page = search(&w.db, "", "", &far, 0).unwrap();
        assert_eq!((page.items.len(), page.total), (0, 2));
        assert!(search(&w.db, "", "root", &p, 0).is_err());
        assert_eq!(audit::parse_time("2026-11-29"), Some(1_795_910_400));
    }

    /// Every person matching `q` by the definition alone (the LIKE, no
    /// index), newest first: what the indexed search must return.
    fn by_like(w: &World, q: &str, role: &str) -> Vec<String> {
        let q = q.trim();
        w.db.execute(
            &format!(
                "SELECT u.id FROM users u WHERE {MATCH_WHERE} ORDER BY u.created_at DESC, u.id"
            ),
            params![q, like_pattern(q).as_str(), role],
        )
        .unwrap()
        .rows
        .iter()
        .map(|r| r.text(0).unwrap())
        .collect()
    }

    #[test]
    fn the_indexed_search_finds_exactly_what_the_like_finds() {
        let w = World::new();
        for (n, (name, email)) in [
            ("Ada Lovelace", "ada@corp.example"),
            ("ÉMILE Zola", "emile@zola.example"),
            ("émile Durand", "e.durand@corp.example"),
            ("Ole \"Q\" Olsen", "ole%50@quote.example"),
            ("Bob_Under Score", "bob_x@other.example"),
            ("Zoë Straße", "zoe@strasse.example"),
        ]
        .iter()
        .enumerate()
        {
            w.db.execute(
                "INSERT INTO users (id, username, email, full_name, password_hash, role, \
                 created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 'h', ?5, ?6, ?6)",
                params![
                    format!("u{n}"),
                    format!("user{n}"),
                    *email,
                    *name,
                    if n == 2 { "operator" } else { "customer" },
                    n as i64
                ],
            )
            .unwrap();
        }
        // A renamed person is found by the new name only.
        w.db.execute(
            "UPDATE users SET full_name = 'Ada King' WHERE id = 'u0'",
            &[],
        )
        .unwrap();
        w.db.execute(
            "INSERT INTO organizations (id, name, name_key, state, created_at, updated_at) \
             VALUES ('o1', 'Corp Industries', 'corp industries', 'approved', 0, 0)",
            &[],
        )
        .unwrap();
        w.db.execute(
            "INSERT INTO memberships (user_id, organization_id, access, created_at, updated_at) \
             VALUES ('u4', 'o1', 'approved', 0, 0)",
            &[],
        )
        .unwrap();
        let p = Paging {
            page: 1,
            per_page: 100,
        };
        for q in [
            "ada", "ADA KING", "lovelace", "king", "émile", "ÉMILE", "emile", "corp", "CORP IND",
            "\"q\"", "%50", "_x@", "straße", "STRASSE", "zoë", "user1", "r1 e", "xyz", "ad",
            " ole ", "le \"", "example",
        ] {
            for role in ["", "staff", "customer"] {
                let got: Vec<String> = search(&w.db, q, role, &p, 0)
                    .unwrap()
                    .items
                    .into_iter()
                    .map(|r| r.id)
                    .collect();
                assert_eq!(got, by_like(&w, q, role), "q={q:?} role={role:?}");
            }
        }
        assert_eq!(by_like(&w, "king", "").len(), 1);
        assert!(by_like(&w, "lovelace", "").is_empty());
    }

    #[test]
    fn an_indexed_search_reads_the_trigram_index() {
        let w = World::new();
        let plan =
            w.db.execute(
                &format!(
                    "EXPLAIN QUERY PLAN SELECT {LIST_COLS} {LIST_JOINS} WHERE {CANDIDATES} AND \
                     {MATCH_WHERE} ORDER BY u.created_at DESC, u.id LIMIT 25 OFFSET 0"
                ),
                params!["abc", "%abc%", "", "\"abc\""],
            )
            .unwrap()
            .rows
            .iter()
            .map(|r| r.text(3).unwrap())
            .collect::<Vec<_>>()
            .join("; ");
        assert!(plan.contains("VIRTUAL TABLE INDEX"), "{plan}");
        assert!(!plan.contains("SCAN u"), "{plan}");
    }
}
