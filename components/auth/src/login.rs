//! Sign-in with username or email, and its brute-force brakes.
//!
//! Two counters of failures in a 15-minute window: one per account (or per
//! unknown login name, so an unknown name behaves exactly like an account: same
//! answers, same delays, same "lock") and one per client address.
//!
//! - From the 5th failure on an account, the next try must wait a growing delay
//!   (1 s, 2 s, 4 s … at most 30 s after the last failure): `429` + `Retry-After`.
//!   So one account sees at most about 20 guesses per 15 minutes.
//! - The 20th failure locks the account for 15 minutes (`423 account_locked`
//!   with `retry_after_s`, also through `core::users::lock_until`, which the
//!   two-factor step honours) and mails its owner.
//! - A client address gets the same growing delay from its 10th failure, and is
//!   refused (`429`) from its 30th until the window ends: offices share
//!   addresses, so it is looser than the per-account brake, and it stops one
//!   address from spraying guesses over many accounts.
//!
//! The failure bookkeeping lives in `login_attempts` rather than in
//! `core::rate_limit`'s counters because the delay needs the time of the last
//! failure and the lock its end; each change is still one exact UPSERT.
//!
//! Unknown users cost one argon2 verification against a dummy hash, and a
//! correct password is needed before `403 email_not_confirmed` is told.

use edgedesk_core::db::transaction;
use edgedesk_core::session::Stage;
use edgedesk_core::token::sha256_hex;
use edgedesk_core::{ApiError, Sql, outbox, params, password, second_factor, users, validate};
use serde::Deserialize;

use edgedesk_core::audit::{self, Actor, Target};

use crate::accounts::{self, User};
use crate::env::Env;
use crate::mail;
use crate::people;

pub const WINDOW_S: i64 = 15 * 60;
pub const DELAY_AFTER: i64 = 5;
pub const LOCK_AFTER: i64 = 20;
pub const LOCK_S: i64 = 15 * 60;
pub const MAX_DELAY_S: i64 = 30;
pub const IP_DELAY_AFTER: i64 = 10;
pub const IP_BLOCK_AFTER: i64 = 30;
/// Longest password sign-in will hash (argon2 takes any length; this keeps a
/// 64 KiB body from being hashed).
pub const PASSWORD_INPUT_MAX: usize = 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginInput {
    pub login: String,
    pub password: String,
    #[serde(default)]
    pub remember_me: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SignedIn {
    pub user_id: String,
    pub stage: Stage,
    pub methods: Vec<String>,
}

pub fn invalid_credentials() -> ApiError {
    ApiError::unauthorized(
        "invalid_credentials",
        "The username, email address or password is not right.",
    )
}

fn not_confirmed() -> ApiError {
    ApiError::forbidden(
        "email_not_confirmed",
        "Confirm your email address first: open the link we sent you when you signed up.",
    )
}

// ------------------------------------------------------------ attempt rows

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Attempts {
    window_start: i64,
    failures: i64,
    last_failure_at: i64,
    locked_until: Option<i64>,
}

const GET: &str = "SELECT window_start, failures, last_failure_at, locked_until \
     FROM login_attempts WHERE key = ?1";
const FAIL: &str = "INSERT INTO login_attempts (key, window_start, failures, last_failure_at) \
     VALUES (?1, ?2, 1, ?2) ON CONFLICT(key) DO UPDATE SET \
       failures = CASE WHEN window_start + ?3 <= ?2 THEN 1 ELSE failures + 1 END, \
       window_start = CASE WHEN window_start + ?3 <= ?2 THEN ?2 ELSE window_start END, \
       last_failure_at = ?2 \
     RETURNING failures";
const LOCK: &str =
    "UPDATE login_attempts SET locked_until = ?2, failures = 0, window_start = ?3 WHERE key = ?1";
const CLEAR: &str = "DELETE FROM login_attempts WHERE key = ?1";
const PURGE: &str = "DELETE FROM login_attempts WHERE last_failure_at < ?1 \
     AND coalesce(locked_until, 0) < ?2";

fn attempts(sql: &dyn Sql, key: &str, now: i64) -> Result<Attempts, ApiError> {
    let rows = sql.execute(GET, params![key])?;
    let Some(r) = rows.first() else {
        return Ok(Attempts::default());
    };
    let mut a = Attempts {
        window_start: r.i64(0)?,
        failures: r.i64(1)?,
        last_failure_at: r.i64(2)?,
        locked_until: r.opt_i64(3)?,
    };
    if a.window_start + WINDOW_S <= now {
        a.failures = 0;
    }
    a.locked_until = a.locked_until.filter(|t| *t > now);
    Ok(a)
}

fn fail(sql: &dyn Sql, key: &str, now: i64) -> Result<i64, ApiError> {
    let rows = sql.execute(FAIL, params![key, now, WINDOW_S])?;
    Ok(rows
        .first()
        .ok_or_else(|| ApiError::internal("attempt upsert returned nothing"))?
        .i64(0)?)
}

/// Seconds to wait after the last failure, once `failures` reached `after`.
pub fn delay_s(failures: i64, after: i64) -> i64 {
    if failures < after {
        return 0;
    }
    let doublings = (failures - after).min(16) as u32;
    (1i64 << doublings).min(MAX_DELAY_S)
}

fn wait_for(a: &Attempts, after: i64, now: i64) -> Result<(), ApiError> {
    let wait = a.last_failure_at + delay_s(a.failures, after) - now;
    if a.failures >= after && wait > 0 {
        return Err(ApiError::TooManyRequests {
            retry_after_s: wait,
        });
    }
    Ok(())
}

/// The key of the per-account counter. Unknown names are hashed so the table
/// does not become a list of what people typed.
fn account_key(user: Option<&User>, login: &str) -> String {
    match user {
        Some(u) => format!("user:{}", u.id),
        None => format!("name:{}", sha256_hex(login)),
    }
}

fn ip_key(client_ip: &str) -> String {
    format!("ip:{client_ip}")
}

/// Forgets an account's failures (after a correct password or a reset).
pub fn clear_failures(sql: &dyn Sql, user_id: &str) -> Result<(), ApiError> {
    sql.execute(CLEAR, params![format!("user:{user_id}")])?;
    Ok(())
}

// ----------------------------------------------------------------- sign-in

pub fn login(
    env: &Env<'_>,
    input: &LoginInput,
    client_ip: &str,
    device_cookie: Option<&str>,
) -> Result<SignedIn, ApiError> {
    let login = validate::line("login", &input.login, 1, 254)?.to_lowercase();
    let pw = input.password.as_str();
    if pw.is_empty() {
        return Err(ApiError::invalid(
            "password",
            "required",
            "This field is required.",
        ));
    }
    if pw.chars().count() > PASSWORD_INPUT_MAX {
        return Err(ApiError::invalid(
            "password",
            "too_long",
            format!("Use at most {PASSWORD_INPUT_MAX} characters."),
        ));
    }
    let sql = env.sql;
    let now = env.now();
    let user = accounts::by_login(sql, &login)?;
    let acct_key = account_key(user.as_ref(), &login);
    let ip_key = ip_key(client_ip);

    // Brakes first: no password is checked while one holds.
    if let Some(u) = &user
        && let Some(until) = users::locked_until(sql, &u.id, now)?
    {
        return Err(users::locked_error(until, now));
    }
    let acct = attempts(sql, &acct_key, now)?;
    if let Some(until) = acct.locked_until {
        return Err(users::locked_error(until, now));
    }
    wait_for(&acct, DELAY_AFTER, now)?;
    let ip = attempts(sql, &ip_key, now)?;
    if ip.failures >= IP_BLOCK_AFTER {
        return Err(ApiError::TooManyRequests {
            retry_after_s: (ip.window_start + WINDOW_S - now).max(1),
        });
    }
    wait_for(&ip, IP_DELAY_AFTER, now)?;

    // Exactly one argon2 verification, whether or not the account exists.
    let ok = match &user {
        Some(u) => password::verify(pw, &u.password_hash),
        None => {
            password::dummy_verify(pw);
            false
        }
    };

    // The audit log names the account, never what was typed: an unknown
    // name may be a password typed in the wrong field.
    let audit_target = match &user {
        Some(u) => (format!("user:{}", u.id), u.username.clone()),
        None => ("user:unknown".to_owned(), String::new()),
    };
    let Some(user) = user.filter(|_| ok) else {
        let locked_until = transaction(sql, || {
            sql.execute(PURGE, params![now - 24 * 3600, now])?;
            fail(sql, &ip_key, now)?;
            let failures = fail(sql, &acct_key, now)?;
            let target = Target {
                id: &audit_target.0,
                label: &audit_target.1,
            };
            audit::record(
                sql,
                now,
                Actor::ANONYMOUS,
                "auth.login_failed",
                target,
                &format!("failure {failures} in the window"),
                client_ip,
            )?;
            if failures < LOCK_AFTER {
                return Ok(None);
            }
            let until = now + LOCK_S;
            sql.execute(LOCK, params![acct_key.as_str(), until, now])?;
            audit::record(
                sql,
                now,
                Actor::ANONYMOUS,
                "auth.account_locked",
                target,
                &format!(
                    "{LOCK_AFTER} wrong passwords: locked for {} minutes",
                    LOCK_S / 60
                ),
                client_ip,
            )?;
            if let Some(u) = accounts::by_login(sql, &login)? {
                users::lock_until(sql, &u.id, until)?;
                let m = mail::locked(env.cfg, &u.email, &u.full_name, LOCK_S / 60);
                outbox::enqueue(sql, env.clock, env.rng, &m)?;
            }
            Ok::<_, ApiError>(Some(until))
        })?;
        return Err(match locked_until {
            Some(until) => users::locked_error(until, now),
            None => invalid_credentials(),
        });
    };

    // Upgrade an old hash while we hold the plain password (outside the
    // transaction: hashing takes a while).
    let upgraded = if password::needs_rehash(&user.password_hash) {
        Some(password::hash(pw, env.rng)?)
    } else {
        None
    };
    transaction(sql, || {
        clear_failures(sql, &user.id)?;
        if let Some(h) = &upgraded {
            accounts::set_password(sql, &user.id, h, now)?;
        }
        if user.email_confirmed_at.is_none() {
            return Ok(None);
        }
        // Told only after a correct password, like `email_not_confirmed`.
        if people::is_deactivated(sql, &user.id)? {
            return Err(people::deactivated_error());
        }
        people::touch_login(sql, &user.id, now)?;
        // `admin_emails` may have changed since confirmation.
        accounts::promote_if_listed(sql, env.cfg, &user, now)?;
        let (stage, methods) =
            second_factor::stage_after_password(sql, env.clock, &user.id, device_cookie)?;
        Ok::<_, ApiError>(Some(SignedIn {
            user_id: user.id.clone(),
            stage,
            methods,
        }))
    })?
    .ok_or_else(not_confirmed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{World, outbox_kinds};
    use edgedesk_core::Clock;

    const PW: &str = "orbit-cactus-velvet-42";

    fn try_login(w: &World, login: &str, pw: &str) -> Result<SignedIn, ApiError> {
        try_from(w, login, pw, "10.0.0.1")
    }

    fn try_from(w: &World, name: &str, pw: &str, ip: &str) -> Result<SignedIn, ApiError> {
        let input = LoginInput {
            login: name.into(),
            password: pw.into(),
            remember_me: None,
        };
        login(&w.env(), &input, ip, None)
    }

    fn code(r: Result<SignedIn, ApiError>) -> (u16, &'static str) {
        match r {
            Ok(_) => (200, "ok"),
            Err(e) => (e.status(), e.code()),
        }
    }

    #[test]
    fn signs_in_with_username_or_email_at_the_stub_stage() {
        let w = World::new();
        let id = w.confirmed_user("ada", "ada@corp.example", PW);
        let s = try_login(&w, "ADA", PW).unwrap();
        assert_eq!(s.user_id, id);
        assert_eq!(s.stage, Stage::Needs2faSetup);
        assert_eq!(try_login(&w, " Ada@Corp.example ", PW).unwrap().user_id, id);
    }

    #[test]
    fn unknown_user_and_wrong_password_get_the_same_answer() {
        let w = World::new();
        w.confirmed_user("ada", "ada@corp.example", PW);
        let wrong = try_login(&w, "ada", "not-the-password").unwrap_err();
        let unknown = try_login(&w, "nobody", "not-the-password").unwrap_err();
        assert_eq!(wrong.status(), 401);
        assert_eq!(wrong.body(), unknown.body());
    }

    #[test]
    fn unconfirmed_account_is_told_only_after_a_correct_password() {
        let w = World::new();
        w.confirmed_user("ada", "ada@corp.example", PW);
        w.db.execute("UPDATE users SET email_confirmed_at = NULL", &[])
            .unwrap();
        assert_eq!(
            code(try_login(&w, "ada", "wrong-password")),
            (401, "invalid_credentials")
        );
        assert_eq!(code(try_login(&w, "ada", PW)), (403, "email_not_confirmed"));
    }

    #[test]
    fn growing_delay_after_five_failures() {
        let w = World::new();
        w.confirmed_user("ada", "ada@corp.example", PW);
        for _ in 0..DELAY_AFTER {
            assert_eq!(
                code(try_login(&w, "ada", "wrong")),
                (401, "invalid_credentials")
            );
        }
        // 5 failures: wait 1 s after the last
        let e = try_login(&w, "ada", PW).unwrap_err();
        assert_eq!(e.status(), 429);
        assert_eq!(e.retry_after(), Some(1));
        w.clock.advance(1);
        assert_eq!(
            code(try_login(&w, "ada", "wrong")),
            (401, "invalid_credentials")
        );
        // 6 failures: 2 s
        w.clock.advance(1);
        assert_eq!(try_login(&w, "ada", PW).unwrap_err().retry_after(), Some(1));
        w.clock.advance(1);
        // a correct password after the delay signs in and clears the count
        assert!(try_login(&w, "ada", PW).is_ok());
        assert_eq!(
            code(try_login(&w, "ada", "wrong")),
            (401, "invalid_credentials")
        );
        assert_eq!(code(try_login(&w, "ada", PW)), (200, "ok"));
    }

    #[test]
    fn delay_doubles_up_to_its_cap() {
        assert_eq!(delay_s(4, 5), 0);
        assert_eq!(delay_s(5, 5), 1);
        assert_eq!(delay_s(6, 5), 2);
        assert_eq!(delay_s(9, 5), 16);
        assert_eq!(delay_s(10, 5), 30);
        assert_eq!(delay_s(1000, 5), 30);
    }

    /// Fails `n` times, each after the delay the brake asks for.
    fn fail_n(w: &World, login: &str, n: i64, ip: &str) -> (u16, &'static str) {
        let mut last = (0, "");
        for _ in 0..n {
            w.clock.advance(MAX_DELAY_S);
            last = code(try_from(w, login, "wrong-password", ip));
        }
        last
    }

    #[test]
    fn twenty_failures_lock_the_account_for_fifteen_minutes_and_mail_the_owner() {
        let w = World::new();
        let id = w.confirmed_user("ada", "ada@corp.example", PW);
        assert_eq!(
            fail_n(&w, "ada", LOCK_AFTER - 1, "10.0.0.1"),
            (401, "invalid_credentials")
        );
        w.clock.advance(MAX_DELAY_S);
        let e = try_login(&w, "ada", "wrong-password").unwrap_err();
        assert_eq!((e.status(), e.code()), (423, "account_locked"));
        assert_eq!(e.body()["error"]["retry_after_s"], LOCK_S);
        assert_eq!(outbox_kinds(&w.db), ["auth.locked"]);
        // even the right password is refused while locked, from anywhere
        w.clock.advance(LOCK_S - 60);
        let e = try_from(&w, "ada@corp.example", PW, "10.9.9.9").unwrap_err();
        assert_eq!(e.code(), "account_locked");
        assert_eq!(e.retry_after(), Some(60));
        assert_eq!(
            users::locked_until(&w.db, &id, w.clock.now()).unwrap(),
            Some(w.clock.now() + 60)
        );
        // and the lock ends by itself
        w.clock.advance(60);
        assert_eq!(code(try_login(&w, "ada", PW)), (200, "ok"));
    }

    #[test]
    fn the_count_restarts_after_the_window() {
        let w = World::new();
        w.confirmed_user("ada", "ada@corp.example", PW);
        fail_n(&w, "ada", LOCK_AFTER - 1, "10.0.0.1");
        w.clock.advance(WINDOW_S);
        assert_eq!(
            code(try_login(&w, "ada", "wrong")),
            (401, "invalid_credentials")
        );
        assert_eq!(code(try_login(&w, "ada", PW)), (200, "ok"));
    }

    #[test]
    fn unknown_names_lock_like_accounts_without_mail() {
        let w = World::new();
        assert_eq!(
            fail_n(&w, "ghost", LOCK_AFTER, "10.0.0.1"),
            (423, "account_locked")
        );
        assert!(outbox_kinds(&w.db).is_empty());
        let e = try_login(&w, "ghost", "x").unwrap_err();
        assert_eq!(e.code(), "account_locked");
    }

    #[test]
    fn one_client_address_is_slowed_then_refused_across_accounts() {
        let w = World::new();
        w.confirmed_user("ada", "ada@corp.example", PW);
        for n in 0..IP_DELAY_AFTER {
            let r = try_from(&w, &format!("user{n}"), "wrong", "10.6.6.6");
            assert_eq!(code(r), (401, "invalid_credentials"));
        }
        let e = try_from(&w, "ada", PW, "10.6.6.6").unwrap_err();
        assert_eq!(e.status(), 429);
        // another address is not affected
        assert_eq!(code(try_from(&w, "ada", PW, "10.7.7.7")), (200, "ok"));
        for n in IP_DELAY_AFTER..IP_BLOCK_AFTER {
            w.clock.advance(delay_s(n, IP_DELAY_AFTER));
            let r = try_from(&w, &format!("user{n}"), "wrong", "10.6.6.6");
            assert_eq!(code(r), (401, "invalid_credentials"), "failure {n}");
        }
        w.clock.advance(MAX_DELAY_S);
        let e = try_from(&w, "ada", PW, "10.6.6.6").unwrap_err();
        assert_eq!(e.status(), 429);
        w.clock.advance(WINDOW_S);
        assert_eq!(code(try_from(&w, "ada", PW, "10.6.6.6")), (200, "ok"));
    }

    #[test]
    fn old_hashes_are_upgraded_at_sign_in() {
        let w = World::new();
        w.confirmed_user("ada", "ada@corp.example", PW);
        let weak = weak_hash(PW);
        w.db.execute(
            "UPDATE users SET password_hash = ?1",
            params![weak.as_str()],
        )
        .unwrap();
        assert!(try_login(&w, "ada", PW).is_ok());
        let u = accounts::by_username(&w.db, "ada").unwrap().unwrap();
        assert!(!password::needs_rehash(&u.password_hash));
        assert!(password::verify(PW, &u.password_hash));
    }

    #[test]
    fn admin_list_applies_at_sign_in() {
        let w = World::with_admins("ada@corp.example");
        w.confirmed_user("ada", "ada@corp.example", PW);
        try_login(&w, "ada", PW).unwrap();
        let u = accounts::by_username(&w.db, "ada").unwrap().unwrap();
        assert_eq!(u.role, "admin");
    }

    #[test]
    fn bad_input_names_the_field() {
        let w = World::new();
        for (login, pw, field) in [
            ("", PW, "login"),
            ("a\u{1b}b", PW, "login"),
            (&"x".repeat(300) as &str, PW, "login"),
            ("ada", "", "password"),
            ("ada", &"p".repeat(2000) as &str, "password"),
        ] {
            let e = try_login(&w, login, pw).unwrap_err();
            assert_eq!(e.status(), 400);
            assert_eq!(e.body()["error"]["field"], field);
        }
    }

    /// An argon2id hash with lower cost than today's, as an older release made.
    fn weak_hash(pw: &str) -> String {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let a = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(4096, 1, 1, None).unwrap(),
        );
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        a.hash_password(pw.as_bytes(), &salt).unwrap().to_string()
    }
}
