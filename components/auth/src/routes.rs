//! The route table and thin handlers: parse, authorize, call the domain, answer.

use edgedesk_core::ApiError;
use edgedesk_core::db::transaction;
use edgedesk_core::second_factor;
use edgedesk_web::request::JsonBody;
use edgedesk_web::router::route;
use edgedesk_web::{Ctx, Params, Resp, Route, Stage};
use serde::Deserialize;
use serde_json::json;

use crate::env::{Config, Env};
use crate::{login, people, policy, profile, recovery, signup, terms};
use edgedesk_core::users::Role;

pub const ROUTES: &[Route] = &[
    route("GET", "/api/auth/password-policy", password_policy),
    route("GET", "/api/auth/signup", signup_info),
    route("POST", "/api/auth/signup", signup_post),
    route("POST", "/api/auth/confirm", confirm),
    route("POST", "/api/auth/login", login_post),
    route("POST", "/api/auth/logout", logout),
    route("POST", "/api/auth/password/forgot", forgot_password),
    route("POST", "/api/auth/password/reset", reset_password),
    route("POST", "/api/auth/username/forgot", forgot_username),
    route("GET", "/api/session", session),
    route("GET", "/api/profile", profile_get),
    route("PATCH", "/api/profile", profile_patch),
    route("POST", "/api/profile/password", profile_password),
    route("GET", "/api/terms", terms_get),
    route("POST", "/api/terms/accept", terms_accept),
    route("POST", "/api/admin/users", admin_invite),
    route("GET", "/api/admin/users", admin_people),
    route("GET", "/api/admin/users/{id}", admin_person),
    route("POST", "/api/admin/users/{id}/unlock", admin_unlock),
    route(
        "POST",
        "/api/admin/users/{id}/end-sessions",
        admin_end_sessions,
    ),
    route("POST", "/api/admin/users/{id}/role", admin_role),
    route("POST", "/api/admin/users/{id}/deactivate", admin_deactivate),
    route("POST", "/api/admin/users/{id}/reactivate", admin_reactivate),
    route("GET", "/api/admin/audit", admin_audit),
    route("GET", "/api/admin/settings", admin_settings),
];

// ------------------------------------------------------------ console: people

/// The signed-in operator (customers get 404) and what the audit log names.
fn operator(ctx: &Ctx) -> Result<(String, String, Role), ApiError> {
    let (s, role) = ctx.require_operator()?;
    let username = edgedesk_core::audit::user_label(ctx.sql()?, &s.user_id)?;
    Ok((s.user_id.clone(), username, role))
}

fn admin_people(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    ctx.require_operator()?;
    let page = people::search(
        ctx.sql()?,
        &ctx.req.query_param("q").unwrap_or_default(),
        &ctx.req.query_param("role").unwrap_or_default(),
        &ctx.paging()?,
        ctx.now(),
    )?;
    Ok(Resp::json(200, &page))
}

fn admin_person(ctx: &Ctx, p: &Params) -> Result<Resp, ApiError> {
    ctx.require_operator()?;
    Ok(Resp::json(
        200,
        &people::detail(ctx.sql()?, p.get("id"), ctx.now())?,
    ))
}

/// Runs one account action as the signed-in operator, then answers with the
/// person's page.
fn act(
    ctx: &Ctx,
    p: &Params,
    f: impl FnOnce(&dyn edgedesk_core::Sql, &people::Operator<'_>, &str, i64) -> Result<(), ApiError>,
) -> Result<Resp, ApiError> {
    let (id, username, role) = operator(ctx)?;
    let address = ctx.req.client_ip();
    let op = people::Operator {
        id: &id,
        username: &username,
        role,
        address: &address,
    };
    let sql = ctx.sql()?;
    f(sql, &op, p.get("id"), ctx.now())?;
    Ok(Resp::json(
        200,
        &people::detail(sql, p.get("id"), ctx.now())?,
    ))
}

fn admin_unlock(ctx: &Ctx, p: &Params) -> Result<Resp, ApiError> {
    act(ctx, p, people::unlock)
}

fn admin_end_sessions(ctx: &Ctx, p: &Params) -> Result<Resp, ApiError> {
    act(ctx, p, |sql, op, id, now| {
        people::end_sessions(sql, op, id, now).map(|_| ())
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleInput {
    role: String,
}

fn admin_role(ctx: &Ctx, p: &Params) -> Result<Resp, ApiError> {
    // Role first: operators learn `admins_only` before any body parsing.
    if ctx.require_operator()?.1 != Role::Admin {
        return Err(ApiError::forbidden(
            "admins_only",
            "Only administrators may change roles.",
        ));
    }
    let input: RoleInput = ctx.req.json()?;
    act(ctx, p, |sql, op, id, now| {
        people::set_role(sql, op, id, &input.role, now)
    })
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReasonInput {
    #[serde(default)]
    reason: String,
}

fn admin_deactivate(ctx: &Ctx, p: &Params) -> Result<Resp, ApiError> {
    ctx.require_operator()?;
    let input: ReasonInput = if ctx.req.body.is_empty() {
        ReasonInput::default()
    } else {
        ctx.req.json()?
    };
    act(ctx, p, |sql, op, id, now| {
        people::deactivate(sql, op, id, &input.reason, now)
    })
}

fn admin_reactivate(ctx: &Ctx, p: &Params) -> Result<Resp, ApiError> {
    act(ctx, p, people::reactivate)
}

/// The audit log, newest first; `format=csv` answers the whole filtered log
/// (up to `core::audit::CSV_MAX_ROWS`) as a CSV download instead of a page.
fn admin_audit(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    ctx.require_operator()?;
    let q = |n: &str| ctx.req.query_param(n);
    let filter =
        people::audit_filter(q("action"), q("actor"), q("target"), q("since"), q("until"))?;
    match q("format").as_deref() {
        None | Some("") | Some("json") => Ok(Resp::json(
            200,
            &edgedesk_core::audit::list(ctx.sql()?, &filter, &ctx.paging()?)?,
        )),
        Some("csv") => {
            let text = edgedesk_core::audit::csv(ctx.sql()?, &filter)?;
            Ok(Resp::new(200)
                .header("content-type", "text/csv; charset=utf-8")
                .header("content-disposition", "attachment; filename=\"audit.csv\"")
                .with_body(text.into_bytes()))
        }
        Some(_) => Err(ApiError::invalid(
            "format",
            "invalid_format",
            "Use json or csv.",
        )),
    }
}

/// The portal's settings, read-only, with where each is changed. Only
/// variables that are not secret are listed, and they are the only ones this
/// component's spin.toml section gives it besides the link keys.
fn admin_settings(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    ctx.require_operator()?;
    let hours = edgedesk_core::hours::WorkingHours::from_var(
        &ctx.var_or("working_hours", edgedesk_core::hours::DEFAULT),
    );
    let item = |name: &str, value: String, meaning: &str| {
        json!({
            "name": name,
            "value": value,
            "meaning": meaning,
            "change": format!(
                "spin.toml [variables] {name}, or the environment variable SPIN_VARIABLE_{} (then restart the app)",
                name.to_ascii_uppercase()
            ),
        })
    };
    let items = vec![
        item(
            "portal_name",
            ctx.var_or("portal_name", "EdgeDesk Service Desk"),
            "Shown on pages and in mail.",
        ),
        item(
            "public_base_url",
            ctx.base_url(),
            "Used to build links in mail.",
        ),
        item(
            "ticket_key_prefix",
            ctx.var_or("ticket_key_prefix", "SD"),
            "Reference keys: PREFIX-1, PREFIX-2, …",
        ),
        item(
            "signup_mode",
            ctx.var_or("signup_mode", "open"),
            "open: anyone may sign up; invite: administrators create accounts.",
        ),
        item(
            "working_hours",
            ctx.var_or("working_hours", edgedesk_core::hours::DEFAULT),
            &format!("The desk's hours: {}.", hours.describe()),
        ),
        item(
            "mail_transport",
            ctx.var_or("mail_transport", "log"),
            "log: mail goes to the host's log; http: delivered to the relay.",
        ),
    ];
    Ok(Resp::json(200, &json!({ "items": items })))
}

/// An administrator creates a customer account (invite sign-up mode, or any
/// time): the person is mailed a link to choose their password.
fn admin_invite(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    ctx.require_admin()?;
    let input: crate::invite::InviteInput = ctx.req.json()?;
    let (id, username) = with_env(ctx, |env| crate::invite::invite(env, &input))?;
    ctx.kick_mail();
    Ok(Resp::json(
        201,
        &json!({ "id": id, "username": username, "email": input.email.trim().to_lowercase() }),
    ))
}

/// Tells `api.js` that the session (and its CSRF token) changed.
fn session_changed(r: Resp) -> Resp {
    r.header("x-session-changed", "1")
}

fn config(ctx: &Ctx) -> Config {
    Config::new(
        &ctx.var_or("portal_name", "EdgeDesk Service Desk"),
        &ctx.base_url(),
        &ctx.var_or("signup_mode", "open"),
        &ctx.var_or("admin_emails", ""),
    )
}

fn with_env<T>(ctx: &Ctx, f: impl FnOnce(&Env<'_>) -> Result<T, ApiError>) -> Result<T, ApiError> {
    let cfg = config(ctx);
    let env = Env {
        sql: ctx.sql()?,
        clock: ctx.clock(),
        rng: ctx.rng(),
        cfg: &cfg,
    };
    f(&env)
}

fn password_policy(_: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    Ok(Resp::json(200, &policy::describe()))
}

/// Not in the contract's list (an addition): lets the sign-up page say up front
/// that accounts are created by administrators.
fn signup_info(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let open = config(ctx).signup_open;
    Ok(Resp::json(
        200,
        &json!({ "signup_mode": if open { "open" } else { "invite" } }),
    ))
}

fn signup_post(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    if !config(ctx).signup_open {
        return Err(signup::closed());
    }
    let input: signup::SignupInput = ctx.req.json()?;
    with_env(ctx, |env| signup::signup(env, &input, &ctx.req.client_ip()))?;
    ctx.kick_mail();
    Ok(Resp::accepted())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenInput {
    token: String,
}

fn confirm(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let input: TokenInput = ctx.req.json()?;
    let username = with_env(ctx, |env| signup::confirm(env, &input.token))?;
    Ok(Resp::json(200, &json!({ "username": username })))
}

fn login_post(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let input: login::LoginInput = ctx.req.json()?;
    let device = ctx.req.cookie(second_factor::DEVICE_COOKIE);
    let result = with_env(ctx, |env| {
        login::login(env, &input, &ctx.req.client_ip(), device)
    });
    let signed_in = match result {
        Ok(s) => s,
        Err(e) => {
            if matches!(e, ApiError::Locked { .. }) {
                // The lock mail (if the account exists) was queued with the lock.
                ctx.kick_mail();
            }
            return Err(e);
        }
    };
    ctx.start_session(
        &signed_in.user_id,
        signed_in.stage,
        input.remember_me.unwrap_or(false),
    )?;
    Ok(session_changed(Resp::json(
        200,
        &json!({ "stage": signed_in.stage.as_str(), "methods": signed_in.methods }),
    )))
}

/// Works at every stage (and without a session: signing out twice is fine).
fn logout(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    ctx.end_session()?;
    Ok(session_changed(Resp::no_content()))
}

fn forgot_password(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let input: recovery::ForgotPasswordInput = ctx.req.json()?;
    with_env(ctx, |env| {
        recovery::forgot_password(env, &input, &ctx.req.client_ip())
    })?;
    // Kicked whether or not a mail was queued, so the answer looks the same.
    ctx.kick_mail();
    Ok(Resp::accepted())
}

fn forgot_username(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let input: recovery::ForgotUsernameInput = ctx.req.json()?;
    with_env(ctx, |env| {
        recovery::forgot_username(env, &input, &ctx.req.client_ip())
    })?;
    ctx.kick_mail();
    Ok(Resp::accepted())
}

fn reset_password(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let input: recovery::ResetInput = ctx.req.json()?;
    let (stage, methods) = with_env(ctx, |env| {
        let prepared = recovery::prepare_reset(env, &input)?;
        // One transaction: password, spent link, ended sessions and the new
        // session all happen, or none does.
        transaction(env.sql, || {
            let user_id = recovery::apply_reset(env, &prepared)?;
            // No trusted-device cookie: a reset link must not skip the second factor.
            let (stage, methods) =
                second_factor::stage_after_password(env.sql, env.clock, &user_id, None)?;
            let stage = if stage == Stage::Full {
                Stage::PasswordOk
            } else {
                stage
            };
            ctx.start_session(&user_id, stage, false)?;
            Ok((stage, methods))
        })
    })?;
    Ok(session_changed(Resp::json(
        200,
        &json!({ "stage": stage.as_str(), "methods": methods }),
    )))
}

const ANY_STAGE: &[Stage] = &[Stage::PasswordOk, Stage::Needs2faSetup, Stage::Full];

fn session(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let s = ctx.require_stage(ANY_STAGE)?;
    let view = with_env(ctx, |env| {
        let user = profile::session_user(env, s)?;
        let membership = edgedesk_core::access::membership(env.sql, &user.id)?;
        Ok(profile::session_view(&user, s, membership.as_ref()))
    })?;
    Ok(Resp::json(200, &view))
}

fn profile_get(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let s = ctx.require_full()?;
    let view = with_env(ctx, |env| {
        Ok(profile::profile_view(&profile::session_user(env, s)?))
    })?;
    Ok(Resp::json(200, &view))
}

fn profile_patch(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let s = ctx.require_full()?;
    let patch: profile::ProfilePatch = ctx.req.json()?;
    let view = with_env(ctx, |env| {
        let user = profile::session_user(env, s)?;
        Ok(profile::profile_view(&profile::update_profile(
            env, &user, &patch,
        )?))
    })?;
    Ok(Resp::json(200, &view))
}

fn profile_password(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let s = ctx.require_full()?;
    let input: profile::PasswordChange = ctx.req.json()?;
    with_env(ctx, |env| {
        let user = profile::session_user(env, s)?;
        profile::change_password(env, &user, &s.token_hash, &input)
    })?;
    Ok(Resp::no_content())
}

fn terms_get(_: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    Ok(Resp::json(
        200,
        &json!({ "version": terms::CURRENT_VERSION, "text": terms::TEXT }),
    ))
}

fn terms_accept(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let s = ctx.require_stage(&[Stage::Needs2faSetup, Stage::Full])?;
    let input: profile::TermsAccept = ctx.req.json()?;
    with_env(ctx, |env| {
        let user = profile::session_user(env, s)?;
        profile::accept_terms(env, &user, &input)
    })?;
    Ok(Resp::no_content())
}

/// Every JSON body of this component's routes, parsed as the route parses it
/// (fuzzed natively: fuzz/ and docs/SECURITY.md, "Fuzzing").
#[doc(hidden)]
pub const JSON_BODIES: &[JsonBody] = &[
    JsonBody::checked("POST /api/auth/signup", |r| {
        signup::check(&r.json::<signup::SignupInput>()?)
    }),
    JsonBody::of::<TokenInput>("POST /api/auth/confirm"),
    JsonBody::of::<login::LoginInput>("POST /api/auth/login"),
    JsonBody::of::<recovery::ForgotPasswordInput>("POST /api/auth/password/forgot"),
    JsonBody::of::<recovery::ForgotUsernameInput>("POST /api/auth/username/forgot"),
    JsonBody::of::<recovery::ResetInput>("POST /api/auth/password/reset"),
    JsonBody::of::<profile::ProfilePatch>("PATCH /api/profile"),
    JsonBody::of::<profile::PasswordChange>("POST /api/profile/password"),
    JsonBody::of::<profile::TermsAccept>("POST /api/terms/accept"),
    JsonBody::of::<crate::invite::InviteInput>("POST /api/admin/users"),
    JsonBody::of::<RoleInput>("POST /api/admin/users/{id}/role"),
    JsonBody::of::<ReasonInput>("POST /api/admin/users/{id}/deactivate"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use edgedesk_web::router::find;

    #[test]
    fn every_contract_route_is_in_the_table() {
        for (m, p) in [
            ("POST", "/api/auth/signup"),
            ("POST", "/api/auth/confirm"),
            ("POST", "/api/auth/login"),
            ("POST", "/api/auth/logout"),
            ("GET", "/api/session"),
            ("POST", "/api/auth/password/forgot"),
            ("POST", "/api/auth/password/reset"),
            ("POST", "/api/auth/username/forgot"),
            ("GET", "/api/profile"),
            ("PATCH", "/api/profile"),
            ("POST", "/api/profile/password"),
            ("GET", "/api/terms"),
            ("POST", "/api/terms/accept"),
            ("GET", "/api/auth/password-policy"),
        ] {
            assert!(find(ROUTES, m, p).is_ok(), "{m} {p}");
        }
        assert!(matches!(
            find(ROUTES, "DELETE", "/api/profile"),
            Err(ApiError::MethodNotAllowed { .. })
        ));
    }
}
