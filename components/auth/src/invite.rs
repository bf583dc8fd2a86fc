//! Invite sign-up: an administrator creates a customer account (inside an
//! organization, with approved access) and the person sets their password
//! through a mailed single-use link, valid 7 days. The link is a reset token,
//! so choosing the password also confirms the address; the second factor is
//! set up at the first sign-in as for everyone.

use edgedesk_core::access;
use edgedesk_core::db::transaction;
use edgedesk_core::token::{b64url, new_id};
use edgedesk_core::{ApiError, outbox, params, password, validate};
use serde::Deserialize;

use crate::accounts;
use crate::env::Env;
use crate::mail;
use crate::signup::FULL_NAME_MAX;
use crate::tokens::{self, Purpose};

pub const INVITE_TTL_S: i64 = 7 * 24 * 3600;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteInput {
    pub email: String,
    pub full_name: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub organization_id: Option<String>,
}

/// A username from the address's local part: letters, digits, dots, dashes
/// and underscores, with a number added until it is free.
fn derive_username(env: &Env<'_>, email: &str) -> Result<String, ApiError> {
    let local: String = email
        .split('@')
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(28)
        .collect();
    let base = if local.len() >= 3 && local.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        local.to_lowercase()
    } else {
        format!("user{}", local.to_lowercase())
    };
    for n in 0..1000 {
        let candidate = if n == 0 {
            base.clone()
        } else {
            format!("{base}{n}")
        };
        if accounts::by_username(env.sql, &candidate)?.is_none() {
            return Ok(candidate);
        }
    }
    Err(ApiError::conflict(
        "username_taken",
        "Choose a username for this person.",
    ))
}

/// Creates the account and queues the invitation; returns (id, username).
pub fn invite(env: &Env<'_>, input: &InviteInput) -> Result<(String, String), ApiError> {
    let email = validate::email("email", &input.email)?;
    let full_name = validate::line("full_name", &input.full_name, 1, FULL_NAME_MAX)?;
    let username = input
        .username
        .as_deref()
        .map(|u| validate::username("username", u))
        .transpose()?;
    // Nobody knows this password: the account opens only through the link.
    let mut secret = [0u8; 32];
    env.rng.fill(&mut secret);
    let unusable = password::hash(&b64url(&secret), env.rng)?;
    transaction(env.sql, || {
        if accounts::by_email(env.sql, &email)?.is_some() {
            return Err(ApiError::conflict(
                "email_taken",
                "An account with this email address already exists.",
            ));
        }
        let username = match &username {
            Some(u) if accounts::by_username(env.sql, u)?.is_some() => {
                return Err(ApiError::conflict(
                    "username_taken",
                    "This username is taken.",
                ));
            }
            Some(u) => u.clone(),
            None => derive_username(env, &email)?,
        };
        if let Some(org) = &input.organization_id {
            let known = env.sql.execute(
                "SELECT 1 FROM organizations WHERE id = ?",
                params![org.as_str()],
            )?;
            if known.is_empty() {
                return Err(ApiError::invalid(
                    "organization_id",
                    "unknown_organization",
                    "No such organization.",
                ));
            }
        }
        let id = new_id(env.rng);
        let now = env.now();
        env.sql.execute(
            "INSERT INTO users (id, username, email, full_name, password_hash, created_at, \
             updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            params![
                id.as_str(),
                username.as_str(),
                email.as_str(),
                full_name.as_str(),
                unusable.as_str(),
                now
            ],
        )?;
        if let Some(org) = &input.organization_id {
            access::admit(env.sql, &id, org, now)?;
        }
        let token = tokens::issue_for(
            env.sql,
            env.clock,
            env.rng,
            &id,
            Purpose::Reset,
            INVITE_TTL_S,
        )?;
        outbox::enqueue(
            env.sql,
            env.clock,
            env.rng,
            &mail::invited(env.cfg, &email, &full_name, &username, &token),
        )?;
        Ok((id, username))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::testing::World;
    use edgedesk_core::Sql;

    fn input(email: &str) -> InviteInput {
        InviteInput {
            email: email.into(),
            full_name: "Ivy Invited".into(),
            username: None,
            organization_id: None,
        }
    }

    #[test]
    fn an_invitation_creates_the_account_and_mails_a_week_long_link() {
        let w = World::new();
        let (id, username) = invite(&w.env(), &input("ivy.i@acme.example")).unwrap();
        assert_eq!(username, "ivy.i");
        let rows =
            w.db.execute(
                "SELECT expires_at - created_at FROM account_tokens WHERE user_id = ?",
                params![id.as_str()],
            )
            .unwrap();
        assert_eq!(rows.first().unwrap().i64(0).unwrap(), INVITE_TTL_S);
        let e = invite(&w.env(), &input("IVY.I@acme.example")).unwrap_err();
        assert_eq!(e.code(), "email_taken");
        let (_, second) = invite(&w.env(), &input("ivy.i@other.example")).unwrap();
        assert_eq!(second, "ivy.i1");
        let mut bad = input("x@y.example");
        bad.organization_id = Some("nope".into());
        assert_eq!(
            invite(&w.env(), &bad).unwrap_err().field_name(),
            Some("organization_id")
        );
    }
}
