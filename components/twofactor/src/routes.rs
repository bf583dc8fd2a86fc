//! The route table and thin handlers: parse, authorize (stage rules), call the
//! domain functions, serialize.

use edgedesk_core::clock::rfc3339;
use edgedesk_core::db::transaction;
use edgedesk_core::second_factor::DEVICE_COOKIE;
use edgedesk_core::{ApiError, keys, users, validate};
use edgedesk_web::request::JsonBody;
use edgedesk_web::router::route;
use edgedesk_web::{Ctx, Params, Resp, Route, Session, Stage};
use serde::Deserialize;
use serde_json::{Value as Json, json};

use crate::attempts::{self, Failure};
use crate::backup_codes;
use crate::devices;
use crate::email_otp::{self, Purpose};
use crate::methods::{self, Kind};
use crate::questions;
use crate::rekey;
use crate::totp;
use crate::webauthn::{self, CredentialIn, Rp};

pub const ROUTES: &[Route] = &[
    route("GET", "/api/2fa", overview),
    route("POST", "/api/2fa/totp/setup", totp_setup),
    route("POST", "/api/2fa/totp/confirm", totp_confirm),
    route("POST", "/api/2fa/email/setup", email_setup),
    route("POST", "/api/2fa/email/confirm", email_confirm),
    route("GET", "/api/2fa/questions/catalog", questions_catalog),
    route("POST", "/api/2fa/questions", questions_set),
    route("POST", "/api/2fa/backup-codes", backup_codes_regenerate),
    route(
        "POST",
        "/api/2fa/webauthn/register/options",
        webauthn_register_options,
    ),
    route("POST", "/api/2fa/webauthn/register", webauthn_register),
    route("POST", "/api/2fa/primary", set_primary),
    route("DELETE", "/api/2fa/methods/{method}", delete_method),
    route("POST", "/api/2fa/challenge", challenge),
    route("POST", "/api/2fa/resend", resend),
    route("POST", "/api/2fa/verify", verify),
    route("GET", "/api/2fa/devices", devices_list),
    route("DELETE", "/api/2fa/devices/{id}", devices_delete),
    route("GET", "/api/admin/keys", keys_status),
    route(
        "POST",
        "/api/admin/second-factor/{user_id}/reset",
        admin_reset_second_factor,
    ),
    route("POST", "/api/admin/keys/reseal", keys_reseal),
    route("POST", "/api/admin/keys/check-link", keys_check_link),
];

/// At `full`, changing methods or devices needs a second-factor check this recent.
pub const REAUTH_S: i64 = 10 * 60;

const DEFAULT_PORTAL: &str = "EdgeDesk Service Desk";

fn portal_name(ctx: &Ctx) -> String {
    ctx.var_or("portal_name", DEFAULT_PORTAL)
}

fn rp(ctx: &Ctx) -> Result<Rp, ApiError> {
    Rp::from_base_url(&ctx.base_url(), &portal_name(ctx))
}

/// Tells `api.js` that the session (and its CSRF token) was rotated.
fn session_changed(r: Resp) -> Resp {
    r.header("x-session-changed", "1")
}

fn reauth_required() -> ApiError {
    ApiError::unauthorized(
        "reauth_required",
        "Confirm your second factor again to change your sign-in methods.",
    )
}

/// True when the session's last second-factor check is recent enough.
fn fresh(s: &Session, now: i64) -> bool {
    s.second_factor_at.is_some_and(|t| now - t <= REAUTH_S)
}

/// The guard of every route that sets up or changes methods or devices:
/// `needs_2fa_setup` (first setup) or `full` with a fresh second-factor check.
fn require_change(ctx: &Ctx) -> Result<&Session, ApiError> {
    let s = ctx.require_stage(&[Stage::Needs2faSetup, Stage::Full])?;
    let has_methods = !methods::list(ctx.sql()?, &s.user_id)?.is_empty();
    match s.stage {
        // A setup session from before the user configured a method (e.g. left
        // open elsewhere) must not add methods of its own: it owes the factor.
        Stage::Needs2faSetup if has_methods => {
            ctx.change_stage(Stage::PasswordOk, false)?;
            Err(ApiError::unauthorized(
                "second_factor_required",
                "Confirm your second factor to continue.",
            ))
        }
        Stage::Full if has_methods && !fresh(s, ctx.now()) => Err(reauth_required()),
        _ => Ok(s),
    }
}

/// After a method was configured: the first one completes the setup stage.
fn configured(ctx: &Ctx, s: &Session, resp: Resp) -> Result<Resp, ApiError> {
    if s.stage == Stage::Needs2faSetup {
        ctx.change_stage(Stage::Full, true)?;
        return Ok(session_changed(resp));
    }
    Ok(resp)
}

fn contact(ctx: &Ctx, user_id: &str) -> Result<users::Contact, ApiError> {
    users::contact(ctx.sql()?, user_id)?
        .ok_or_else(|| ApiError::unauthorized("not_signed_in", "Please sign in."))
}

fn code_of(body: &Option<String>) -> &str {
    body.as_deref().unwrap_or("")
}

// ------------------------------------------------------------------ overview

fn backup_method(list: &[methods::Method]) -> Option<Kind> {
    let backups: Vec<&methods::Method> = list.iter().filter(|m| m.kind.is_backup()).collect();
    backups
        .iter()
        .find(|m| !m.primary && m.kind == Kind::BackupCodes)
        .or_else(|| backups.iter().find(|m| !m.primary))
        .or_else(|| backups.first())
        .map(|m| m.kind)
}

fn overview(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let s = ctx.require_stage(&[Stage::PasswordOk, Stage::Needs2faSetup, Stage::Full])?;
    let sql = ctx.sql()?;
    let now = ctx.now();
    let list = methods::list(sql, &s.user_id)?;
    // While the second factor is still owed, show which methods exist, nothing more.
    let detailed = s.stage != Stage::PasswordOk;
    let left = backup_codes::remaining(sql, &s.user_id)?;
    let mut out = Vec::new();
    for kind in Kind::ALL {
        let m = list.iter().find(|m| m.kind == kind);
        let mut item = json!({
            "kind": kind.as_str(),
            "configured": m.is_some(),
            "primary": m.is_some_and(|m| m.primary),
        });
        if detailed && let Some(m) = m {
            item["configured_at"] = json!(rfc3339(m.created_at));
            item["details"] = match kind {
                Kind::Totp => json!({}),
                Kind::EmailOtp => json!({"email": contact(ctx, &s.user_id)?.email}),
                Kind::SecurityQuestions => {
                    let qs = questions::texts(sql, &s.user_id)?;
                    json!({"questions": qs.into_iter().map(|q| q.text).collect::<Vec<_>>()})
                }
                Kind::BackupCodes => json!({"remaining": left}),
                Kind::Webauthn => json!({"credentials": webauthn::credentials(sql, &s.user_id)?}),
            };
        }
        out.push(item);
    }
    let devices = if s.stage == Stage::Full {
        devices::list(sql, &s.user_id, now, ctx.req.cookie(DEVICE_COOKIE))?
    } else {
        Vec::new()
    };
    let reauth_until = s
        .second_factor_at
        .filter(|_| s.stage == Stage::Full)
        .map(|t| rfc3339(t + REAUTH_S));
    Ok(Resp::json(
        200,
        &json!({
            "stage": s.stage.as_str(),
            "methods": out,
            "backup_method": backup_method(&list).map(Kind::as_str),
            "backup_codes_left": left,
            "trusted_devices": devices,
            "reauth_required": s.stage == Stage::Full && !list.is_empty() && !fresh(s, now),
            "reauth_until": reauth_until,
        }),
    ))
}

// --------------------------------------------------------------------- TOTP

#[derive(Deserialize)]
struct CodeBody {
    code: String,
}

fn totp_setup(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let s = require_change(ctx)?;
    let who = contact(ctx, &s.user_id)?;
    let setup = totp::begin_setup(
        ctx.sql()?,
        ctx.rng(),
        &ctx.data_keys()?,
        &s.user_id,
        &portal_name(ctx),
        &who.username,
        ctx.now(),
    )?;
    Ok(Resp::json(200, &setup))
}

fn totp_confirm(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let s = require_change(ctx)?;
    let body: CodeBody = ctx.req.json()?;
    let code = totp::parse_code(&body.code)?;
    if !totp::confirm(ctx.sql()?, &ctx.data_keys()?, &s.user_id, &code, ctx.now())? {
        return Err(ApiError::invalid(
            "code",
            "invalid_code",
            "That code is not right. Check the time on your phone and try the newest code.",
        ));
    }
    configured(ctx, s, Resp::no_content())
}

// -------------------------------------------------------------------- email

fn mail_ctx(portal: &str) -> email_otp::MailContext<'_> {
    email_otp::MailContext {
        portal_name: portal,
    }
}

fn email_setup(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let s = require_change(ctx)?;
    let portal = portal_name(ctx);
    email_otp::send(
        ctx.sql()?,
        ctx.clock(),
        ctx.rng(),
        &ctx.data_keys()?,
        &s.user_id,
        Purpose::Setup,
        &mail_ctx(&portal),
    )?;
    ctx.kick_mail();
    Ok(Resp::accepted())
}

fn email_confirm(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let s = require_change(ctx)?;
    let body: CodeBody = ctx.req.json()?;
    let code = totp::parse_code(&body.code)?;
    let sql = ctx.sql()?;
    let now = ctx.now();
    match email_otp::check(
        sql,
        &ctx.data_keys()?,
        &s.user_id,
        Purpose::Setup,
        &code,
        now,
    )? {
        email_otp::Check::Ok => methods::add(sql, &s.user_id, Kind::EmailOtp, now)?,
        email_otp::Check::Wrong => {
            return Err(ApiError::invalid(
                "code",
                "invalid_code",
                "That code is not right. Use the newest code we emailed you.",
            ));
        }
    }
    configured(ctx, s, Resp::no_content())
}

// --------------------------------------------------------- security questions

fn questions_catalog(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    ctx.require_stage(&[Stage::Needs2faSetup, Stage::Full])?;
    Ok(Resp::json(200, &json!({"questions": questions::catalog()})))
}

#[derive(Deserialize)]
struct QuestionsBody {
    answers: Vec<questions::AnswerIn>,
}

fn questions_set(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let s = require_change(ctx)?;
    let body: QuestionsBody = ctx.req.json()?;
    questions::set(ctx.sql()?, ctx.rng(), &s.user_id, &body.answers, ctx.now())?;
    configured(ctx, s, Resp::no_content())
}

// ------------------------------------------------------------- backup codes

fn backup_codes_regenerate(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let s = require_change(ctx)?;
    let codes = backup_codes::regenerate(
        ctx.sql()?,
        ctx.rng(),
        &ctx.data_keys()?,
        &s.user_id,
        ctx.now(),
    )?;
    configured(ctx, s, Resp::json(200, &json!({"codes": codes})))
}

// ----------------------------------------------------------------- WebAuthn

fn webauthn_register_options(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let s = require_change(ctx)?;
    let who = contact(ctx, &s.user_id)?;
    let opts = webauthn::register_options(
        ctx.sql()?,
        ctx.rng(),
        &rp(ctx)?,
        &webauthn::UserEntity {
            id: &s.user_id,
            name: &who.username,
            display_name: &who.full_name,
        },
        ctx.now(),
    )?;
    Ok(Resp::json(200, &opts))
}

#[derive(Deserialize)]
struct RegisterBody {
    credential: Json,
    label: Option<String>,
}

fn webauthn_register(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let s = require_change(ctx)?;
    let body: RegisterBody = ctx.req.json()?;
    let cred = CredentialIn::from_json(&body.credential)?;
    let label = match body.label.as_deref().map(str::trim) {
        Some(l) if !l.is_empty() => validate::line("label", l, 1, 60)?,
        _ => devices::label_from_user_agent(ctx.req.header("user-agent").unwrap_or("")),
    };
    webauthn::register(ctx.sql()?, &rp(ctx)?, &s.user_id, &cred, &label, ctx.now())?;
    configured(ctx, s, Resp::no_content())
}

// ------------------------------------------------------- primary and removal

#[derive(Deserialize)]
struct MethodBody {
    method: String,
}

fn set_primary(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let s = require_change(ctx)?;
    let body: MethodBody = ctx.req.json()?;
    let kind = Kind::parse_field("method", &body.method)?;
    methods::set_primary(ctx.sql()?, &s.user_id, kind, ctx.now())?;
    Ok(Resp::no_content())
}

fn delete_method(ctx: &Ctx, p: &Params) -> Result<Resp, ApiError> {
    let kind = Kind::parse(p.get("method")).ok_or(ApiError::NotFound)?;
    let s = require_change(ctx)?;
    methods::remove(ctx.sql()?, &s.user_id, kind, ctx.now())?;
    Ok(Resp::no_content())
}

// ------------------------------------------------------------------ sign-in

fn challenge(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let s = ctx.require_stage(&[Stage::PasswordOk, Stage::Full])?;
    let body: MethodBody = ctx.req.json()?;
    let kind = Kind::parse_field("method", &body.method)?;
    let sql = ctx.sql()?;
    let now = ctx.now();
    attempts::ensure_not_locked(sql, &s.user_id, now)?;
    if !methods::is_configured(sql, &s.user_id, kind)? {
        return Err(methods::not_configured());
    }
    let out = match kind {
        Kind::Totp | Kind::BackupCodes => json!({}),
        Kind::EmailOtp => {
            // A code mailed less than a minute ago is still on its way: no second mail.
            if !email_otp::recently_sent(sql, &s.user_id, Purpose::Login, now)? {
                send_login_code(ctx, &s.user_id)?;
            }
            json!({})
        }
        Kind::SecurityQuestions => {
            json!({"questions": questions::challenge(sql, ctx.rng(), &s.user_id, now)?})
        }
        Kind::Webauthn => webauthn::assertion_options(sql, ctx.rng(), &rp(ctx)?, &s.user_id, now)?,
    };
    Ok(Resp::json(200, &out))
}

fn resend(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let s = ctx.require_stage(&[Stage::PasswordOk, Stage::Full])?;
    let sql = ctx.sql()?;
    attempts::ensure_not_locked(sql, &s.user_id, ctx.now())?;
    if !methods::is_configured(sql, &s.user_id, Kind::EmailOtp)? {
        return Err(methods::not_configured());
    }
    send_login_code(ctx, &s.user_id)?;
    Ok(Resp::accepted())
}

/// Mails a fresh sign-in code (replacing any earlier one) and kicks delivery.
fn send_login_code(ctx: &Ctx, user_id: &str) -> Result<(), ApiError> {
    let portal = portal_name(ctx);
    email_otp::send(
        ctx.sql()?,
        ctx.clock(),
        ctx.rng(),
        &ctx.data_keys()?,
        user_id,
        Purpose::Login,
        &mail_ctx(&portal),
    )?;
    ctx.kick_mail();
    Ok(())
}

#[derive(Deserialize)]
struct VerifyBody {
    method: String,
    code: Option<String>,
    answers: Option<Vec<questions::GivenAnswer>>,
    credential: Option<Json>,
    remember_device: Option<bool>,
}

fn verify(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let s = ctx.require_stage(&[Stage::PasswordOk, Stage::Full])?;
    let body: VerifyBody = ctx.req.json()?;
    let kind = Kind::parse_field("method", &body.method)?;
    let sql = ctx.sql()?;
    let now = ctx.now();
    let user = s.user_id.as_str();
    attempts::ensure_not_locked(sql, user, now)?;
    if !methods::is_configured(sql, user, kind)? {
        return Err(methods::not_configured());
    }
    // Malformed input answers 400 before anything is counted: it cannot be right.
    let right = match kind {
        Kind::Totp => {
            let code = totp::parse_code(code_of(&body.code))?;
            totp::verify(sql, ctx.rng(), &ctx.data_keys()?, user, &code, now)?
        }
        Kind::EmailOtp => {
            let code = totp::parse_code(code_of(&body.code))?;
            email_otp::check(sql, &ctx.data_keys()?, user, Purpose::Login, &code, now)?
                == email_otp::Check::Ok
        }
        Kind::BackupCodes => {
            let code = backup_codes::parse_code(code_of(&body.code))?;
            backup_codes::use_code(sql, ctx.rng(), &ctx.data_keys()?, user, &code, now)?
        }
        Kind::SecurityQuestions => {
            questions::verify(sql, user, body.answers.as_deref().unwrap_or(&[]), now)?
        }
        Kind::Webauthn => {
            let c = body.credential.as_ref().ok_or_else(|| {
                ApiError::invalid("credential", "required", "This field is required.")
            })?;
            let c = CredentialIn::from_json(c)?;
            webauthn::verify_assertion(sql, &rp(ctx)?, user, &c, now)?
        }
    };
    if !right {
        let portal = portal_name(ctx);
        let base = ctx.base_url();
        let f = attempts::record_failure(
            sql,
            ctx.clock(),
            ctx.rng(),
            user,
            &attempts::MailContext {
                portal_name: &portal,
                base_url: &base,
            },
        )?;
        if let Failure::Locked { .. } = f {
            ctx.kick_mail();
            if s.stage == Stage::PasswordOk {
                // Whoever is at this sign-in starts again with the password.
                ctx.end_session()?;
            }
        }
        return Err(f.error(now));
    }
    attempts::record_success(sql, user)?;
    ctx.change_stage(Stage::Full, true)?;
    if body.remember_device == Some(true) {
        let value = devices::trust(
            sql,
            ctx.rng(),
            user,
            ctx.req.header("user-agent").unwrap_or(""),
            now,
        )?;
        ctx.add_cookie(devices::cookie(&value, ctx.secure_cookies()));
    }
    Ok(session_changed(Resp::json(200, &json!({"stage": "full"}))))
}

// ------------------------------------------------------------------ devices

fn devices_list(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let s = ctx.require_full()?;
    let items = devices::list(
        ctx.sql()?,
        &s.user_id,
        ctx.now(),
        ctx.req.cookie(DEVICE_COOKIE),
    )?;
    let n = items.len();
    Ok(Resp::json(
        200,
        &json!({"items": items, "total": n, "page": 1, "per_page": n.max(1)}),
    ))
}

fn devices_delete(ctx: &Ctx, p: &Params) -> Result<Resp, ApiError> {
    let s = require_change(ctx)?;
    let id = p.get("id");
    devices::remove(ctx.sql()?, &s.user_id, id)?;
    if ctx
        .req
        .cookie(DEVICE_COOKIE)
        .and_then(devices::cookie_id)
        .is_some_and(|c| c == id)
    {
        ctx.add_cookie(devices::clear_cookie(ctx.secure_cookies()));
    }
    Ok(Resp::no_content())
}

// ------------------------------------------------------------ console

/// An operator resets a person's second factor (lost phone): every method,
/// secret and trusted device goes, the person's sessions end, they are mailed,
/// and at their next sign-in they set a second factor up again. Operators act
/// on customers; a staff account needs an admin. Audited in the same
/// transaction.
fn admin_reset_second_factor(ctx: &Ctx, p: &Params) -> Result<Resp, ApiError> {
    let (s, role) = ctx.require_operator()?;
    let sql = ctx.sql()?;
    let user_id = p.get("user_id");
    let target_role = users::role(sql, user_id)?.ok_or(ApiError::NotFound)?;
    if target_role.is_operator() && role != users::Role::Admin {
        return Err(ApiError::forbidden(
            "admins_only",
            "Only administrators may change an operator's or administrator's account.",
        ));
    }
    let contact = users::contact(sql, user_id)?.ok_or(ApiError::NotFound)?;
    let actor_label = edgedesk_core::audit::user_label(sql, &s.user_id)?;
    let portal = portal_name(ctx);
    let now = ctx.now();
    let removed = transaction(sql, || {
        let removed = methods::reset_all(sql, user_id)?;
        sql.execute(
            "DELETE FROM sessions WHERE user_id = ?1",
            edgedesk_core::params![user_id],
        )?;
        let mail = edgedesk_core::mail::render(
            "2fa.reset",
            &contact.email,
            format!("{portal}: your second factor was reset"),
            &[
                edgedesk_core::mail::hello(&contact.full_name),
                edgedesk_core::mail::Part::Text(format!(
                    "The service desk reset the second factor of your account (username {}). \
                     The next time you sign in, you will set up a new one.",
                    contact.username
                )),
                edgedesk_core::mail::Part::Text(
                    "If you did not ask for this, contact the service desk.".into(),
                ),
                edgedesk_core::mail::Part::Link(
                    "Sign in".into(),
                    format!("{}/login", ctx.base_url()),
                ),
            ],
            &portal,
            None,
        );
        edgedesk_core::outbox::enqueue(sql, ctx.clock(), ctx.rng(), &mail)?;
        edgedesk_core::audit::record(
            sql,
            now,
            edgedesk_core::audit::Actor::user(&s.user_id, &actor_label),
            "user.second_factor_reset",
            edgedesk_core::audit::Target {
                id: &format!("user:{user_id}"),
                label: &contact.username,
            },
            &format!("removed: {}", removed.join(", ")),
            &ctx.req.client_ip(),
        )?;
        Ok::<_, ApiError>(removed)
    })?;
    ctx.kick_mail();
    Ok(Resp::json(200, &json!({ "removed": removed })))
}

// ------------------------------------------------------------ key rotation

/// Key administration is for admins only: operators get `403 admins_only`,
/// everyone else `404`, like every `/api/admin` route.
fn require_admin(ctx: &Ctx) -> Result<(), ApiError> {
    ctx.require_admin().map(|_| ())
}

/// Which data key sealed how many values, and whether the previous key (and
/// the old `link_secret`) are still needed.
fn keys_status(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    require_admin(ctx)?;
    let status = rekey::status(ctx.sql()?, &ctx.data_keys()?, ctx.now())?;
    Ok(Resp::json(200, &status))
}

/// Re-seals one batch (`?batch=`, default 1000, at most 10000) with the
/// current data key; call again while `remaining` is above 0.
fn keys_reseal(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    require_admin(ctx)?;
    let batch = match ctx.req.query_param("batch") {
        None => rekey::DEFAULT_BATCH,
        Some(b) => match b.parse::<usize>() {
            Ok(n) if (1..=rekey::MAX_BATCH).contains(&n) => n,
            _ => {
                return Err(ApiError::invalid(
                    "batch",
                    "invalid_batch",
                    "batch must be a whole number from 1 to 10000.",
                ));
            }
        },
    };
    let status = rekey::reseal(ctx.sql()?, ctx.rng(), &ctx.data_keys()?, ctx.now(), batch)?;
    Ok(Resp::json(200, &status))
}

#[derive(Deserialize)]
struct CheckLinkBody {
    purpose: String,
    token: String,
}

/// Says whether a signed link is valid now and, if not, why (for support:
/// "my link does not work"). Answers for admins only, as it names the reason.
fn keys_check_link(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    require_admin(ctx)?;
    let body: CheckLinkBody = ctx.req.json()?;
    let purpose = validate::line("purpose", &body.purpose, 1, 64)?;
    let link_keys = ctx.link_keys()?;
    let answer = match keys::check_link(&link_keys, &purpose, body.token.trim(), ctx.now()) {
        Ok(l) => json!({
            "valid": true,
            "subject": l.subject,
            "expires_at": rfc3339(l.expires_at),
            "key_id": l.key_id,
        }),
        Err(e) => json!({"valid": false, "reason": e.as_str()}),
    };
    Ok(Resp::json(200, &answer))
}

/// Every JSON body of this component's routes, parsed and checked as the
/// route does before it touches storage (fuzzed natively: fuzz/ and
/// docs/SECURITY.md, "Fuzzing").
#[doc(hidden)]
pub const JSON_BODIES: &[JsonBody] = &[
    JsonBody::checked("POST /api/2fa/totp/confirm", |r| {
        totp::parse_code(&r.json::<CodeBody>()?.code).map(|_| ())
    }),
    JsonBody::checked("POST /api/2fa/email/confirm", |r| {
        totp::parse_code(&r.json::<CodeBody>()?.code).map(|_| ())
    }),
    JsonBody::of::<QuestionsBody>("POST /api/2fa/questions"),
    JsonBody::checked("POST /api/2fa/webauthn/register", |r| {
        CredentialIn::from_json(&r.json::<RegisterBody>()?.credential).map(|_| ())
    }),
    JsonBody::checked("POST /api/2fa/primary", |r| {
        Kind::parse_field("method", &r.json::<MethodBody>()?.method).map(|_| ())
    }),
    JsonBody::checked("POST /api/2fa/challenge", |r| {
        Kind::parse_field("method", &r.json::<MethodBody>()?.method).map(|_| ())
    }),
    JsonBody::checked("POST /api/2fa/verify", |r| {
        let body: VerifyBody = r.json()?;
        match Kind::parse_field("method", &body.method)? {
            Kind::Totp | Kind::EmailOtp => totp::parse_code(code_of(&body.code)).map(|_| ()),
            Kind::BackupCodes => backup_codes::parse_code(code_of(&body.code)).map(|_| ()),
            Kind::SecurityQuestions => Ok(()),
            Kind::Webauthn => match &body.credential {
                Some(c) => CredentialIn::from_json(c).map(|_| ()),
                None => Ok(()),
            },
        }
    }),
    JsonBody::checked("POST /api/admin/keys/check-link", |r| {
        let body: CheckLinkBody = r.json()?;
        let purpose = validate::line("purpose", &body.purpose, 1, 64)?;
        let keys = keys::LinkKeys::new(b"fuzz", None);
        let _ = keys::check_link(&keys, &purpose, body.token.trim(), 0);
        Ok(())
    }),
];
