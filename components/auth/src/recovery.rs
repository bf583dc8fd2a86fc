//! Forgotten passwords and usernames.
//!
//! Both requests answer 202 whatever was entered; mail goes only to an existing
//! account's own address. A reset link is single-use, valid 1 hour, and a newer
//! one retires the older. Using it sets the new password, confirms the address
//! (the link proved the mailbox), ends every session of the user and signs this
//! browser in, still owing the second factor.

use edgedesk_core::db::transaction;
use edgedesk_core::token::sha256_hex;
use edgedesk_core::{ApiError, outbox, password, rate_limit, session, validate};
use serde::Deserialize;

use crate::accounts;
use crate::env::Env;
use crate::login::clear_failures;
use crate::mail;
use crate::policy::{self, Owner};
use crate::tokens::{self, Purpose};

pub const PER_IP_PER_HOUR: i64 = 10;
pub const PER_TARGET_PER_HOUR: i64 = 3;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgotPasswordInput {
    pub login: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetInput {
    pub token: String,
    pub new_password: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgotUsernameInput {
    pub email: String,
}

fn limits(env: &Env<'_>, route: &str, client_ip: &str, target: &str) -> Result<(), ApiError> {
    let now = env.now();
    rate_limit::limit(
        env.sql,
        &format!("{route}/ip/{client_ip}"),
        PER_IP_PER_HOUR,
        3600,
        now,
    )?;
    rate_limit::limit(
        env.sql,
        &format!("{route}/target/{}", sha256_hex(target)),
        PER_TARGET_PER_HOUR,
        3600,
        now,
    )
}

/// Returns whether a mail was queued (tests only; the client sees 202).
pub fn forgot_password(
    env: &Env<'_>,
    input: &ForgotPasswordInput,
    client_ip: &str,
) -> Result<bool, ApiError> {
    let login = validate::line("login", &input.login, 1, 254)?.to_lowercase();
    limits(env, "forgot", client_ip, &login)?;
    transaction(env.sql, || {
        let Some(user) = accounts::by_login(env.sql, &login)? else {
            return Ok(false);
        };
        let token = tokens::issue(env.sql, env.clock, env.rng, &user.id, Purpose::Reset)?;
        let m = mail::reset(env.cfg, &user.email, &user.full_name, &token);
        outbox::enqueue(env.sql, env.clock, env.rng, &m)?;
        Ok(true)
    })
}

pub fn forgot_username(
    env: &Env<'_>,
    input: &ForgotUsernameInput,
    client_ip: &str,
) -> Result<bool, ApiError> {
    let email = validate::email("email", &input.email)?;
    limits(env, "forgot_username", client_ip, &email)?;
    transaction(env.sql, || {
        let Some(user) = accounts::by_email(env.sql, &email)? else {
            return Ok(false);
        };
        let m = mail::username_reminder(env.cfg, &user.email, &user.full_name, &user.username);
        outbox::enqueue(env.sql, env.clock, env.rng, &m)?;
        Ok(true)
    })
}

/// A reset checked and hashed, ready to apply.
pub struct PreparedReset {
    token: String,
    user_id: String,
    hash: String,
}

/// Checks the token (without spending it) and the new password against the
/// policy, and hashes it: everything slow happens before the write transaction.
pub fn prepare_reset(env: &Env<'_>, input: &ResetInput) -> Result<PreparedReset, ApiError> {
    let token = input.token.trim();
    if token.is_empty() {
        return Err(ApiError::invalid(
            "token",
            "required",
            "This field is required.",
        ));
    }
    let user_id = tokens::peek(env.sql, env.clock, token, Purpose::Reset)?
        .ok_or_else(tokens::invalid_token)?;
    let user = accounts::by_id(env.sql, &user_id)?.ok_or_else(tokens::invalid_token)?;
    // A reset link must not bring a deactivated account back.
    if crate::people::is_deactivated(env.sql, &user.id)? {
        return Err(crate::people::deactivated_error());
    }
    policy::check(
        "new_password",
        &input.new_password,
        &Owner {
            username: Some(&user.username),
            email: &user.email,
            full_name: &user.full_name,
        },
    )?;
    Ok(PreparedReset {
        token: token.to_owned(),
        user_id,
        hash: password::hash(&input.new_password, env.rng)?,
    })
}

/// Applies a prepared reset. Call inside a transaction (the caller then starts
/// the new session in the same one). Returns the user id.
pub fn apply_reset(env: &Env<'_>, p: &PreparedReset) -> Result<String, ApiError> {
    // Spent here, atomically: a second use of the link in the meantime loses.
    let spent = tokens::spend(env.sql, env.clock, &p.token, Purpose::Reset)?;
    if spent.as_deref() != Some(p.user_id.as_str()) {
        return Err(tokens::invalid_token());
    }
    let user = accounts::by_id(env.sql, &p.user_id)?.ok_or_else(tokens::invalid_token)?;
    let now = env.now();
    accounts::set_password(env.sql, &user.id, &p.hash, now)?;
    accounts::confirm_email(env.sql, env.cfg, &user, now)?;
    clear_failures(env.sql, &user.id)?;
    session::destroy_others(env.sql, &user.id, None)?;
    Ok(user.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{World, outbox_kinds};
    use edgedesk_core::Sql;
    use edgedesk_core::db::transaction;
    use edgedesk_core::random::OsRandom;
    use edgedesk_core::session::{Stage, create, load};

    const PW: &str = "orbit-cactus-velvet-42";
    const NEW: &str = "marble-tundra-piano-77";

    fn forgot(w: &World, login: &str) -> Result<bool, ApiError> {
        forgot_password(
            &w.env(),
            &ForgotPasswordInput {
                login: login.into(),
            },
            "10.0.0.1",
        )
    }

    fn reset(w: &World, token: &str, pw: &str) -> Result<String, ApiError> {
        let env = w.env();
        let p = prepare_reset(
            &env,
            &ResetInput {
                token: token.into(),
                new_password: pw.into(),
            },
        )?;
        transaction(&w.db, || apply_reset(&env, &p))
    }

    #[test]
    fn reset_sets_the_password_and_ends_every_session() {
        let w = World::new();
        let id = w.confirmed_user("ada", "ada@corp.example", PW);
        let (old, _) = create(&w.db, &w.clock, &OsRandom, &id, Stage::Full, true).unwrap();
        assert!(forgot(&w, "ada").unwrap());
        let token = w.last_link_token("/reset-password?token=");
        assert_eq!(reset(&w, &token, NEW).unwrap(), id);
        let u = accounts::by_id(&w.db, &id).unwrap().unwrap();
        assert!(password::verify(NEW, &u.password_hash));
        assert!(load(&w.db, &w.clock, &old).unwrap().is_none());
        // single use
        assert_eq!(reset(&w, &token, NEW).unwrap_err().code(), "invalid_token");
    }

    #[test]
    fn reset_link_expires_after_an_hour() {
        let w = World::new();
        w.confirmed_user("ada", "ada@corp.example", PW);
        forgot(&w, "ada@corp.example").unwrap();
        let token = w.last_link_token("/reset-password?token=");
        w.clock.advance(3600);
        assert_eq!(reset(&w, &token, NEW).unwrap_err().code(), "invalid_token");
    }

    #[test]
    fn reset_checks_the_policy_without_spending_the_link() {
        let w = World::new();
        w.confirmed_user("ada", "ada@corp.example", PW);
        forgot(&w, "ada").unwrap();
        let token = w.last_link_token("/reset-password?token=");
        let e = reset(&w, &token, "password1234").unwrap_err();
        assert_eq!(e.body()["error"]["field"], "new_password");
        let e = reset(&w, &token, "ada-orbit-cactus-velvet").unwrap_err();
        assert_eq!(e.code(), "password_contains_name");
        assert!(reset(&w, &token, NEW).is_ok());
    }

    #[test]
    fn reset_confirms_an_unconfirmed_address() {
        let w = World::new();
        let id = w.confirmed_user("ada", "ada@corp.example", PW);
        w.db.execute("UPDATE users SET email_confirmed_at = NULL", &[])
            .unwrap();
        forgot(&w, "ada").unwrap();
        reset(&w, &w.last_link_token("/reset-password?token="), NEW).unwrap();
        let u = accounts::by_id(&w.db, &id).unwrap().unwrap();
        assert!(u.email_confirmed_at.is_some());
    }

    #[test]
    fn forgot_answers_alike_for_unknown_accounts_and_mails_nobody() {
        let w = World::new();
        assert!(!forgot(&w, "nobody").unwrap());
        let r = forgot_username(
            &w.env(),
            &ForgotUsernameInput {
                email: "nobody@corp.example".into(),
            },
            "10.0.0.1",
        );
        assert!(!r.unwrap());
        assert!(outbox_kinds(&w.db).is_empty());
    }

    #[test]
    fn forgot_username_mails_the_username() {
        let w = World::new();
        w.confirmed_user("ada", "ada@corp.example", PW);
        let input = ForgotUsernameInput {
            email: "ADA@corp.example".into(),
        };
        assert!(forgot_username(&w.env(), &input, "10.0.0.1").unwrap());
        let rows =
            w.db.execute("SELECT to_addr, text_body FROM outbox", &[])
                .unwrap();
        let r = rows.first().unwrap();
        assert_eq!(r.text(0).unwrap(), "ada@corp.example");
        assert!(r.text(1).unwrap().contains("Your username is: ada"));
    }

    #[test]
    fn forgot_routes_are_rate_limited() {
        let w = World::new();
        for _ in 0..PER_TARGET_PER_HOUR {
            forgot(&w, "ada").unwrap();
        }
        let e = forgot(&w, "ada").unwrap_err();
        assert_eq!(e.status(), 429);
        let input = ForgotUsernameInput { email: "x".into() };
        let e = forgot_username(&w.env(), &input, "10.0.0.1").unwrap_err();
        assert_eq!(e.body()["error"]["field"], "email");
    }
}
