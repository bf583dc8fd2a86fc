//! The route table and thin handlers: parse, authorize, call the domain, answer.

use std::cell::OnceCell;

use edgedesk_core::access::Viewer;
use edgedesk_core::keys::verify_link;
use edgedesk_core::{ApiError, params};
use edgedesk_web::request::JsonBody;
use edgedesk_web::router::route;
use edgedesk_web::{Ctx, Params, Resp, Route, Write};
use serde::Deserialize;
use serde_json::json;

use crate::env::Env;
use crate::flows;
use crate::lists::{self, Filters, QueueFilters};
use crate::tickets::{self, Ticket};
use crate::types::{self, TypeInput};

pub const ROUTES: &[Route] = &[
    route("GET", "/api/request-types", request_types),
    route("POST", "/api/requests", raise),
    route("GET", "/api/requests", list),
    // Literal routes before `{key}`: the router takes the first match.
    route("GET", "/api/requests/rating-link", rating_link_show),
    route("POST", "/api/requests/rating-link", rating_link_rate),
    route("GET", "/api/requests/{key}", show),
    route("POST", "/api/requests/{key}/comments", comment),
    route("POST", "/api/requests/{key}/visibility", visibility),
    route("POST", "/api/requests/{key}/mute", mute),
    route("POST", "/api/requests/{key}/rating", rate),
    route("GET", "/api/agent/requests", queue),
    route("POST", "/api/agent/requests", raise_for),
    route("GET", "/api/agent/counts", counts),
    route("GET", "/api/agent/operators", operators),
    route("POST", "/api/agent/requests/{key}/assign", assign),
    route("POST", "/api/agent/requests/{key}/transition", transition),
    route("POST", "/api/agent/requests/{key}/comments", agent_comment),
    route(
        "PATCH",
        "/api/agent/requests/{key}/comments/{id}",
        edit_comment,
    ),
    route("GET", "/api/admin/request-types", admin_types),
    route("POST", "/api/admin/request-types", admin_type_create),
    route("PATCH", "/api/admin/request-types/{id}", admin_type_update),
    route("POST", "/api/admin/request-types/order", admin_type_reorder),
    route("GET", "/api/admin/reports", admin_reports),
];

/// Operators' reports (`crate::reports`); `format=csv` downloads the same
/// numbers as CSV.
fn admin_reports(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    ctx.require_operator()?;
    let weeks = crate::reports::parse_weeks(ctx.req.query_param("weeks").as_deref())?;
    let hours = ctx.var_or("working_hours", edgedesk_core::hours::DEFAULT);
    let hours = edgedesk_core::hours::WorkingHours::from_var(&hours);
    let report = crate::reports::build(ctx.sql()?, &hours, weeks, ctx.now())?;
    match ctx.req.query_param("format").as_deref() {
        None | Some("") | Some("json") => Ok(Resp::json(200, &report)),
        Some("csv") => Ok(Resp::new(200)
            .header("content-type", "text/csv; charset=utf-8")
            .header("content-disposition", "attachment; filename=\"report.csv\"")
            .with_body(crate::reports::csv(&report).into_bytes())),
        Some(_) => Err(ApiError::invalid(
            "format",
            "invalid_format",
            "Use json or csv.",
        )),
    }
}

fn env(ctx: &Ctx) -> Result<Env<'_>, ApiError> {
    Ok(Env {
        sql: ctx.sql()?,
        clock: ctx.clock(),
        rng: ctx.rng(),
        portal_name: ctx.var_or("portal_name", "EdgeDesk Service Desk"),
        base_url: ctx.base_url(),
        prefix: ticket_key_prefix(ctx),
        links: OnceCell::new(),
        load_links: Box::new(|| ctx.link_keys()),
        limits: Vec::new(),
    })
}

/// `ticket_key_prefix`: keys read `SD-12`.
fn ticket_key_prefix(ctx: &Ctx) -> String {
    ctx.var_or("ticket_key_prefix", "SD").trim().to_owned()
}

/// The viewer and the request behind `{key}`, or 404.
fn visible<'a>(ctx: &'a Ctx, p: &Params) -> Result<(Env<'a>, Viewer, Ticket), ApiError> {
    let viewer = ctx.desk_viewer()?;
    let env = env(ctx)?;
    let t = tickets::visible(&env, &viewer, p.get("key"))?;
    Ok((env, viewer, t))
}

/// An operator and the request behind `{key}`; customers get 404.
fn agent<'a>(ctx: &'a Ctx, p: &Params) -> Result<(Env<'a>, Viewer, Ticket), ApiError> {
    ctx.require_operator()?;
    visible(ctx, p)
}

fn request_types(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let items: Vec<_> = types::list(ctx.sql()?, false)?
        .into_iter()
        .map(|t| json!({ "id": t.id, "key": t.key, "name": t.name, "description": t.description }))
        .collect();
    Ok(Resp::json(200, &json!({ "items": items })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RaiseInput {
    request_type: String,
    summary: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    visibility: Option<String>,
    #[serde(default)]
    attachment_ids: Option<Vec<String>>,
}

fn raise(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let viewer = ctx.desk_viewer()?;
    let input: RaiseInput = ctx.req.json()?;
    let mut env = env(ctx)?;
    env.limits = ctx.write_limits(Write::Raise, &viewer);
    let files = input.attachment_ids.as_deref().unwrap_or_default();
    let (_, page) = flows::raise(
        &env,
        &viewer,
        &input.request_type,
        &input.summary,
        &input.description,
        input.visibility.as_deref().unwrap_or("private"),
        files,
    )?;
    ctx.kick_mail();
    Ok(Resp::json(201, &page))
}

fn filters(ctx: &Ctx) -> Filters {
    Filters {
        status: ctx.req.query_param("status").unwrap_or_default(),
        request_type: ctx.req.query_param("request_type"),
        q: ctx.req.query_param("q"),
    }
}

fn list(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let created_by = ctx.req.query_param("created_by").unwrap_or_default();
    let filters = filters(ctx);
    // "My requests" rides on the session's statement: one statement for
    // the whole answer. Bad paging is refused after the gate, as before.
    let paging = ctx.paging();
    if let Ok(p) = &paging {
        let prefix = ticket_key_prefix(ctx);
        if let Some(rider) = lists::mine_rider(&prefix, &created_by, &filters, p) {
            ctx.ride_opening(rider);
        }
    }
    let viewer = ctx.desk_viewer()?;
    let paging = paging?;
    let page = match ctx.take_rider_row() {
        // Read for the session's person, whom the gate just let in.
        Some(row) => lists::mine_from_rider(row, &paging)?,
        None => lists::customer_list(&env(ctx)?, &viewer, &created_by, &filters, &paging)?,
    };
    Ok(Resp::json_text(200, page.to_json()))
}

fn show(ctx: &Ctx, p: &Params) -> Result<Resp, ApiError> {
    let (env, viewer, t) = visible(ctx, p)?;
    Ok(Resp::json(200, &flows::page(&env, &viewer, &t)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommentInput {
    body: String,
    #[serde(default)]
    attachment_ids: Option<Vec<String>>,
    #[serde(default)]
    internal: Option<bool>,
}

fn comment(ctx: &Ctx, p: &Params) -> Result<Resp, ApiError> {
    let (mut env, viewer, t) = visible(ctx, p)?;
    let input: CommentInput = ctx.req.json()?;
    if input.internal == Some(true) {
        return Err(ApiError::invalid(
            "internal",
            "not_allowed",
            "Internal notes are for operators.",
        ));
    }
    let files = input.attachment_ids.as_deref().unwrap_or_default();
    env.limits = ctx.write_limits(Write::Comment, &viewer);
    let id = flows::comment(&env, &viewer, &t, &input.body, false, files)?;
    ctx.kick_mail();
    Ok(Resp::json(201, &json!({ "id": id })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VisibilityInput {
    visibility: String,
}

fn visibility(ctx: &Ctx, p: &Params) -> Result<Resp, ApiError> {
    let (env, viewer, t) = visible(ctx, p)?;
    let input: VisibilityInput = ctx.req.json()?;
    let t = flows::set_visibility(&env, &viewer, &t, &input.visibility)?;
    Ok(Resp::json(200, &flows::page(&env, &viewer, &t)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MuteInput {
    muted: bool,
}

fn mute(ctx: &Ctx, p: &Params) -> Result<Resp, ApiError> {
    let (env, viewer, t) = visible(ctx, p)?;
    let input: MuteInput = ctx.req.json()?;
    flows::mute(&env, &viewer, &t, input.muted)?;
    Ok(Resp::json(200, &json!({ "muted": input.muted })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RatingInput {
    score: i64,
    #[serde(default)]
    comment: Option<String>,
}

fn rate(ctx: &Ctx, p: &Params) -> Result<Resp, ApiError> {
    let (env, viewer, t) = visible(ctx, p)?;
    let input: RatingInput = ctx.req.json()?;
    flows::rate(
        &env,
        viewer.user_id(),
        &t,
        input.score,
        input.comment.as_deref(),
    )?;
    let stored = input
        .comment
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    Ok(Resp::json(
        201,
        &json!({ "score": input.score, "comment": stored }),
    ))
}

/// A mailed rating link: `<ticket id>:<user id>:<score>`, signed.
fn rating_link(env: &Env<'_>, token: &str) -> Result<(Ticket, String, i64), ApiError> {
    let invalid = || {
        ApiError::bad_request(
            "invalid_token",
            "This rating link is not valid or has expired.",
        )
    };
    let subject = verify_link(env.links()?, "rating", token, env.now()).ok_or_else(invalid)?;
    let mut parts = subject.split(':');
    let (Some(tid), Some(uid), Some(score), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    let score: i64 = score.parse().map_err(|_| invalid())?;
    let rows = env.sql.execute(
        &format!("SELECT {} FROM tickets t WHERE t.id = ?", tickets::COLS),
        params![tid],
    )?;
    let t = rows
        .first()
        .map(tickets::from_row)
        .transpose()?
        .ok_or_else(invalid)?;
    Ok((t, uid.to_owned(), score))
}

fn rating_state(env: &Env<'_>, t: &Ticket, score: i64) -> Result<serde_json::Value, ApiError> {
    let rating = env.sql.execute(
        "SELECT score, comment FROM ticket_ratings WHERE ticket_id = ?",
        params![t.id.as_str()],
    )?;
    let (rated, comment) = match rating.first() {
        Some(r) => (Some(r.i64(0)?), r.opt_text(1)?),
        None => (None, None),
    };
    Ok(json!({
        "key": env.key(t.number),
        "summary": t.summary,
        "score": score,
        "rated_score": rated,
        "comment": comment,
    }))
}

fn rating_link_show(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let env = env(ctx)?;
    let token = ctx.req.query_param("token").unwrap_or_default();
    let (t, _, score) = rating_link(&env, &token)?;
    Ok(Resp::json(200, &rating_state(&env, &t, score)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RatingLinkInput {
    token: String,
    #[serde(default)]
    comment: Option<String>,
}

/// Records the mailed score (again is fine: the page may be reloaded), then
/// the comment when one is sent.
fn rating_link_rate(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let env = env(ctx)?;
    let input: RatingLinkInput = ctx.req.json()?;
    let (t, user, score) = rating_link(&env, &input.token)?;
    // A bad comment is refused before anything is recorded.
    if let Some(c) = input.comment.as_deref() {
        edgedesk_core::validate::text("comment", c, 1, flows::RATING_COMMENT_MAX)?;
    }
    let state = rating_state(&env, &t, score)?;
    match state["rated_score"].as_i64() {
        None => flows::rate(&env, &user, &t, score, None)?,
        Some(s) if s == score => {}
        Some(_) => {
            return Err(ApiError::conflict(
                "already_rated",
                "This request has already been rated.",
            ));
        }
    }
    if let Some(c) = input.comment.as_deref() {
        flows::add_rating_comment(&env, &user, &t, c)?;
    }
    Ok(Resp::json(200, &rating_state(&env, &t, score)?))
}

// ------------------------------------------------------------ operators

fn queue(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let (s, _) = ctx.require_operator()?;
    let env = env(ctx)?;
    let f = QueueFilters {
        common: filters(ctx),
        assignee: ctx.req.query_param("assignee"),
        organization: ctx.req.query_param("organization"),
        sort: ctx.req.query_param("sort").unwrap_or_default(),
    };
    let page = lists::queue(&env, &s.user_id, &f, &ctx.paging()?)?;
    Ok(Resp::json_text(200, page.to_json()))
}

fn counts(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let (s, _) = ctx.require_operator()?;
    let sql = ctx.sql()?;
    let mut c = lists::counts(sql)?;
    let mine = sql.execute(
        "SELECT count(*) FROM tickets WHERE assignee_id = ? AND status IN ('open', 'in_progress')",
        params![s.user_id.as_str()],
    )?;
    c["assigned_to_me"] = mine
        .first()
        .map(|r| r.i64(0))
        .transpose()?
        .unwrap_or(0)
        .into();
    Ok(Resp::json(200, &c))
}

fn operators(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    ctx.require_operator()?;
    let rows = ctx.sql()?.execute(
        "SELECT id, username, full_name FROM users WHERE role IN ('operator', 'admin') \
         ORDER BY full_name COLLATE NOCASE",
        &[],
    )?;
    let items = rows
        .rows
        .iter()
        .map(|r| Ok(json!({ "id": r.text(0)?, "username": r.text(1)?, "full_name": r.text(2)? })))
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Resp::json(200, &json!({ "items": items })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RaiseForInput {
    on_behalf_of: String,
    request_type: String,
    summary: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    visibility: Option<String>,
}

fn raise_for(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let (s, _) = ctx.require_operator()?;
    let input: RaiseForInput = ctx.req.json()?;
    let shared = match input.visibility.as_deref() {
        None => false,
        Some(v) => tickets::check_visibility(v)? == "organization",
    };
    let viewer = ctx.desk_viewer()?;
    let mut env = env(ctx)?;
    // The operator's own limits (the address), never the customer's.
    env.limits = ctx.write_limits(Write::Raise, &viewer);
    let t = flows::raise_for(
        &env,
        &s.user_id,
        &input.on_behalf_of,
        &input.request_type,
        &input.summary,
        &input.description,
        shared,
    )?;
    ctx.kick_mail();
    Ok(Resp::json(
        201,
        &flows::raised_page(&env, &viewer, &t, false)?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignInput {
    assignee_id: Option<String>,
}

fn assign(ctx: &Ctx, p: &Params) -> Result<Resp, ApiError> {
    let (env, viewer, t) = agent(ctx, p)?;
    let input: AssignInput = ctx.req.json()?;
    let t = flows::assign(&env, viewer.user_id(), &t, input.assignee_id.as_deref())?;
    Ok(Resp::json(200, &flows::page(&env, &viewer, &t)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransitionInput {
    to: String,
    #[serde(default)]
    resolution: Option<String>,
}

fn transition(ctx: &Ctx, p: &Params) -> Result<Resp, ApiError> {
    let (env, viewer, t) = agent(ctx, p)?;
    let input: TransitionInput = ctx.req.json()?;
    let t = flows::transition(
        &env,
        viewer.user_id(),
        &t,
        &input.to,
        input.resolution.as_deref(),
    )?;
    ctx.kick_mail();
    Ok(Resp::json(200, &flows::page(&env, &viewer, &t)?))
}

fn agent_comment(ctx: &Ctx, p: &Params) -> Result<Resp, ApiError> {
    let (mut env, viewer, t) = agent(ctx, p)?;
    let input: CommentInput = ctx.req.json()?;
    let internal = input.internal.unwrap_or(false);
    let files = input.attachment_ids.as_deref().unwrap_or_default();
    env.limits = ctx.write_limits(Write::Comment, &viewer);
    let id = flows::comment(&env, &viewer, &t, &input.body, internal, files)?;
    ctx.kick_mail();
    Ok(Resp::json(201, &json!({ "id": id, "internal": internal })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EditInput {
    body: String,
}

fn edit_comment(ctx: &Ctx, p: &Params) -> Result<Resp, ApiError> {
    let (env, viewer, t) = agent(ctx, p)?;
    let input: EditInput = ctx.req.json()?;
    flows::edit_comment(&env, viewer.user_id(), &t, p.get("id"), &input.body)?;
    ctx.kick_mail();
    Ok(Resp::json(200, &flows::page(&env, &viewer, &t)?))
}

fn admin_types(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    ctx.require_operator()?;
    Ok(Resp::json(
        200,
        &json!({ "items": types::list(ctx.sql()?, true)? }),
    ))
}

/// Topic edits are admin edits: each is audited in its own transaction.
fn audited_type_change(
    ctx: &Ctx,
    action: &str,
    change: impl FnOnce(&dyn edgedesk_core::Sql) -> Result<types::RequestType, ApiError>,
) -> Result<types::RequestType, ApiError> {
    let s = ctx.require_admin()?;
    let sql = ctx.sql()?;
    let label = edgedesk_core::audit::user_label(sql, &s.user_id)?;
    edgedesk_core::db::transaction(sql, || {
        let t = change(sql)?;
        let detail = format!(
            "key {}, name {}, position {}{}",
            t.key,
            t.name,
            t.position,
            if t.hidden { ", hidden" } else { "" }
        );
        edgedesk_core::audit::record(
            sql,
            ctx.now(),
            edgedesk_core::audit::Actor::user(&s.user_id, &label),
            action,
            edgedesk_core::audit::Target {
                id: &format!("request_type:{}", t.id),
                label: &t.name,
            },
            &detail,
            &ctx.req.client_ip(),
        )?;
        Ok(t)
    })
}

fn admin_type_create(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    ctx.require_admin()?;
    let input: TypeInput = ctx.req.json()?;
    let t = audited_type_change(ctx, "topic.create", |sql| {
        types::create(sql, ctx.rng(), &input, ctx.now())
    })?;
    Ok(Resp::json(201, &t))
}

fn admin_type_update(ctx: &Ctx, p: &Params) -> Result<Resp, ApiError> {
    ctx.require_admin()?;
    let input: TypeInput = ctx.req.json()?;
    let t = audited_type_change(ctx, "topic.update", |sql| {
        types::update(sql, p.get("id"), &input, ctx.now())
    })?;
    Ok(Resp::json(200, &t))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderInput {
    ids: Vec<String>,
}

/// Admins: the whole topic order at once (`types::reorder`), in one
/// transaction with its audit entry: a bad list changes nothing.
fn admin_type_reorder(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let s = ctx.require_admin()?;
    let input: OrderInput = ctx.req.json()?;
    let sql = ctx.sql()?;
    let label = edgedesk_core::audit::user_label(sql, &s.user_id)?;
    let items = edgedesk_core::db::transaction(sql, || {
        let items = types::reorder(sql, &input.ids, ctx.now())?;
        let keys: Vec<&str> = items.iter().map(|t| t.key.as_str()).collect();
        edgedesk_core::audit::record(
            sql,
            ctx.now(),
            edgedesk_core::audit::Actor::user(&s.user_id, &label),
            "topic.reorder",
            edgedesk_core::audit::Target {
                id: "request_types",
                label: "topics",
            },
            &format!("order {}", keys.join(", ")),
            &ctx.req.client_ip(),
        )?;
        Ok::<_, ApiError>(items)
    })?;
    Ok(Resp::json(200, &json!({ "items": items })))
}

/// Every JSON body of this component's routes, parsed as the route parses it
/// (fuzzed natively: fuzz/ and docs/SECURITY.md, "Fuzzing").
#[doc(hidden)]
pub const JSON_BODIES: &[JsonBody] = &[
    JsonBody::of::<RaiseInput>("POST /api/requests"),
    JsonBody::of::<RatingLinkInput>("POST /api/requests/rating-link"),
    JsonBody::of::<CommentInput>("POST /api/requests/{key}/comments"),
    JsonBody::of::<VisibilityInput>("POST /api/requests/{key}/visibility"),
    JsonBody::of::<MuteInput>("POST /api/requests/{key}/mute"),
    JsonBody::of::<RatingInput>("POST /api/requests/{key}/rating"),
    JsonBody::of::<RaiseForInput>("POST /api/agent/requests"),
    JsonBody::of::<AssignInput>("POST /api/agent/requests/{key}/assign"),
    JsonBody::of::<TransitionInput>("POST /api/agent/requests/{key}/transition"),
    JsonBody::of::<CommentInput>("POST /api/agent/requests/{key}/comments"),
    JsonBody::of::<EditInput>("PATCH /api/agent/requests/{key}/comments/{id}"),
    JsonBody::of::<TypeInput>("POST /api/admin/request-types"),
    JsonBody::of::<TypeInput>("PATCH /api/admin/request-types/{id}"),
    JsonBody::of::<OrderInput>("POST /api/admin/request-types/order"),
];
