//! The customers' requests list and the operators' queue. Only the conditions
//! in use go into each statement, so SQLite plans every shape with its index
//! (see migrations/0005_requests.sql and the plan test below).

use edgedesk_core::access::Viewer;
use edgedesk_core::paging::{JsonPage, Paging};
use edgedesk_core::{ApiError, Sql, Value};
use serde_json::Value as Json;

use crate::env::Env;
use crate::search;
use crate::tickets::{LIST_ROW_JSON, SUMMARY_JOINS};

/// Filters shared by both lists.
#[derive(Debug, Default, Clone)]
pub struct Filters {
    /// `open` (open, in_progress), `closed` (answered, closed), `any`, or for
    /// operators a single status.
    pub status: String,
    pub request_type: Option<String>,
    pub q: Option<String>,
}

fn status_condition(
    status: &str,
    conds: &mut Vec<String>,
    args: &mut Vec<Value>,
) -> Result<(), ApiError> {
    match status {
        "" | "any" => {}
        "open" => conds.push("t.status IN ('open', 'in_progress')".into()),
        "closed" => conds.push("t.status IN ('answered', 'closed')".into()),
        "in_progress" | "answered" => {
            conds.push("t.status = ?".into());
            args.push(status.into());
        }
        _ => {
            return Err(ApiError::invalid(
                "status",
                "invalid_status",
                "Use open, closed or any.",
            ));
        }
    }
    Ok(())
}

fn common(
    env: &Env<'_>,
    f: &Filters,
    with_internal: bool,
    conds: &mut Vec<String>,
    args: &mut Vec<Value>,
) -> Result<bool, ApiError> {
    status_condition(&f.status, conds, args)?;
    if let Some(rt) = f.request_type.as_deref().filter(|s| !s.is_empty()) {
        // An unknown type simply matches nothing.
        let id = crate::types::find(env.sql, rt)?
            .map(|t| t.id)
            .unwrap_or_default();
        conds.push("t.request_type_id = ?".into());
        args.push(id.into());
    }
    if let Some(q) = f.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        if let Some(number) = env.parse_key(q) {
            conds.push("t.number = ?".into());
            args.push(number.into());
        } else {
            let Some(fts) = search::fts_query(q) else {
                return Ok(false);
            };
            conds.push(search::condition(with_internal));
            args.push(fts.clone().into());
            args.push(fts.into());
        }
    }
    Ok(true)
}

/// Newest activity first; the number breaks ties. Indexes end in the same
/// two columns (migration 0012), so a page is read in order, never sorted.
pub const BY_ACTIVITY: &str = "t.last_activity_at DESC, t.number DESC";

/// The operators' queue counts at most this many (the page then says
/// "10,000+"): counting 50,000 waiting requests on every queue view was most
/// of the queue's time. Exact per-status counts come from `/api/agent/counts`.
pub const QUEUE_COUNT_CAP: i64 = 10_000;

/// A list's page statement (its rows, each with the total) and its count
/// statement alone, for `conds` joined with AND.
fn statements(
    conds: &[String],
    order: &str,
    paging: &Paging,
    count_cap: Option<i64>,
) -> (String, String) {
    let filter = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    let count = match count_cap {
        Some(cap) => format!("SELECT count(*) FROM (SELECT 1 FROM tickets t {filter} LIMIT {cap})"),
        None => format!("SELECT count(*) FROM tickets t {filter}"),
    };
    let page = format!(
        "SELECT {LIST_ROW_JSON}, ({count}) FROM tickets t {SUMMARY_JOINS} {filter} \
         ORDER BY {order} {}",
        paging.sql_limit()
    );
    (page, count)
}

fn run(
    env: &Env<'_>,
    conds: &[String],
    args: Vec<Value>,
    order: &str,
    paging: &Paging,
    count_cap: Option<i64>,
) -> Result<JsonPage, ApiError> {
    let (page, count) = statements(conds, order, paging, count_cap);
    // The total rides on every row of the page, as a column SQLite computes
    // once: one statement instead of two. Parameters: the key prefix (?1),
    // then the count's, then the filter's (the same values again).
    let mut all: Vec<Value> = vec![env.prefix.as_str().into()];
    all.extend(args.iter().chain(args.iter()).cloned());
    let rows = env.sql.execute(&page, &all)?;
    let total = match rows.rows.first() {
        Some(r) => r.i64(1)?,
        // A page past the end has no row to carry it.
        None => env
            .sql
            .execute(&count, &args)?
            .first()
            .map(|r| r.i64(0))
            .transpose()?
            .unwrap_or(0),
    };
    let items = rows
        .rows
        .into_iter()
        .map(|mut r| r.take_text(0))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(paging.json_list(items, total))
}

/// `GET /api/requests`: `created_by=me` (the caller's own) or `anyone` (also
/// those shared with their organization and those they take part in); newest
/// activity first.
pub fn customer_list(
    env: &Env<'_>,
    viewer: &Viewer,
    created_by: &str,
    f: &Filters,
    paging: &Paging,
) -> Result<JsonPage, ApiError> {
    let mut conds = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    let me = viewer.user_id().to_owned();
    match (created_by, viewer) {
        ("" | "me", _) => {
            conds.push("t.customer_id = ?".into());
            args.push(me.into());
        }
        (
            "anyone",
            Viewer::Customer {
                organization_id, ..
            },
        ) => {
            conds.push(
                "(t.customer_id = ? OR (t.organization_id = ? AND t.visibility = 'organization') \
                 OR t.id IN (SELECT ticket_id FROM ticket_participants WHERE user_id = ?))"
                    .into(),
            );
            args.push(me.clone().into());
            args.push(organization_id.clone().into());
            args.push(me.into());
        }
        // Operators see everything in their queue; here "anyone" is everything.
        ("anyone", Viewer::Operator { .. }) => {}
        _ => {
            return Err(ApiError::invalid(
                "created_by",
                "invalid_created_by",
                "Use me or anyone.",
            ));
        }
    }
    let mut f = f.clone();
    if f.status.is_empty() {
        f.status = "any".into();
    }
    if !common(env, &f, viewer.is_operator(), &mut conds, &mut args)? {
        return Ok(paging.json_list(Vec::new(), 0));
    }
    run(env, &conds, args, BY_ACTIVITY, paging, None)
}

/// Operators' extra filters.
#[derive(Debug, Default, Clone)]
pub struct QueueFilters {
    pub common: Filters,
    /// `me`, `none`, or a user id.
    pub assignee: Option<String>,
    pub organization: Option<String>,
    /// `waiting` (oldest waiting first, the default), `newest`, `updated`.
    pub sort: String,
}

/// `GET /api/agent/requests`: the operators' queue, oldest waiting first.
pub fn queue(
    env: &Env<'_>,
    me: &str,
    f: &QueueFilters,
    paging: &Paging,
) -> Result<JsonPage, ApiError> {
    let mut conds = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    let mut common_f = f.common.clone();
    if common_f.status.is_empty() {
        common_f.status = "open".into();
    }
    let waiting_only = common_f.status == "open";
    if waiting_only {
        // Open and in-progress requests are exactly those with waiting_since
        // set: one partial index serves filter and order.
        common_f.status = "any".into();
        conds.push("t.waiting_since IS NOT NULL".into());
    } else if common_f.status == "open_only" {
        common_f.status = "any".into();
        conds.push("t.status = 'open'".into());
    } else if common_f.status == "closed_only" {
        common_f.status = "any".into();
        conds.push("t.status = 'closed'".into());
    }
    match f.assignee.as_deref().filter(|s| !s.is_empty()) {
        None | Some("any") => {}
        Some("none") => conds.push("t.assignee_id IS NULL".into()),
        Some("me") => {
            conds.push("t.assignee_id = ?".into());
            args.push(me.into());
        }
        Some(id) => {
            conds.push("t.assignee_id = ?".into());
            args.push(id.into());
        }
    }
    if let Some(org) = f.organization.as_deref().filter(|s| !s.is_empty()) {
        conds.push("t.organization_id = ?".into());
        args.push(org.into());
    }
    if !common(env, &common_f, true, &mut conds, &mut args)? {
        return Ok(paging.json_list(Vec::new(), 0));
    }
    let order = match f.sort.as_str() {
        "" | "waiting" if waiting_only => "t.waiting_since, t.number",
        "" | "waiting" | "oldest" => "t.created_at, t.number",
        "newest" => "t.created_at DESC, t.number DESC",
        "updated" => BY_ACTIVITY,
        _ => {
            return Err(ApiError::invalid(
                "sort",
                "invalid_sort",
                "Use waiting, oldest, newest or updated.",
            ));
        }
    };
    run(env, &conds, args, order, paging, Some(QUEUE_COUNT_CAP))
}

/// Requests per status, for the operators' navigation.
pub fn counts(sql: &dyn Sql) -> Result<Json, ApiError> {
    let rows = sql.execute("SELECT status, count(*) FROM tickets GROUP BY status", &[])?;
    let mut out = serde_json::json!({ "open": 0, "in_progress": 0, "answered": 0, "closed": 0 });
    for r in &rows.rows {
        out[r.text(0)?] = r.i64(1)?.into();
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::testing::World;

    #[test]
    fn my_requests_read_one_covering_index_and_no_table_row() {
        let w = World::new();
        let paging = Paging::from_query(None, None).unwrap();
        for status in ["any", "open", "closed"] {
            let mut conds = vec!["t.customer_id = ?".to_owned()];
            let mut args = vec![Value::from("c1")];
            status_condition(status, &mut conds, &mut args).unwrap();
            let (page, count) = statements(&conds, BY_ACTIVITY, &paging, None);
            let mut all = vec![Value::from("SD")];
            all.extend(args.iter().chain(args.iter()).cloned());
            let text = w.plan(&page, &all);
            // The page's rows come from the index alone (its first step; the
            // total's subquery comes later); only the people, organization
            // and topic are looked up, by primary key.
            let rows = text.split("; ").next().unwrap();
            assert_eq!(
                rows, "SEARCH t USING COVERING INDEX tickets_customer (customer_id=?)",
                "{status}: {text}"
            );
            assert!(!text.contains("TEMP B-TREE"), "{status}: {text}");
            let text = w.plan(&count, &args);
            assert!(
                text.contains("COVERING INDEX tickets_customer"),
                "{status}: {text}"
            );
        }
    }
}
