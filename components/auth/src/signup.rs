//! Sign-up and email confirmation.
//!
//! Enumeration-safe: every well-formed sign-up answers 202 and sends exactly one
//! mail to the address given: a confirmation link for a new (or never
//! confirmed) address, "you already have an account" for a confirmed one, "that
//! username is taken" when the chosen username belongs to someone else. Every
//! path hashes the password once, so the answer time does not tell them apart
//! either.

use edgedesk_core::db::transaction;
use edgedesk_core::token::new_id;
use edgedesk_core::{ApiError, outbox, password, rate_limit, validate};
use serde::Deserialize;

use crate::accounts::{self, NewUser};
use crate::env::Env;
use crate::policy::{self, Owner};
use crate::tokens::{self, Purpose};
use crate::{mail, terms};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignupInput {
    pub email: String,
    pub full_name: String,
    pub password: String,
    #[serde(default)]
    pub username: Option<String>,
    pub accept_terms_version: String,
}

/// Sign-ups per client address and per target address per hour. The per-address
/// limit keeps the form from being used to flood someone's mailbox.
pub const PER_IP_PER_HOUR: i64 = 10;
pub const PER_EMAIL_PER_HOUR: i64 = 3;

pub const FULL_NAME_MAX: usize = 100;

pub fn closed() -> ApiError {
    ApiError::forbidden(
        "signup_closed",
        "Accounts are created by administrators. Ask your administrator for an invitation.",
    )
}

struct Valid {
    email: String,
    full_name: String,
    username: Option<String>,
}

/// The checks of a sign-up that need no storage (what [`validate`] finds).
pub fn check(input: &SignupInput) -> Result<(), ApiError> {
    validate(input).map(|_| ())
}

fn validate(input: &SignupInput) -> Result<Valid, ApiError> {
    let email = validate::email("email", &input.email)?;
    let full_name = validate::line("full_name", &input.full_name, 1, FULL_NAME_MAX)?;
    let username = match input.username.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(u) => Some(validate::username("username", u)?),
    };
    policy::check(
        "password",
        &input.password,
        &Owner {
            username: username.as_deref(),
            email: &email,
            full_name: &full_name,
        },
    )?;
    if input.accept_terms_version != terms::CURRENT_VERSION {
        return Err(ApiError::invalid(
            "accept_terms_version",
            "terms_not_accepted",
            format!(
                "Read and accept the terms and conditions (version {}) to create an account.",
                terms::CURRENT_VERSION
            ),
        ));
    }
    Ok(Valid {
        email,
        full_name,
        username,
    })
}

/// What a sign-up did (for tests; the client always sees 202).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    ReplacedPending,
    AlreadyRegistered,
    UsernameTaken,
}

pub fn signup(env: &Env<'_>, input: &SignupInput, client_ip: &str) -> Result<Outcome, ApiError> {
    if !env.cfg.signup_open {
        return Err(closed());
    }
    let v = validate(input)?;
    let now = env.now();
    rate_limit::limit(
        env.sql,
        &format!("signup/ip/{client_ip}"),
        PER_IP_PER_HOUR,
        3600,
        now,
    )?;
    rate_limit::limit(
        env.sql,
        &format!("signup/email/{}", v.email),
        PER_EMAIL_PER_HOUR,
        3600,
        now,
    )?;
    // Hashed on every path (outside the write transaction: it takes a while).
    let hash = password::hash(&input.password, env.rng)?;
    let id = new_id(env.rng);
    let username = v.username.clone().unwrap_or_else(|| v.email.clone());
    let new = NewUser {
        id: &id,
        username: &username,
        email: &v.email,
        full_name: &v.full_name,
        password_hash: &hash,
        terms_version: terms::CURRENT_VERSION,
    };
    transaction(env.sql, || {
        let existing = accounts::by_email(env.sql, &v.email)?;
        let holder = accounts::by_username(env.sql, &username)?;
        let (outcome, mail) = match existing {
            Some(u) if u.email_confirmed_at.is_some() => (
                Outcome::AlreadyRegistered,
                mail::already_registered(env.cfg, &u.email, &u.full_name),
            ),
            Some(u) if holder.as_ref().is_some_and(|h| h.id != u.id) => (
                Outcome::UsernameTaken,
                mail::username_taken(env.cfg, &v.email, &v.full_name, &username),
            ),
            Some(u) => {
                accounts::replace_pending(env.sql, &u.id, &new, now)?;
                let token = tokens::issue(env.sql, env.clock, env.rng, &u.id, Purpose::Confirm)?;
                (
                    Outcome::ReplacedPending,
                    mail::confirm(env.cfg, &v.email, &v.full_name, &token),
                )
            }
            None if holder.is_some() => (
                Outcome::UsernameTaken,
                mail::username_taken(env.cfg, &v.email, &v.full_name, &username),
            ),
            None => {
                accounts::insert(env.sql, &new, now)?;
                let token = tokens::issue(env.sql, env.clock, env.rng, &id, Purpose::Confirm)?;
                (
                    Outcome::Created,
                    mail::confirm(env.cfg, &v.email, &v.full_name, &token),
                )
            }
        };
        outbox::enqueue(env.sql, env.clock, env.rng, &mail)?;
        Ok(outcome)
    })
}

/// Confirms an email address; returns the username to sign in with.
pub fn confirm(env: &Env<'_>, token: &str) -> Result<String, ApiError> {
    transaction(env.sql, || {
        let user_id = tokens::spend(env.sql, env.clock, token.trim(), Purpose::Confirm)?
            .ok_or_else(tokens::invalid_token)?;
        let user = accounts::by_id(env.sql, &user_id)?.ok_or_else(tokens::invalid_token)?;
        accounts::confirm_email(env.sql, env.cfg, &user, env.now())?;
        Ok(user.username)
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testing::{World, outbox_kinds};

    pub fn input(email: &str, username: Option<&str>) -> SignupInput {
        SignupInput {
            email: email.into(),
            full_name: "Ada Lovelace".into(),
            password: "orbit-cactus-velvet-42".into(),
            username: username.map(Into::into),
            accept_terms_version: terms::CURRENT_VERSION.into(),
        }
    }

    #[test]
    fn signup_creates_an_unconfirmed_account_and_mails_a_link() {
        let w = World::new();
        let out = signup(&w.env(), &input("Ada@Corp.example", Some("ada")), "1.1.1.1").unwrap();
        assert_eq!(out, Outcome::Created);
        let u = accounts::by_email(&w.db, "ada@corp.example")
            .unwrap()
            .unwrap();
        assert_eq!(u.username, "ada");
        assert_eq!(u.email_confirmed_at, None);
        assert_eq!(u.terms_version.as_deref(), Some("2026-01"));
        assert!(password::verify("orbit-cactus-velvet-42", &u.password_hash));
        assert_eq!(outbox_kinds(&w.db), ["auth.confirm"]);
    }

    #[test]
    fn username_defaults_to_the_email() {
        let w = World::new();
        signup(&w.env(), &input("ada@corp.example", Some("  ")), "1.1.1.1").unwrap();
        let u = accounts::by_login(&w.db, "ada@corp.example")
            .unwrap()
            .unwrap();
        assert_eq!(u.username, "ada@corp.example");
    }

    #[test]
    fn confirm_marks_the_email_and_the_token_works_once() {
        let w = World::new();
        signup(&w.env(), &input("ada@corp.example", Some("ada")), "1.1.1.1").unwrap();
        let token = w.last_link_token("/confirm?token=");
        assert_eq!(confirm(&w.env(), &token).unwrap(), "ada");
        let u = accounts::by_username(&w.db, "ada").unwrap().unwrap();
        assert!(u.email_confirmed_at.is_some());
        assert_eq!(u.role, "customer");
        assert_eq!(
            confirm(&w.env(), &token).unwrap_err().code(),
            "invalid_token"
        );
        assert_eq!(
            confirm(&w.env(), "forged").unwrap_err().code(),
            "invalid_token"
        );
    }

    #[test]
    fn confirmation_link_expires_after_a_day() {
        let w = World::new();
        signup(&w.env(), &input("ada@corp.example", None), "1.1.1.1").unwrap();
        let token = w.last_link_token("/confirm?token=");
        w.clock.advance(24 * 3600);
        assert_eq!(
            confirm(&w.env(), &token).unwrap_err().code(),
            "invalid_token"
        );
    }

    #[test]
    fn existing_address_gets_a_mail_and_the_same_answer() {
        let w = World::new();
        signup(&w.env(), &input("ada@corp.example", Some("ada")), "1.1.1.1").unwrap();
        confirm(&w.env(), &w.last_link_token("/confirm?token=")).unwrap();
        let again = signup(
            &w.env(),
            &input("ADA@corp.example", Some("other")),
            "1.1.1.2",
        );
        assert_eq!(again.unwrap(), Outcome::AlreadyRegistered);
        assert_eq!(
            outbox_kinds(&w.db),
            ["auth.confirm", "auth.already_registered"]
        );
        // nothing about the account changed
        assert!(accounts::by_username(&w.db, "other").unwrap().is_none());
    }

    #[test]
    fn taken_username_is_told_by_mail_only() {
        let w = World::new();
        signup(&w.env(), &input("ada@corp.example", Some("ada")), "1.1.1.1").unwrap();
        let out = signup(&w.env(), &input("eve@corp.example", Some("ADA")), "1.1.1.2").unwrap();
        assert_eq!(out, Outcome::UsernameTaken);
        assert!(
            accounts::by_email(&w.db, "eve@corp.example")
                .unwrap()
                .is_none()
        );
        assert_eq!(outbox_kinds(&w.db), ["auth.confirm", "auth.username_taken"]);
    }

    #[test]
    fn second_signup_of_an_unconfirmed_address_replaces_it_and_retires_the_old_link() {
        let w = World::new();
        signup(&w.env(), &input("ada@corp.example", Some("ada")), "1.1.1.1").unwrap();
        let first = w.last_link_token("/confirm?token=");
        let mut again = input("ada@corp.example", Some("ada2"));
        again.password = "marble-tundra-piano-77".into();
        assert_eq!(
            signup(&w.env(), &again, "1.1.1.1").unwrap(),
            Outcome::ReplacedPending
        );
        assert_eq!(
            confirm(&w.env(), &first).unwrap_err().code(),
            "invalid_token"
        );
        assert_eq!(
            confirm(&w.env(), &w.last_link_token("/confirm?token=")).unwrap(),
            "ada2"
        );
        let u = accounts::by_username(&w.db, "ada2").unwrap().unwrap();
        assert!(password::verify("marble-tundra-piano-77", &u.password_hash));
    }

    #[test]
    fn listed_admin_email_becomes_admin_at_confirmation() {
        let w = World::with_admins("boss@corp.example");
        signup(
            &w.env(),
            &input("Boss@corp.example", Some("boss")),
            "1.1.1.1",
        )
        .unwrap();
        confirm(&w.env(), &w.last_link_token("/confirm?token=")).unwrap();
        let u = accounts::by_username(&w.db, "boss").unwrap().unwrap();
        assert_eq!(u.role, "admin");
    }

    #[test]
    fn invite_mode_refuses_signup() {
        let mut w = World::new();
        w.cfg.signup_open = false;
        let e = signup(&w.env(), &input("ada@corp.example", None), "1.1.1.1").unwrap_err();
        assert_eq!((e.status(), e.code()), (403, "signup_closed"));
    }

    #[test]
    fn terms_must_be_the_current_version() {
        let w = World::new();
        let mut i = input("ada@corp.example", None);
        i.accept_terms_version = "2025-01".into();
        let e = signup(&w.env(), &i, "1.1.1.1").unwrap_err();
        assert_eq!(e.body()["error"]["field"], "accept_terms_version");
        assert_eq!(e.code(), "terms_not_accepted");
    }

    #[test]
    fn each_bad_field_is_named() {
        let w = World::new();
        let cases: Vec<(SignupInput, &str)> = vec![
            (input("not-an-email", None), "email"),
            (input("a\u{0}@x.example", None), "email"),
            (
                SignupInput {
                    full_name: "".into(),
                    ..input("a@corp.example", None)
                },
                "full_name",
            ),
            (
                SignupInput {
                    full_name: "x".repeat(101),
                    ..input("a@corp.example", None)
                },
                "full_name",
            ),
            (
                SignupInput {
                    full_name: "Ada\u{7}".into(),
                    ..input("a@corp.example", None)
                },
                "full_name",
            ),
            (input("a@corp.example", Some("x")), "username"),
            (input("a@corp.example", Some("bad name")), "username"),
            (
                SignupInput {
                    password: "short".into(),
                    ..input("a@corp.example", None)
                },
                "password",
            ),
            (
                SignupInput {
                    password: "password1234".into(),
                    ..input("a@corp.example", None)
                },
                "password",
            ),
        ];
        for (i, field) in cases {
            let e = signup(&w.env(), &i, "1.1.1.1").unwrap_err();
            assert_eq!(e.status(), 400, "{field}");
            assert_eq!(e.body()["error"]["field"], field);
        }
        assert!(outbox_kinds(&w.db).is_empty());
    }

    #[test]
    fn signup_is_rate_limited_per_address_and_per_client() {
        let w = World::new();
        for _ in 0..PER_EMAIL_PER_HOUR {
            signup(&w.env(), &input("ada@corp.example", None), "1.1.1.1").unwrap();
        }
        let e = signup(&w.env(), &input("ada@corp.example", None), "1.1.1.1").unwrap_err();
        assert_eq!(e.status(), 429);
        assert!(e.retry_after().unwrap() > 0);
        for n in 0..PER_IP_PER_HOUR {
            let _ = signup(
                &w.env(),
                &input(&format!("u{n}@corp.example"), None),
                "2.2.2.2",
            );
        }
        let e = signup(&w.env(), &input("z@corp.example", None), "2.2.2.2").unwrap_err();
        assert_eq!(e.status(), 429);
        w.clock.advance(3600);
        signup(&w.env(), &input("z@corp.example", None), "2.2.2.2").unwrap();
    }
}
