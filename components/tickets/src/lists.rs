//! The customers' requests list and the operators' queue. Only the conditions
//! in use go into each statement, so SQLite plans every shape with its index
//! (see migrations/0005_requests.sql and the plan test below).

use edgedesk_core::access::Viewer;
use edgedesk_core::paging::{JsonPage, Paging};
use edgedesk_core::session::Rider;
use edgedesk_core::{ApiError, Row, Sql, Value};
use serde_json::Value as Json;

use crate::env::Env;
use crate::search;
use crate::tickets::{LIST_PAGE_JSON, list_row_head, list_row_joint};

/// Filters shared by both lists.
#[derive(Debug, Default, Clone)]
pub struct Filters {
    /// `open` (open, in_progress), `closed` (answered, closed), `any`, or for
    /// operators a single status.
    pub status: String,
    pub request_type: Option<String>,
    pub q: Option<String>,
}

impl Filters {
    /// The topic filter, if there is one (empty is none).
    fn topic(&self) -> Option<&str> {
        self.request_type.as_deref().filter(|s| !s.is_empty())
    }

    /// The text search, if there is one (blank is none).
    fn search(&self) -> Option<&str> {
        self.q.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }
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
    if let Some(rt) = f.topic() {
        // An unknown type simply matches nothing.
        let id = crate::types::find(env.sql, rt)?
            .map(|t| t.id)
            .unwrap_or_default();
        conds.push("t.request_type_id = ?".into());
        args.push(id.into());
    }
    if let Some(q) = f.search() {
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

/// Where a list's total comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Total {
    /// Counted from the requests the filter matches.
    Counted,
    /// Counted up to a cap (the operators' queue, [`QUEUE_COUNT_CAP`]).
    Capped(i64),
    /// Summed from `ticket_counts` (migration 0016), for a filter on
    /// nothing but the customer, status and topic, the table's columns.
    Kept,
}

/// The statement counting what `filter` (a `WHERE` clause or nothing)
/// matches, as `total` says.
fn count_statement(total: Total, filter: &str) -> String {
    match total {
        Total::Counted => format!("SELECT count(*) FROM tickets t {filter}"),
        Total::Capped(cap) => {
            format!("SELECT count(*) FROM (SELECT 1 FROM tickets t {filter} LIMIT {cap})")
        }
        Total::Kept => format!("SELECT coalesce(sum(t.n), 0) FROM ticket_counts t {filter}"),
    }
}

/// A list's page statement (its rows joined into one text, and the total)
/// and its count statement alone, for `conds` joined with AND.
fn statements(conds: &[String], order: &str, paging: &Paging, total: Total) -> (String, String) {
    let filter = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    let count = count_statement(total, &filter);
    // The rows are joined in the order the inner statement reads them:
    // SQLite's aggregate takes a subquery's rows as it yields them
    // (`a_page_keeps_its_order` holds it to that).
    let page = format!(
        "SELECT {LIST_PAGE_JSON}, max(n) FROM (SELECT t.list_row AS r, ({count}) AS n \
         FROM tickets t {filter} ORDER BY {order} {})",
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
    source: Total,
) -> Result<JsonPage, ApiError> {
    let (page, count) = statements(conds, order, paging, source);
    // The page comes back as one row: its items as one text, joined by
    // SQLite (one value to hand over instead of 25), and the total, a column
    // SQLite computes once. Parameters: the rows' head and joint, then the
    // count's, then the filter's (the same values again).
    let mut all: Vec<Value> = vec![
        list_row_head(&env.prefix).into(),
        list_row_joint(&env.prefix).into(),
    ];
    all.extend(args.iter().chain(args.iter()).cloned());
    let mut rows = env.sql.execute(&page, &all)?;
    let mut row = rows
        .rows
        .pop()
        .ok_or_else(|| ApiError::internal("no page row"))?;
    let items = row.take_opt_text(0)?;
    let total = match row.opt_i64(1)? {
        Some(n) => n,
        // A page past the end has no row to carry it.
        None => env
            .sql
            .execute(&count, &args)?
            .first()
            .map(|r| r.i64(0))
            .transpose()?
            .unwrap_or(0),
    };
    Ok(paging.json_list(items.into_iter().collect(), total))
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
    let mut total = Total::Counted;
    match (created_by, viewer) {
        ("" | "me", _) => {
            // The caller's own, by status and topic: the kept counts' columns
            // (a text search is a condition they do not have).
            if f.search().is_none() {
                total = Total::Kept;
            }
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
    // No status filter is any status (`status_condition`).
    if !common(env, f, viewer.is_operator(), &mut conds, &mut args)? {
        return Ok(paging.json_list(Vec::new(), 0));
    }
    run(env, &conds, args, BY_ACTIVITY, paging, total)
}

/// "My requests" (`created_by=me`, by status) as columns of the request's
/// opening statement (`session::Rider`): its total from the kept counts and
/// its page, for the session's person, read with the session in one
/// statement. The route takes them ([`mine_from_rider`]) once the desk gate
/// let that person in, as [`customer_list`] would have read them. A view
/// with a kept first page ([`kept_view`]) reads it, unless it was written
/// with another key prefix, when the page is walked as any other.
///
/// `None` for a view that needs a statement first (a topic is looked up by
/// key) or counts its total (a text search), and for input the route will
/// refuse after the gate (the gate's answer comes first).
pub fn mine_rider(prefix: &str, created_by: &str, f: &Filters, paging: &Paging) -> Option<Rider> {
    if !matches!(created_by, "" | "me") || f.topic().is_some() || f.search().is_some() {
        return None;
    }
    let mut conds = vec!["t.customer_id = s.user_id".to_owned()];
    let mut args = Vec::new();
    status_condition(&f.status, &mut conds, &mut args).ok()?;
    let filter = format!("WHERE {}", conds.join(" AND "));
    let head = list_row_head(prefix);
    // The page's rows joined in the order they are read (as in
    // [`statements`]), or the kept page when there is one with this head.
    let walk = format!(
        "(SELECT {LIST_PAGE_JSON} FROM (SELECT t.list_row AS r FROM tickets t \
         {filter} ORDER BY {BY_ACTIVITY} {}))",
        paging.sql_limit()
    );
    let kept = kept_view(&f.status, paging);
    let page = match kept {
        Some(view) => format!(
            "coalesce((SELECT p.page FROM ticket_first_pages p WHERE p.customer_id = s.user_id \
             AND p.view = '{view}' AND p.head = ?), {walk})"
        ),
        None => walk,
    };
    let cols = format!("({}), {page}", count_statement(Total::Kept, &filter));
    // Parameters in the text's order.
    let mut all = args.clone();
    if kept.is_some() {
        all.push(head.clone().into());
    }
    all.push(head.into());
    all.push(list_row_joint(prefix).into());
    all.extend(args);
    Some(Rider { cols, args: all })
}

/// The kept first page (migration 0018) that holds a "my requests" view:
/// page 1 at the contract's default 25 rows, of any status (the API's
/// default) or open ones (the portal's).
fn kept_view(status: &str, paging: &Paging) -> Option<&'static str> {
    if paging.page != 1 || paging.per_page != KEPT_PAGE_ROWS {
        return None;
    }
    match status {
        "" | "any" => Some("any"),
        "open" => Some("open"),
        _ => None,
    }
}

/// The rows of a kept first page: its triggers' `LIMIT` (migration 0018).
const KEPT_PAGE_ROWS: i64 = 25;

/// The page [`mine_rider`]'s columns hold.
pub fn mine_from_rider(mut row: Row, paging: &Paging) -> Result<JsonPage, ApiError> {
    let total = row.i64(0)?;
    let items = row.take_opt_text(1)?;
    Ok(paging.json_list(items.into_iter().collect(), total))
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
    run(
        env,
        &conds,
        args,
        order,
        paging,
        Total::Capped(QUEUE_COUNT_CAP),
    )
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
    use crate::testing::{World, keys};

    #[test]
    fn a_page_keeps_its_order() {
        let w = World::new();
        let env = w.env();
        for n in 0..13 {
            let t = w.site_down();
            // Activity out of creation order, with ties (the number breaks
            // them), and waiting times in yet another order.
            w.db.execute(
                "UPDATE tickets SET last_activity_at = ?, waiting_since = ?, created_at = ? \
                 WHERE id = ?",
                edgedesk_core::params![(n * 7) % 5, (n * 5) % 13, (n * 3) % 4, t.id.as_str()],
            )
            .unwrap();
        }
        let numbers = |order: &str| -> Vec<String> {
            w.db.execute(
                &format!("SELECT number FROM tickets t ORDER BY {order}"),
                &[],
            )
            .unwrap()
            .rows
            .iter()
            .map(|r| format!("SD-{}", r.i64(0).unwrap()))
            .collect()
        };
        let ann = edgedesk_core::access::Viewer::Customer {
            user_id: "ann".into(),
            organization_id: "o1".into(),
        };
        for per_page in [4, 5, 13, 100] {
            let (mut mine, mut waiting, mut newest) = (vec![], vec![], vec![]);
            for page in 1..=4 {
                let paging = Paging { page, per_page };
                let f = Filters::default();
                mine.extend(keys(&customer_list(&env, &ann, "me", &f, &paging).unwrap()));
                let qf = |sort: &str| QueueFilters {
                    sort: sort.into(),
                    ..QueueFilters::default()
                };
                waiting.extend(keys(&queue(&env, "op", &qf(""), &paging).unwrap()));
                newest.extend(keys(&queue(&env, "op", &qf("newest"), &paging).unwrap()));
            }
            assert_eq!(mine, numbers(BY_ACTIVITY), "per page {per_page}");
            assert_eq!(
                waiting,
                numbers("t.waiting_since, t.number"),
                "per page {per_page}"
            );
            assert_eq!(
                newest,
                numbers("t.created_at DESC, t.number DESC"),
                "per page {per_page}"
            );
        }
    }

    /// Every total "my requests" can show, for each customer, status filter
    /// and topic, read from the kept counts (migration 0016) as the list
    /// reads it, against counting the requests themselves.
    fn totals_agree(w: &World, after: &str) {
        let env = w.env();
        let paging = Paging::from_query(None, None).unwrap();
        let topics: Vec<Option<String>> = std::iter::once(None)
            .chain(
                w.db.execute("SELECT key FROM request_types", &[])
                    .unwrap()
                    .rows
                    .iter()
                    .map(|r| Some(r.text(0).unwrap())),
            )
            .collect();
        for customer in ["ann", "bob", "gil", "op"] {
            let viewer = Viewer::Customer {
                user_id: customer.into(),
                organization_id: "o1".into(),
            };
            for status in ["any", "open", "closed"] {
                for topic in &topics {
                    let f = Filters {
                        status: status.into(),
                        request_type: topic.clone(),
                        q: None,
                    };
                    let shown = customer_list(&env, &viewer, "me", &f, &paging)
                        .unwrap()
                        .total;
                    let statuses = match status {
                        "open" => "'open', 'in_progress'",
                        "closed" => "'answered', 'closed'",
                        _ => "'open', 'in_progress', 'answered', 'closed'",
                    };
                    let counted =
                        w.db.execute(
                            &format!(
                                "SELECT count(*) FROM tickets t LEFT JOIN request_types rt \
                                 ON rt.id = t.request_type_id WHERE t.customer_id = ?1 \
                                 AND t.status IN ({statuses}) AND (?2 IS NULL OR rt.key = ?2)"
                            ),
                            edgedesk_core::params![customer, topic.as_deref()],
                        )
                        .unwrap()
                        .first()
                        .unwrap()
                        .i64(0)
                        .unwrap();
                    assert_eq!(
                        shown, counted,
                        "{customer} {status} {topic:?} after {after}"
                    );
                }
            }
        }
    }

    #[test]
    fn my_requests_totals_follow_every_kind_of_change() {
        let w = World::new();
        let env = w.env();
        let sql = |s: &str, args: &[Value]| {
            w.db.execute(s, args).unwrap();
        };
        let mut raised = Vec::new();
        for (n, (customer, topic)) in [
            ("ann", "technical-support"),
            ("ann", "finance-support"),
            ("bob", "technical-support"),
            ("gil", "registration"),
            ("ann", "technical-support"),
        ]
        .into_iter()
        .enumerate()
        {
            let t = crate::tickets::insert(
                &env,
                &crate::tickets::NewTicket {
                    request_type: topic,
                    summary: &format!("Request {n}"),
                    description: "",
                    visibility: "organization",
                    customer_id: customer,
                    organization_id: Some("o1"),
                    raised_by: customer,
                },
            )
            .unwrap();
            raised.push(t.id);
        }
        totals_agree(&w, "raising");
        sql(
            "UPDATE tickets SET status = 'in_progress' WHERE id = ?",
            &[raised[0].as_str().into()],
        );
        sql(
            "UPDATE tickets SET status = 'answered', resolution = 'Done' WHERE id = ?",
            &[raised[1].as_str().into()],
        );
        totals_agree(&w, "status changes");
        sql(
            "UPDATE tickets SET status = 'closed', summary = 'Renamed' WHERE customer_id = 'ann'",
            &[],
        );
        totals_agree(&w, "closing all of one customer's at once");
        sql(
            "UPDATE tickets SET request_type_id = (SELECT id FROM request_types \
             WHERE key = 'contestation') WHERE id = ?",
            &[raised[2].as_str().into()],
        );
        totals_agree(&w, "a topic change");
        sql(
            "UPDATE tickets SET customer_id = 'bob' WHERE id = ?",
            &[raised[4].as_str().into()],
        );
        totals_agree(&w, "a request moved to another customer");
        sql(
            "UPDATE tickets SET summary = 'Only words', last_activity_at = 5",
            &[],
        );
        totals_agree(&w, "changes that move no total");
        sql(
            "DELETE FROM tickets WHERE id = ?",
            &[raised[3].as_str().into()],
        );
        totals_agree(&w, "a request deleted");
        sql("DELETE FROM tickets", &[]);
        totals_agree(&w, "every request deleted");
    }

    /// Ann's, Bob's and Gil's requests in every status, and a full
    /// session for each of them and the operator: (person, raw token).
    fn with_sessions(w: &World) -> Vec<(&'static str, String)> {
        let env = w.env();
        let statuses = ["open", "in_progress", "answered", "closed"];
        for n in 0..23usize {
            let customer = ["ann", "bob", "gil", "ann"][n % 4];
            let t = crate::tickets::insert(
                &env,
                &crate::tickets::NewTicket {
                    request_type: "technical-support",
                    summary: &format!("Request {n}"),
                    description: "",
                    visibility: "private",
                    customer_id: customer,
                    organization_id: Some(if customer == "gil" { "o2" } else { "o1" }),
                    raised_by: customer,
                },
            )
            .unwrap();
            w.db.execute(
                "UPDATE tickets SET status = ?, last_activity_at = ? WHERE id = ?",
                edgedesk_core::params![statuses[(n / 4) % 4], ((n * 7) % 5) as i64, t.id.as_str()],
            )
            .unwrap();
        }
        ["ann", "bob", "gil", "op"]
            .into_iter()
            .map(|who| {
                let (token, _) = edgedesk_core::session::create(
                    &w.db,
                    &w.clock,
                    &edgedesk_core::random::OsRandom,
                    who,
                    edgedesk_core::session::Stage::Full,
                    false,
                )
                .unwrap();
                (who, token)
            })
            .collect()
    }

    #[test]
    fn my_requests_on_the_opening_statement_are_the_list_as_its_own_statement_reads_it() {
        let w = World::new();
        let env = w.env();
        let people = with_sessions(&w);
        for (who, token) in &people {
            let viewer = if *who == "op" {
                Viewer::Operator {
                    user_id: "op".into(),
                    admin: false,
                }
            } else {
                Viewer::Customer {
                    user_id: (*who).into(),
                    organization_id: "o1".into(),
                }
            };
            for status in ["", "any", "open", "closed", "in_progress", "answered"] {
                for (page, per_page) in [(1, 4), (2, 4), (3, 4), (9, 4), (1, 25), (1, 100)] {
                    let paging = Paging { page, per_page };
                    let f = Filters {
                        status: status.into(),
                        ..Filters::default()
                    };
                    let rider = mine_rider(&env.prefix, "me", &f, &paging).unwrap();
                    let o = edgedesk_core::session::open_with(&w.db, &w.clock, token, Some(&rider))
                        .unwrap();
                    assert_eq!(o.session.unwrap().0.user_id, *who);
                    let ridden = mine_from_rider(o.rider.unwrap(), &paging).unwrap();
                    let own = customer_list(&env, &viewer, "me", &f, &paging).unwrap();
                    let what = format!("{who} {status:?} page {page} of {per_page}");
                    assert_eq!(ridden.to_json(), own.to_json(), "{what}");
                    // Everyone but the operator has requests in every status.
                    assert_eq!(own.total > 0, *who != "op", "{what}");
                }
            }
        }
        // Views it does not carry: they read their own statements.
        let paging = Paging {
            page: 1,
            per_page: 4,
        };
        for (created_by, f) in [
            ("anyone", Filters::default()),
            (
                "me",
                Filters {
                    request_type: Some("technical-support".into()),
                    ..Filters::default()
                },
            ),
            (
                "me",
                Filters {
                    q: Some("Request".into()),
                    ..Filters::default()
                },
            ),
            (
                "me",
                Filters {
                    status: "everything".into(),
                    ..Filters::default()
                },
            ),
            ("someone", Filters::default()),
        ] {
            assert_eq!(
                mine_rider("SD", created_by, &f, &paging),
                None,
                "{created_by} {f:?}"
            );
        }
        // A blank search or topic is none.
        let blank = Filters {
            q: Some("  ".into()),
            request_type: Some(String::new()),
            ..Filters::default()
        };
        assert!(mine_rider("SD", "", &blank, &paging).is_some());
    }

    /// "My requests" of `who` at the kept paging, read as the request's
    /// opening statement carries it and as the list's own statement reads
    /// it (which never reads a kept page), for `view`'s status.
    fn ridden_and_own(
        w: &World,
        prefix: &str,
        who: &str,
        token: &str,
        status: &str,
    ) -> (String, String) {
        let mut env = w.env();
        env.prefix = prefix.into();
        let paging = Paging::from_query(None, None).unwrap();
        let f = Filters {
            status: status.into(),
            ..Filters::default()
        };
        let rider = mine_rider(prefix, "me", &f, &paging).unwrap();
        let o = edgedesk_core::session::open_with(&w.db, &w.clock, token, Some(&rider)).unwrap();
        let ridden = mine_from_rider(o.rider.unwrap(), &paging).unwrap();
        let viewer = Viewer::Customer {
            user_id: who.into(),
            organization_id: "o1".into(),
        };
        let own = customer_list(&env, &viewer, "me", &f, &paging).unwrap();
        let text = |j: Vec<u8>| String::from_utf8(j).unwrap();
        (text(ridden.to_json()), text(own.to_json()))
    }

    /// How many kept pages `who` has with `prefix`'s head.
    fn kept_pages(w: &World, prefix: &str, who: &str) -> i64 {
        w.db.execute(
            "SELECT count(*) FROM ticket_first_pages WHERE customer_id = ? AND head = ?",
            &[Value::from(who), Value::from(list_row_head(prefix))],
        )
        .unwrap()
        .first()
        .unwrap()
        .i64(0)
        .unwrap()
    }

    #[test]
    fn kept_first_pages_stay_the_walked_pages_through_every_kind_of_change() {
        let w = World::new();
        let people: Vec<_> = with_sessions(&w)
            .into_iter()
            .filter(|(who, _)| *who != "op")
            .collect();
        let check = |prefix: &str, what: &str, kept_for: &[&str]| {
            for (who, token) in &people {
                for status in ["", "any", "open"] {
                    let (ridden, own) = ridden_and_own(&w, prefix, who, token, status);
                    assert_eq!(ridden, own, "{what}: {who} {status:?}");
                    assert!(
                        own.contains("\"key\":\""),
                        "{what}: {who} {status:?} is empty"
                    );
                }
                // Both views kept (everyone has open requests), or none
                // with this head for those not changed since a new prefix.
                let want = if kept_for.contains(who) { 2 } else { 0 };
                assert_eq!(kept_pages(&w, prefix, who), want, "{what}: {who}");
            }
        };
        let all = ["ann", "bob", "gil"];
        check("SD", "raised", &all);
        let env = w.env();
        let ids = |who: &str| -> Vec<String> {
            w.db.execute(
                "SELECT id FROM tickets WHERE customer_id = ? ORDER BY number",
                &[Value::from(who)],
            )
            .unwrap()
            .rows
            .iter()
            .map(|r| r.text(0).unwrap())
            .collect()
        };
        // More than a page: the kept page is the newest 25.
        for n in 0..30 {
            crate::tickets::insert(
                &env,
                &crate::tickets::NewTicket {
                    request_type: "finance-support",
                    summary: &format!("More {n}"),
                    description: "",
                    visibility: "private",
                    customer_id: "ann",
                    organization_id: Some("o1"),
                    raised_by: "ann",
                },
            )
            .unwrap();
        }
        check("SD", "over a page", &all);
        let oldest = ids("ann")[0].clone();
        let run = |what: &str, statement: &str, args: &[Value]| {
            w.db.execute(statement, args).unwrap();
            check("SD", what, &all);
        };
        run(
            "activity moves an old request to the top",
            "UPDATE tickets SET last_activity_at = 9999999999 WHERE id = ?",
            &[Value::from(oldest.as_str())],
        );
        run(
            "a status change leaves the open view",
            "UPDATE tickets SET status = 'closed' WHERE id = ?",
            &[Value::from(ids("ann")[3].as_str())],
        );
        run(
            "the reporter renamed",
            "UPDATE users SET full_name = 'Ann <b>Renamed</b>' WHERE id = 'ann'",
            &[],
        );
        run(
            "assigned",
            "UPDATE tickets SET assignee_id = 'op' WHERE customer_id IN ('ann', 'gil')",
            &[],
        );
        run(
            "the assignee renamed",
            "UPDATE users SET full_name = 'Operator Renamed' WHERE id = 'op'",
            &[],
        );
        run(
            "the organization renamed",
            "UPDATE organizations SET name = 'Acme Renamed' WHERE id = 'o1'",
            &[],
        );
        run(
            "a topic renamed",
            "UPDATE request_types SET name = 'Money' WHERE key = 'finance-support'",
            &[],
        );
        run(
            "a request deleted",
            "DELETE FROM tickets WHERE id = ?",
            &[Value::from(oldest.as_str())],
        );
        run(
            "a request moved to another customer",
            "UPDATE tickets SET customer_id = 'gil' WHERE id = ?",
            &[Value::from(ids("bob")[0].as_str())],
        );
        // Another key prefix: pages with the old head are dropped; a
        // customer's come back, with the new head, with their next change.
        let mut help = w.env();
        help.prefix = "HELP".into();
        crate::tickets::insert(
            &help,
            &crate::tickets::NewTicket {
                request_type: "technical-support",
                summary: "Under a new prefix",
                description: "",
                visibility: "private",
                customer_id: "gil",
                organization_id: Some("o2"),
                raised_by: "gil",
            },
        )
        .unwrap();
        check("HELP", "a new prefix", &["gil"]);
        assert_eq!(kept_pages(&w, "SD", "ann"), 0);
        let (ridden, _) = ridden_and_own(&w, "HELP", "ann", &people[0].1, "any");
        assert!(ridden.contains("\"key\":\"HELP-"), "{ridden}");
    }

    #[test]
    fn my_requests_read_the_kept_page_when_its_head_is_theirs() {
        let w = World::new();
        let people = with_sessions(&w);
        let (_, token) = &people[0];
        // A kept page stands in for the walk: what it holds is the answer.
        w.db.execute(
            "UPDATE ticket_first_pages SET page = '{\"key\":\"SD-1\",\"kept\":true}' \
             WHERE customer_id = 'ann' AND view = 'any'",
            &[],
        )
        .unwrap();
        let (ridden, own) = ridden_and_own(&w, "SD", "ann", token, "any");
        assert!(ridden.contains("\"kept\":true"), "{ridden}");
        assert!(!own.contains("\"kept\":true"), "{own}");
        // Not for another head, another view, another page or size.
        let (ridden, _) = ridden_and_own(&w, "XY", "ann", token, "any");
        assert!(!ridden.contains("\"kept\":true"), "{ridden}");
        let paging = Paging {
            page: 1,
            per_page: 24,
        };
        assert_eq!(kept_view("any", &paging), None);
        let paging = Paging {
            page: 2,
            per_page: 25,
        };
        assert_eq!(kept_view("any", &paging), None);
        let paging = Paging::from_query(None, None).unwrap();
        for (status, view) in [
            ("", Some("any")),
            ("any", Some("any")),
            ("open", Some("open")),
            ("closed", None),
            ("answered", None),
            ("in_progress", None),
        ] {
            assert_eq!(kept_view(status, &paging), view, "{status}");
        }
    }

    /// The plan of the opening statement carrying "my requests" at the
    /// default paging for `status`.
    fn ridden_plan(w: &World, status: &str) -> String {
        let paging = Paging::from_query(None, None).unwrap();
        let f = Filters {
            status: status.into(),
            ..Filters::default()
        };
        let rider = mine_rider("SD", "me", &f, &paging).unwrap();
        let (text, args) = edgedesk_core::session::opening_statement("token", 0, Some(&rider));
        w.plan(&text, &args)
    }

    #[test]
    fn a_kept_page_is_one_row_read_by_its_key() {
        let w = World::new();
        for status in ["any", "open"] {
            let plan = ridden_plan(&w, status);
            assert!(
                plan.contains("SEARCH p USING INDEX sqlite_autoindex_ticket_first_pages_1 (customer_id=? AND view=?)"),
                "{status}: {plan}"
            );
        }
        // The triggers read the page as the list does: in the index's
        // order, no sort.
        let plan = w.plan(
            "SELECT * FROM (SELECT 'ann', 'any', h, h || group_concat(r, ',' || h) AS page FROM ( \
             SELECT t.list_row AS r, q.list_head AS h FROM ticket_sequence q, tickets t \
             WHERE q.name = 'tickets' AND q.list_head IS NOT NULL AND t.customer_id = 'ann' \
             ORDER BY t.last_activity_at DESC, t.number DESC LIMIT 25)) WHERE page IS NOT NULL",
            &[],
        );
        assert!(
            plan.contains("SEARCH t USING COVERING INDEX tickets_customer (customer_id=?)"),
            "{plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }

    #[test]
    fn my_requests_on_the_opening_statement_read_the_same_indexes() {
        let w = World::new();
        for status in ["any", "open", "closed"] {
            let plan = ridden_plan(&w, status);
            assert!(
                plan.contains("SEARCH t USING COVERING INDEX tickets_customer (customer_id=?)"),
                "{status}: {plan}"
            );
            assert!(
                plan.contains("SEARCH t USING PRIMARY KEY (customer_id=?"),
                "{status}: {plan}"
            );
            assert!(!plan.contains("TEMP B-TREE"), "{status}: {plan}");
            assert!(!plan.contains("SCAN t"), "{status}: {plan}");
        }
    }

    #[test]
    fn my_requests_read_one_covering_index_and_no_table_row() {
        let w = World::new();
        let paging = Paging::from_query(None, None).unwrap();
        for status in ["any", "open", "closed"] {
            let mut conds = vec!["t.customer_id = ?".to_owned()];
            let mut args = vec![Value::from("c1")];
            status_condition(status, &mut conds, &mut args).unwrap();
            let (page, count) = statements(&conds, BY_ACTIVITY, &paging, Total::Kept);
            let mut all = vec![
                Value::from(list_row_head("SD")),
                Value::from(list_row_joint("SD")),
            ];
            all.extend(args.iter().chain(args.iter()).cloned());
            let text = w.plan(&page, &all);
            // The page's rows, each with its kept JSON, come from the index
            // alone, in order (no sort), and are joined as they come; the
            // total sums the kept counts (by status too when filtered);
            // nothing else is read.
            let steps: Vec<&str> = text.split("; ").collect();
            assert_eq!(steps.len(), 5, "{status}: {text}");
            assert_eq!(
                steps[1], "SEARCH t USING COVERING INDEX tickets_customer (customer_id=?)",
                "{status}: {text}"
            );
            assert!(
                steps[3].starts_with("SEARCH t USING PRIMARY KEY (customer_id=?"),
                "{status}: {text}"
            );
            assert!(!text.contains("TEMP B-TREE"), "{status}: {text}");
            let text = w.plan(&count, &args);
            assert!(
                text.starts_with("SEARCH t USING PRIMARY KEY (customer_id=?"),
                "{status}: {text}"
            );
        }
    }
}
