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
