//! The signed-in person: the session view, the profile, password change and
//! terms acceptance.

use edgedesk_core::access::{Access, Membership};
use edgedesk_core::clock::rfc3339;
use edgedesk_core::db::transaction;
use edgedesk_core::session::{self, Session};
use edgedesk_core::{ApiError, password, rate_limit, validate};
use serde::{Deserialize, Deserializer};
use serde_json::{Value as Json, json};

use crate::accounts::{self, User};
use crate::env::Env;
use crate::login::{PASSWORD_INPUT_MAX, invalid_credentials};
use crate::policy::{self, Owner};
use crate::signup::FULL_NAME_MAX;
use crate::terms;

/// Wrong current passwords per user per 15 minutes before `429`: a stolen
/// session must not become a password-guessing oracle.
pub const CHANGE_FAILURES_MAX: i64 = 5;

fn not_signed_in() -> ApiError {
    ApiError::unauthorized("not_signed_in", "Please sign in.")
}

/// The user behind a session; a session whose user is gone counts as none.
pub fn session_user(env: &Env<'_>, s: &Session) -> Result<User, ApiError> {
    accounts::by_id(env.sql, &s.user_id)?.ok_or_else(not_signed_in)
}

/// `GET /api/session`, exactly as API.md lists it.
/// `membership` is the person's company access (`core::access`), if any.
pub fn session_view(user: &User, s: &Session, membership: Option<&Membership>) -> Json {
    json!({
        "user": {
            "id": user.id,
            "username": user.username,
            "email": user.email,
            "full_name": user.full_name,
            "phone": user.phone,
            "role": user.role,
            "organization": membership.map(|m| json!({
                "id": m.organization_id,
                "name": m.organization_name,
            })),
            "access": membership.map_or(Access::None, |m| m.access).as_str(),
        },
        "stage": s.stage.as_str(),
        "csrf_token": s.csrf_token,
        "terms_version_accepted": user.terms_version,
    })
}

pub fn profile_view(user: &User) -> Json {
    json!({
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "full_name": user.full_name,
        "phone": user.phone,
        "role": user.role,
        "email_confirmed_at": user.email_confirmed_at.map(rfc3339),
        "terms_version_accepted": user.terms_version,
        "terms_accepted_at": user.terms_accepted_at.map(rfc3339),
        "terms_current_version": terms::CURRENT_VERSION,
        "created_at": rfc3339(user.created_at),
    })
}

/// `Some(None)` for an explicit `null`, `None` when the member is absent.
fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    #[serde(default)]
    pub full_name: Option<String>,
    /// `null` or `""` removes the number.
    #[serde(default, deserialize_with = "nullable")]
    pub phone: Option<Option<String>>,
}

pub fn update_profile(env: &Env<'_>, user: &User, patch: &ProfilePatch) -> Result<User, ApiError> {
    let full_name = match &patch.full_name {
        Some(n) => validate::line("full_name", n, 1, FULL_NAME_MAX)?,
        None => user.full_name.clone(),
    };
    let phone = match &patch.phone {
        None => user.phone.clone(),
        Some(None) => None,
        Some(Some(p)) if p.trim().is_empty() => None,
        Some(Some(p)) => Some(validate::phone("phone", p)?),
    };
    accounts::update_profile(env.sql, &user.id, &full_name, phone.as_deref(), env.now())?;
    accounts::by_id(env.sql, &user.id)?.ok_or_else(not_signed_in)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// Changes the password and ends every other session of the user.
pub fn change_password(
    env: &Env<'_>,
    user: &User,
    keep_session: &str,
    input: &PasswordChange,
) -> Result<(), ApiError> {
    if input.current_password.is_empty() {
        return Err(ApiError::invalid(
            "current_password",
            "required",
            "This field is required.",
        ));
    }
    if input.current_password.chars().count() > PASSWORD_INPUT_MAX {
        return Err(invalid_credentials());
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
    let now = env.now();
    let key = format!("pwchange/{}", user.id);
    let failures = rate_limit::peek(env.sql, &key, 900, now)?;
    if failures.count >= CHANGE_FAILURES_MAX {
        return Err(ApiError::TooManyRequests {
            retry_after_s: (failures.resets_at - now).max(1),
        });
    }
    if !password::verify(&input.current_password, &user.password_hash) {
        rate_limit::hit(env.sql, &key, 900, now)?;
        return Err(invalid_credentials());
    }
    let hash = password::hash(&input.new_password, env.rng)?;
    transaction(env.sql, || {
        rate_limit::reset(env.sql, &key)?;
        accounts::set_password(env.sql, &user.id, &hash, now)?;
        session::destroy_others(env.sql, &user.id, Some(keep_session))
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermsAccept {
    pub version: String,
}

pub fn accept_terms(env: &Env<'_>, user: &User, input: &TermsAccept) -> Result<(), ApiError> {
    if input.version != terms::CURRENT_VERSION {
        return Err(ApiError::invalid(
            "version",
            "terms_version_mismatch",
            format!(
                "The current terms are version {}. Reload the page to read them.",
                terms::CURRENT_VERSION
            ),
        ));
    }
    accounts::accept_terms(env.sql, &user.id, terms::CURRENT_VERSION, env.now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::World;
    use edgedesk_core::random::OsRandom;
    use edgedesk_core::session::{Stage, create, load};

    const PW: &str = "orbit-cactus-velvet-42";
    const NEW: &str = "marble-tundra-piano-77";

    fn ada(w: &World) -> User {
        let id = w.confirmed_user("ada", "ada@corp.example", PW);
        accounts::by_id(&w.db, &id).unwrap().unwrap()
    }

    fn change(w: &World, u: &User, keep: &str, current: &str, new: &str) -> Result<(), ApiError> {
        let input = PasswordChange {
            current_password: current.into(),
            new_password: new.into(),
        };
        change_password(&w.env(), u, keep, &input)
    }

    #[test]
    fn session_view_has_the_contract_shape() {
        let w = World::new();
        let u = ada(&w);
        let (_, s) = create(
            &w.db,
            &w.clock,
            &OsRandom,
            &u.id,
            Stage::Needs2faSetup,
            false,
        )
        .unwrap();
        let v = session_view(&u, &s, None);
        let user = v["user"].as_object().unwrap();
        let mut keys: Vec<&str> = user.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "access",
                "email",
                "full_name",
                "id",
                "organization",
                "phone",
                "role",
                "username"
            ]
        );
        assert!(v["user"]["phone"].is_null());
        assert!(v["user"]["organization"].is_null());
        assert_eq!(v["user"]["access"], "none");
        assert_eq!(v["stage"], "needs_2fa_setup");
        assert_eq!(v["csrf_token"], s.csrf_token.as_str());
        assert_eq!(v["terms_version_accepted"], "2026-01");
        assert_eq!(v.as_object().unwrap().len(), 4);
    }

    #[test]
    fn password_change_needs_the_current_password_and_ends_other_sessions() {
        let w = World::new();
        let u = ada(&w);
        let (mine, s) = create(&w.db, &w.clock, &OsRandom, &u.id, Stage::Full, false).unwrap();
        let (other, _) = create(&w.db, &w.clock, &OsRandom, &u.id, Stage::Full, true).unwrap();
        let e = change(&w, &u, &s.token_hash, "wrong-password", NEW).unwrap_err();
        assert_eq!((e.status(), e.code()), (401, "invalid_credentials"));
        assert!(load(&w.db, &w.clock, &other).unwrap().is_some());
        change(&w, &u, &s.token_hash, PW, NEW).unwrap();
        let after = accounts::by_id(&w.db, &u.id).unwrap().unwrap();
        assert!(password::verify(NEW, &after.password_hash));
        assert!(load(&w.db, &w.clock, &mine).unwrap().is_some());
        assert!(load(&w.db, &w.clock, &other).unwrap().is_none());
    }

    #[test]
    fn wrong_current_passwords_are_rate_limited() {
        let w = World::new();
        let u = ada(&w);
        for _ in 0..CHANGE_FAILURES_MAX {
            assert_eq!(change(&w, &u, "k", "wrong", NEW).unwrap_err().status(), 401);
        }
        assert_eq!(change(&w, &u, "k", PW, NEW).unwrap_err().status(), 429);
        w.clock.advance(900);
        change(&w, &u, "k", PW, NEW).unwrap();
    }

    #[test]
    fn new_password_follows_the_policy() {
        let w = World::new();
        let u = ada(&w);
        let e = change(&w, &u, "k", PW, "short").unwrap_err();
        assert_eq!(e.body()["error"]["field"], "new_password");
        let e = change(&w, &u, "k", "", NEW).unwrap_err();
        assert_eq!(e.body()["error"]["field"], "current_password");
    }

    #[test]
    fn profile_patch_validates_and_clears_phone() {
        let w = World::new();
        let u = ada(&w);
        let patch: ProfilePatch =
            serde_json::from_str(r#"{"full_name":" Ada King ","phone":"+44 20 7946 0958"}"#)
                .unwrap();
        let u = update_profile(&w.env(), &u, &patch).unwrap();
        assert_eq!(u.full_name, "Ada King");
        assert_eq!(u.phone.as_deref(), Some("+442079460958"));
        // absent members keep their value
        let u = update_profile(&w.env(), &u, &serde_json::from_str(r#"{}"#).unwrap()).unwrap();
        assert_eq!(u.phone.as_deref(), Some("+442079460958"));
        let u = update_profile(
            &w.env(),
            &u,
            &serde_json::from_str(r#"{"phone":null}"#).unwrap(),
        )
        .unwrap();
        assert_eq!(u.phone, None);
        for (body, field) in [
            (r#"{"phone":"call me"}"#, "phone"),
            (r#"{"full_name":""}"#, "full_name"),
            (r#"{"full_name":"a\u0000b"}"#, "full_name"),
        ] {
            let p: ProfilePatch = serde_json::from_str(body).unwrap();
            let e = update_profile(&w.env(), &u, &p).unwrap_err();
            assert_eq!(e.body()["error"]["field"], field, "{body}");
        }
    }

    #[test]
    fn terms_accept_needs_the_current_version() {
        let w = World::new();
        let u = ada(&w);
        let e = accept_terms(
            &w.env(),
            &u,
            &TermsAccept {
                version: "1999".into(),
            },
        )
        .unwrap_err();
        assert_eq!(e.body()["error"]["field"], "version");
        accept_terms(
            &w.env(),
            &u,
            &TermsAccept {
                version: "2026-01".into(),
            },
        )
        .unwrap();
    }
}
