//! The route table and thin handlers: parse, authorize, call the domain, answer.

use edgedesk_core::ApiError;
use edgedesk_core::db::transaction;
use edgedesk_core::second_factor;
use edgedesk_web::router::route;
use edgedesk_web::{Ctx, Params, Resp, Route, Stage};
use serde::Deserialize;
use serde_json::json;

use crate::env::{Config, Env};
use crate::{login, policy, profile, recovery, signup, terms};

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
];

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
