//! The route table and thin handlers: parse, authorize, call the domain, answer.

use edgedesk_core::access::{self, Access};
use edgedesk_core::db::transaction;
use edgedesk_core::{ApiError, users};
use edgedesk_web::request::JsonBody;
use edgedesk_web::router::route;
use edgedesk_web::{Ctx, Params, Resp, Route};
use serde::Deserialize;
use serde_json::json;

use crate::env::Env;
use crate::requests::{self, Right};
use crate::{decide, links, orgs};

pub const ROUTES: &[Route] = &[
    route("POST", "/api/access-requests", request_access),
    route("GET", "/api/access-requests", list_decidable),
    route("GET", "/api/access-requests/mine", list_mine),
    // Literal routes before `{id}`: the router takes the first match.
    route("GET", "/api/access-requests/approve-link", link_show),
    route("POST", "/api/access-requests/approve-link", link_approve),
    route("GET", "/api/access-requests/{id}", show),
    route("POST", "/api/access-requests/{id}/approve", approve),
    route("POST", "/api/access-requests/{id}/decline", decline),
    route("GET", "/api/organizations/mine", my_organization),
    route("GET", "/api/admin/organizations", admin_list),
    route("POST", "/api/admin/organizations", admin_create),
    route("GET", "/api/admin/organizations/{id}", admin_show),
    route("PATCH", "/api/admin/organizations/{id}", admin_update),
    route("POST", "/api/admin/organizations/{id}/merge", admin_merge),
    route(
        "POST",
        "/api/admin/organizations/{id}/members",
        admin_add_member,
    ),
    route(
        "DELETE",
        "/api/admin/organizations/{id}/members/{user_id}",
        admin_remove_member,
    ),
];

fn env(ctx: &Ctx) -> Result<Env<'_>, ApiError> {
    Ok(Env {
        sql: ctx.sql()?,
        clock: ctx.clock(),
        rng: ctx.rng(),
        portal_name: ctx.var_or("portal_name", "EdgeDesk Service Desk"),
        base_url: ctx.base_url(),
        address: ctx.req.client_ip(),
    })
}

/// An admin edit of an organization, audited in the edit's transaction.
fn audit_org(ctx: &Ctx, action: &str, org_id: &str, detail: &str) -> Result<(), ApiError> {
    let (s, _) = ctx.require_operator()?;
    let sql = ctx.sql()?;
    let actor = edgedesk_core::audit::user_label(sql, &s.user_id)?;
    let name = orgs::by_id(sql, org_id)?
        .map(|o| o.name)
        .unwrap_or_default();
    edgedesk_core::audit::record(
        sql,
        ctx.now(),
        edgedesk_core::audit::Actor::user(&s.user_id, &actor),
        action,
        edgedesk_core::audit::Target {
            id: &format!("organization:{org_id}"),
            label: &name,
        },
        detail,
        &ctx.req.client_ip(),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompanyInput {
    company_name: String,
}

fn request_access(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let s = ctx.require_full()?;
    let input: CompanyInput = ctx.req.json()?;
    let created = requests::create(&env(ctx)?, &s.user_id, &input.company_name)?;
    ctx.kick_mail();
    Ok(Resp::json(201, &created))
}

fn list_decidable(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let viewer = ctx.desk_viewer()?;
    let status = requests::status_filter(ctx.req.query_param("status").as_deref())?;
    let approver = requests::approver_filter(ctx.req.query_param("approver").as_deref())?;
    let page = requests::list(ctx.sql()?, &viewer, status, approver, &ctx.paging()?)?;
    Ok(Resp::json(200, &page))
}

fn list_mine(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let s = ctx.require_full()?;
    let page = requests::mine(ctx.sql()?, &s.user_id, &ctx.paging()?)?;
    Ok(Resp::json(200, &page))
}

fn show(ctx: &Ctx, p: &Params) -> Result<Resp, ApiError> {
    let s = ctx.require_full()?;
    let (r, right) = requests::visible(ctx.sql()?, &s.user_id, p.get("id"))?;
    Ok(Resp::json(200, &requests::view(&r, right)))
}

fn approve(ctx: &Ctx, p: &Params) -> Result<Resp, ApiError> {
    let s = ctx.require_full()?;
    let r = decide::approve(&env(ctx)?, &s.user_id, p.get("id"))?;
    ctx.kick_mail();
    Ok(Resp::json(200, &requests::view(&r, Right::Decide)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeclineInput {
    reason: String,
}

fn decline(ctx: &Ctx, p: &Params) -> Result<Resp, ApiError> {
    let s = ctx.require_full()?;
    let input: DeclineInput = ctx.req.json()?;
    let r = decide::decline(&env(ctx)?, &s.user_id, p.get("id"), &input.reason)?;
    ctx.kick_mail();
    Ok(Resp::json(200, &requests::view(&r, Right::Decide)))
}

/// The signed-in user, if the browser has a full session (the link pages work
/// signed out too).
fn signed_in_user(ctx: &Ctx) -> Result<Option<String>, ApiError> {
    Ok(ctx
        .session()?
        .filter(|s| s.stage == edgedesk_web::Stage::Full)
        .map(|s| s.user_id.clone()))
}

/// The confirmation page's data for a mailed "Approve" link. Reading it spends
/// nothing.
fn link_show(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let token = ctx.req.query_param("token").unwrap_or_default();
    let sql = ctx.sql()?;
    let bound = links::peek(sql, &token, ctx.now())?;
    if signed_in_user(ctx)?.is_some_and(|u| u != bound.approver_id) {
        return Err(decide::wrong_approver());
    }
    let (r, right) = requests::visible(sql, &bound.approver_id, &bound.request_id)?;
    let approver = users::contact(sql, &bound.approver_id)?.ok_or(ApiError::NotFound)?;
    Ok(Resp::json(
        200,
        &json!({
            "request": requests::view(&r, right),
            "approver": { "id": bound.approver_id, "full_name": approver.full_name },
        }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenInput {
    token: String,
}

fn link_approve(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let input: TokenInput = ctx.req.json()?;
    let user = signed_in_user(ctx)?;
    let r = decide::approve_by_link(&env(ctx)?, &input.token, user.as_deref())?;
    ctx.kick_mail();
    Ok(Resp::json(200, &requests::view(&r, Right::Decide)))
}

/// The caller's organization and its approved members; 404 until their access
/// is approved (a pending requester must not see who works there).
fn my_organization(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let s = ctx.require_full()?;
    let sql = ctx.sql()?;
    let m = access::membership(sql, &s.user_id)?
        .filter(|m| m.access == Access::Approved)
        .ok_or(ApiError::NotFound)?;
    let members = orgs::members(sql, &m.organization_id, false)?;
    Ok(Resp::json(
        200,
        &json!({
            "id": m.organization_id,
            "name": m.organization_name,
            "members": members,
        }),
    ))
}

// ------------------------------------------------------------ operators

fn admin_list(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    ctx.require_operator()?;
    let q = ctx.req.query_param("q").unwrap_or_default();
    let page = orgs::list(ctx.sql()?, &q, &ctx.paging()?)?;
    Ok(Resp::json(200, &page))
}

fn org_detail(ctx: &Ctx, id: &str) -> Result<serde_json::Value, ApiError> {
    let sql = ctx.sql()?;
    let o = orgs::by_id(sql, id)?.ok_or(ApiError::NotFound)?;
    Ok(json!({
        "id": o.id,
        "name": o.name,
        "state": if o.approved { "approved" } else { "pending" },
        "domains": orgs::domains(sql, &o.id)?,
        "members": orgs::members(sql, &o.id, true)?,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrgInput {
    name: Option<String>,
    domains: Option<Vec<String>>,
}

fn admin_create(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    ctx.require_operator()?;
    let input: OrgInput = ctx.req.json()?;
    let name = orgs::clean_name("name", input.name.as_deref().unwrap_or(""))?;
    let sql = ctx.sql()?;
    let id = transaction(sql, || {
        let o = orgs::create(sql, ctx.rng(), &name, true, ctx.now())?;
        let domains = orgs::set_domains(sql, &o.id, input.domains.as_deref().unwrap_or(&[]))?;
        audit_org(
            ctx,
            "organization.create",
            &o.id,
            &format!("domains: {}", domains.join(", ")),
        )?;
        Ok::<_, ApiError>(o.id)
    })?;
    Ok(Resp::json(201, &org_detail(ctx, &id)?))
}

fn admin_show(ctx: &Ctx, p: &Params) -> Result<Resp, ApiError> {
    ctx.require_operator()?;
    Ok(Resp::json(200, &org_detail(ctx, p.get("id"))?))
}

fn admin_update(ctx: &Ctx, p: &Params) -> Result<Resp, ApiError> {
    ctx.require_operator()?;
    let input: OrgInput = ctx.req.json()?;
    let name = input
        .name
        .as_deref()
        .map(|n| orgs::clean_name("name", n))
        .transpose()?;
    let sql = ctx.sql()?;
    let id = p.get("id");
    transaction(sql, || {
        orgs::by_id(sql, id)?.ok_or(ApiError::NotFound)?;
        if let Some(name) = &name {
            orgs::rename(sql, id, name, ctx.now())?;
        }
        if let Some(domains) = &input.domains {
            orgs::set_domains(sql, id, domains)?;
        }
        let detail = format!(
            "{}{}",
            name.as_deref()
                .map(|n| format!("name: {n}; "))
                .unwrap_or_default(),
            input
                .domains
                .as_ref()
                .map(|d| format!("domains: {}", d.join(", ")))
                .unwrap_or_default()
        );
        audit_org(ctx, "organization.update", id, &detail)?;
        Ok::<_, ApiError>(())
    })?;
    Ok(Resp::json(200, &org_detail(ctx, id)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MergeInput {
    into: String,
}

fn admin_merge(ctx: &Ctx, p: &Params) -> Result<Resp, ApiError> {
    ctx.require_operator()?;
    let input: MergeInput = ctx.req.json()?;
    let (from, into) = (p.get("id"), input.into.as_str());
    if from == into {
        return Err(ApiError::invalid(
            "into",
            "same_organization",
            "Choose another organization to merge into.",
        ));
    }
    let sql = ctx.sql()?;
    transaction(sql, || {
        orgs::by_id(sql, from)?.ok_or(ApiError::NotFound)?;
        orgs::by_id(sql, into)?.ok_or_else(|| {
            ApiError::invalid("into", "unknown_organization", "No such organization.")
        })?;
        audit_org(
            ctx,
            "organization.merge",
            from,
            &format!("merged into organization:{into}"),
        )?;
        orgs::merge(sql, from, into, ctx.now())
    })?;
    Ok(Resp::json(200, &org_detail(ctx, into)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberInput {
    login: String,
}

fn admin_add_member(ctx: &Ctx, p: &Params) -> Result<Resp, ApiError> {
    let (s, _) = ctx.require_operator()?;
    let input: MemberInput = ctx.req.json()?;
    let sql = ctx.sql()?;
    let id = p.get("id");
    transaction(sql, || {
        orgs::by_id(sql, id)?.ok_or(ApiError::NotFound)?;
        orgs::add_member(sql, id, &input.login, &s.user_id, ctx.now())?;
        audit_org(ctx, "organization.member_added", id, &input.login)
    })?;
    Ok(Resp::json(200, &org_detail(ctx, id)?))
}

fn admin_remove_member(ctx: &Ctx, p: &Params) -> Result<Resp, ApiError> {
    ctx.require_operator()?;
    let sql = ctx.sql()?;
    transaction(sql, || {
        orgs::remove_member(sql, p.get("id"), p.get("user_id"))?;
        let who = edgedesk_core::audit::user_label(sql, p.get("user_id"))?;
        audit_org(ctx, "organization.member_removed", p.get("id"), &who)
    })?;
    Ok(Resp::no_content())
}

/// Every JSON body of this component's routes, parsed as the route parses it
/// (fuzzed natively: fuzz/ and docs/SECURITY.md, "Fuzzing").
#[doc(hidden)]
pub const JSON_BODIES: &[JsonBody] = &[
    JsonBody::of::<CompanyInput>("POST /api/access-requests"),
    JsonBody::of::<TokenInput>("POST /api/access-requests/approve-link"),
    JsonBody::of::<DeclineInput>("POST /api/access-requests/{id}/decline"),
    JsonBody::of::<OrgInput>("POST /api/admin/organizations"),
    JsonBody::of::<OrgInput>("PATCH /api/admin/organizations/{id}"),
    JsonBody::of::<MergeInput>("POST /api/admin/organizations/{id}/merge"),
    JsonBody::of::<MemberInput>("POST /api/admin/organizations/{id}/members"),
];
