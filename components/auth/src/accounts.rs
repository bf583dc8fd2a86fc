//! The `users` table (owned by `auth`): rows, lookups and the writes of this
//! component. Emails and usernames are stored lowercased, so lookups are exact.

use edgedesk_core::db::Row;
use edgedesk_core::{ApiError, Sql, params};

use crate::env::Config;

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: String,
    pub full_name: String,
    pub phone: Option<String>,
    pub password_hash: String,
    pub role: String,
    pub email_confirmed_at: Option<i64>,
    pub terms_version: Option<String>,
    pub terms_accepted_at: Option<i64>,
    pub created_at: i64,
}

const COLS: &str = "id, username, email, full_name, phone, password_hash, role, \
     email_confirmed_at, terms_version, terms_accepted_at, created_at";

fn from_row(r: &Row) -> Result<User, ApiError> {
    Ok(User {
        id: r.text(0)?,
        username: r.text(1)?,
        email: r.text(2)?,
        full_name: r.text(3)?,
        phone: r.opt_text(4)?,
        password_hash: r.text(5)?,
        role: r.text(6)?,
        email_confirmed_at: r.opt_i64(7)?,
        terms_version: r.opt_text(8)?,
        terms_accepted_at: r.opt_i64(9)?,
        created_at: r.i64(10)?,
    })
}

fn one(sql: &dyn Sql, where_clause: &str, value: &str) -> Result<Option<User>, ApiError> {
    let rows = sql.execute(
        &format!("SELECT {COLS} FROM users WHERE {where_clause} = ?"),
        params![value],
    )?;
    rows.first().map(from_row).transpose()
}

pub fn by_id(sql: &dyn Sql, id: &str) -> Result<Option<User>, ApiError> {
    one(sql, "id", id)
}

pub fn by_email(sql: &dyn Sql, email: &str) -> Result<Option<User>, ApiError> {
    one(sql, "email", &email.trim().to_lowercase())
}

pub fn by_username(sql: &dyn Sql, username: &str) -> Result<Option<User>, ApiError> {
    one(sql, "username", &username.trim().to_lowercase())
}

/// Sign-in accepts a username or an email: usernames never contain `@`, and an
/// account created without a username has its email as its username.
pub fn by_login(sql: &dyn Sql, login: &str) -> Result<Option<User>, ApiError> {
    if login.contains('@') {
        by_email(sql, login)
    } else {
        by_username(sql, login)
    }
}

/// A new, unconfirmed account.
pub struct NewUser<'a> {
    pub id: &'a str,
    pub username: &'a str,
    pub email: &'a str,
    pub full_name: &'a str,
    pub password_hash: &'a str,
    pub terms_version: &'a str,
}

const INSERT: &str = "INSERT INTO users (id, username, email, full_name, password_hash, \
     terms_version, terms_accepted_at, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?7)";

pub fn insert(sql: &dyn Sql, u: &NewUser<'_>, now: i64) -> Result<(), ApiError> {
    sql.execute(
        INSERT,
        params![
            u.id,
            u.username,
            u.email,
            u.full_name,
            u.password_hash,
            u.terms_version,
            now
        ],
    )?;
    Ok(())
}

const REPLACE_PENDING: &str = "UPDATE users SET username = ?2, full_name = ?3, password_hash = ?4, \
     terms_version = ?5, terms_accepted_at = ?6, updated_at = ?6 \
     WHERE id = ?1 AND email_confirmed_at IS NULL";

/// A second sign-up for an address that was never confirmed replaces the pending
/// details: only the mailbox owner can confirm, so the last sign-up they confirm
/// is theirs (and earlier confirmation links stop working).
pub fn replace_pending(sql: &dyn Sql, id: &str, u: &NewUser<'_>, now: i64) -> Result<(), ApiError> {
    sql.execute(
        REPLACE_PENDING,
        params![
            id,
            u.username,
            u.full_name,
            u.password_hash,
            u.terms_version,
            now
        ],
    )?;
    Ok(())
}

pub fn set_password(sql: &dyn Sql, id: &str, hash: &str, now: i64) -> Result<(), ApiError> {
    sql.execute(
        "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, hash, now],
    )?;
    Ok(())
}

/// Marks the email confirmed (once) and applies `admin_emails`.
pub fn confirm_email(sql: &dyn Sql, cfg: &Config, user: &User, now: i64) -> Result<(), ApiError> {
    sql.execute(
        "UPDATE users SET email_confirmed_at = ?2, updated_at = ?2 \
         WHERE id = ?1 AND email_confirmed_at IS NULL",
        params![user.id.as_str(), now],
    )?;
    promote_if_listed(sql, cfg, user, now)
}

/// An account whose confirmed email is in `admin_emails` becomes `admin`. Only
/// ever promotes: roles given by administrators are not taken away when the
/// list changes.
pub fn promote_if_listed(
    sql: &dyn Sql,
    cfg: &Config,
    user: &User,
    now: i64,
) -> Result<(), ApiError> {
    if user.role != "admin" && cfg.is_admin_email(&user.email) {
        sql.execute(
            "UPDATE users SET role = 'admin', updated_at = ?2 WHERE id = ?1 \
             AND email_confirmed_at IS NOT NULL",
            params![user.id.as_str(), now],
        )?;
    }
    Ok(())
}

pub fn update_profile(
    sql: &dyn Sql,
    id: &str,
    full_name: &str,
    phone: Option<&str>,
    now: i64,
) -> Result<(), ApiError> {
    sql.execute(
        "UPDATE users SET full_name = ?2, phone = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, full_name, phone, now],
    )?;
    Ok(())
}

pub fn accept_terms(sql: &dyn Sql, id: &str, version: &str, now: i64) -> Result<(), ApiError> {
    sql.execute(
        "UPDATE users SET terms_version = ?2, terms_accepted_at = ?3, updated_at = ?3 WHERE id = ?1",
        params![id, version, now],
    )?;
    Ok(())
}
