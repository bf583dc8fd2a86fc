//! Shared read queries on `users` (owned and written by `auth`).

use crate::db::Sql;
use crate::error::ApiError;
use crate::params;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Customer,
    Operator,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "customer" => Some(Role::Customer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
    /// Admins are operators too.
    pub fn is_operator(self) -> bool {
        matches!(self, Role::Operator | Role::Admin)
    }
}

const ROLE: &str = "SELECT role FROM users WHERE id = ?";

/// The role of a user, `None` if the user does not exist.
pub fn role(sql: &dyn Sql, user_id: &str) -> Result<Option<Role>, ApiError> {
    let rows = sql.execute(ROLE, params![user_id])?;
    match rows.first() {
        Some(r) => Ok(Role::parse(&r.text(0)?)),
        None => Ok(None),
    }
}

const LOCKED_UNTIL: &str = "SELECT locked_until FROM users WHERE id = ?";
const LOCK: &str =
    "UPDATE users SET locked_until = max(coalesce(locked_until, 0), ?2) WHERE id = ?1";

/// When the account's lock ends, if it is locked at `now`.
pub fn locked_until(sql: &dyn Sql, user_id: &str, now: i64) -> Result<Option<i64>, ApiError> {
    let rows = sql.execute(LOCKED_UNTIL, params![user_id])?;
    Ok(rows
        .first()
        .map(|r| r.opt_i64(0))
        .transpose()?
        .flatten()
        .filter(|until| *until > now))
}

/// Locks the account until `until` (never shortens an existing lock).
pub fn lock_until(sql: &dyn Sql, user_id: &str, until: i64) -> Result<(), ApiError> {
    sql.execute(LOCK, params![user_id, until])?;
    Ok(())
}

/// The contract's 423 for a locked account.
pub fn locked_error(until: i64, now: i64) -> ApiError {
    let secs = (until - now).max(1);
    ApiError::Locked {
        code: "account_locked",
        message: format!(
            "This account is locked for security. Try again in {} minutes.",
            (secs + 59) / 60
        ),
        retry_after_s: secs,
    }
}

/// Who a user is, for mail and pages that name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub username: String,
    pub email: String,
    pub full_name: String,
}

const CONTACT: &str = "SELECT username, email, full_name FROM users WHERE id = ?";

/// A user's username, email and full name, `None` if the user does not exist.
pub fn contact(sql: &dyn Sql, user_id: &str) -> Result<Option<Contact>, ApiError> {
    let rows = sql.execute(CONTACT, params![user_id])?;
    rows.first()
        .map(|r| {
            Ok(Contact {
                username: r.text(0)?,
                email: r.text(1)?,
                full_name: r.text(2)?,
            })
        })
        .transpose()
}
