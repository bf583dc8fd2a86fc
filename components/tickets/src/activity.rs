//! A request's activity, oldest first: comments (public or internal) and
//! changes (status, sharing, assignment), each written as a person reads it.
//! Internal notes are only ever read back for operators.

use edgedesk_core::clock::rfc3339;
use edgedesk_core::token::new_id;
use edgedesk_core::{ApiError, Sql, params, validate};
use serde_json::{Value as Json, json};

use crate::tickets::person;

pub const COMMENT_MAX: usize = 32_000;

pub fn clean_body(body: &str) -> Result<String, ApiError> {
    validate::text("body", body, 1, COMMENT_MAX)
}

/// One row of activity to record.
pub struct Event<'a> {
    pub kind: &'static str,
    pub actor_id: &'a str,
    pub body: Option<&'a str>,
    pub internal: bool,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
}

pub fn record(
    sql: &dyn Sql,
    rng: &dyn edgedesk_core::Random,
    ticket_id: &str,
    e: &Event<'_>,
    now: i64,
) -> Result<String, ApiError> {
    let id = new_id(rng);
    sql.execute(
        "INSERT INTO ticket_activity (id, ticket_id, kind, actor_id, body, internal, from_value, \
         to_value, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            id.as_str(),
            ticket_id,
            e.kind,
            e.actor_id,
            e.body,
            e.internal,
            e.from,
            e.to,
            now
        ],
    )?;
    Ok(id)
}

/// Status names as people read them.
pub fn status_label(s: &str) -> &str {
    match s {
        "open" => "Open",
        "in_progress" => "In progress",
        "answered" => "Answered",
        "closed" => "Closed",
        other => other,
    }
}

/// "Your request status changed to Answered with resolution Sent new password".
pub fn status_sentence(to: &str, resolution: Option<&str>) -> String {
    match resolution {
        Some(r) if to == "answered" => format!(
            "Your request status changed to {} with resolution {r}",
            status_label(to)
        ),
        _ => format!("Your request status changed to {}", status_label(to)),
    }
}

/// The activity a viewer may see, oldest first.
pub fn list(sql: &dyn Sql, ticket_id: &str, operator: bool) -> Result<Vec<Json>, ApiError> {
    let rows = sql.execute(
        "SELECT id, kind, actor_id, body, internal, from_value, to_value, created_at, edited_at \
         FROM ticket_activity WHERE ticket_id = ?1 AND (?2 = 1 OR internal = 0) \
         ORDER BY created_at, rowid",
        params![ticket_id, i64::from(operator)],
    )?;
    let mut out = Vec::with_capacity(rows.rows.len());
    for r in &rows.rows {
        let kind = r.text(1)?;
        let to = r.opt_text(6)?;
        let body = r.opt_text(3)?;
        let text = match kind.as_str() {
            "status" => Some(status_sentence(
                to.as_deref().unwrap_or(""),
                body.as_deref(),
            )),
            "visibility" => Some(if to.as_deref() == Some("organization") {
                "Shared with the organization".to_owned()
            } else {
                "Made private".to_owned()
            }),
            // Written by the attachments component (core::attachments::remove).
            "attachment_removed" => Some(format!(
                "Removed the attachment {}",
                body.as_deref().unwrap_or("")
            )),
            _ => None,
        };
        out.push(json!({
            "id": r.text(0)?,
            "kind": kind,
            "author": person(sql, &r.text(2)?)?,
            "body": if kind == "comment" { body.clone() } else { None },
            "resolution": if kind == "status" { body } else { None },
            "internal": r.bool(4)?,
            "from": r.opt_text(5)?,
            "to": to,
            "text": text,
            "created_at": rfc3339(r.i64(7)?),
            "edited_at": r.opt_i64(8)?.map(rfc3339),
        }));
    }
    Ok(out)
}

/// A comment by id on this ticket: (author, internal).
pub fn comment(
    sql: &dyn Sql,
    ticket_id: &str,
    id: &str,
) -> Result<Option<(String, bool, String)>, ApiError> {
    let rows = sql.execute(
        "SELECT actor_id, internal, body FROM ticket_activity \
         WHERE id = ? AND ticket_id = ? AND kind = 'comment'",
        params![id, ticket_id],
    )?;
    rows.first()
        .map(|r| Ok((r.text(0)?, r.bool(1)?, r.text(2)?)))
        .transpose()
}

pub fn edit(sql: &dyn Sql, id: &str, body: &str, now: i64) -> Result<(), ApiError> {
    sql.execute(
        "UPDATE ticket_activity SET body = ?2, edited_at = ?3 WHERE id = ?1",
        params![id, body, now],
    )?;
    Ok(())
}
