//! Shared access to a request's participants, for the two places that turn a
//! request's notifications off: the request page ("Don't notify me", tickets)
//! and the one-click link in request mail (notifications). The table is the
//! tickets component's; this is its one write from elsewhere, kept here so
//! the rule lives in one place.

use crate::db::Sql;
use crate::error::ApiError;
use crate::params;

/// Sets "don't notify me" for a participant; `false` when `user_id` takes no
/// part in the request.
pub fn set_muted(
    sql: &dyn Sql,
    ticket_id: &str,
    user_id: &str,
    muted: bool,
) -> Result<bool, ApiError> {
    let rows = sql.execute(
        "UPDATE ticket_participants SET muted = ?3 WHERE ticket_id = ?1 AND user_id = ?2 RETURNING 1",
        params![ticket_id, user_id, muted],
    )?;
    Ok(!rows.is_empty())
}

/// A request's number and summary, for pages that name it.
pub fn label(sql: &dyn Sql, ticket_id: &str) -> Result<Option<(i64, String)>, ApiError> {
    let rows = sql.execute(
        "SELECT number, summary FROM tickets WHERE id = ?",
        params![ticket_id],
    )?;
    rows.first()
        .map(|r| Ok((r.i64(0)?, r.text(1)?)))
        .transpose()
}

/// Per-user mail preferences (table `notification_prefs`, owned by notifications).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Preferences {
    /// "We received your request" mail.
    pub request_created: bool,
    /// New and edited public comments.
    pub comments: bool,
    /// Status changes, answers (with the rating links) and closing.
    pub status_changes: bool,
}

impl Default for Preferences {
    fn default() -> Self {
        Preferences {
            request_created: true,
            comments: true,
            status_changes: true,
        }
    }
}
