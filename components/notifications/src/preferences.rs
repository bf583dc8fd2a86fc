//! Per-user mail preferences and the one-click "turn off this request's
//! notifications" link carried by every request mail.
//!
//! The link is signed (`keys::sign_link`, purpose `unsubscribe`, subject
//! `<ticket id>:<user id>`) and opens a page; the page's POST turns the
//! request's notifications off, so a mail scanner following the link changes
//! nothing. Using it twice is harmless.

use edgedesk_core::keys::{LinkKeys, verify_link};
use edgedesk_core::requests::{self, Preferences};
use edgedesk_core::{ApiError, Sql, params};
use serde::Deserialize;
use serde_json::{Value as Json, json};

const GET: &str = "SELECT request_created, comments, status_changes FROM notification_prefs \
     WHERE user_id = ?";
const UPSERT: &str = "INSERT INTO notification_prefs (user_id, request_created, comments, \
     status_changes, updated_at) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(user_id) DO UPDATE SET \
     request_created = excluded.request_created, comments = excluded.comments, \
     status_changes = excluded.status_changes, updated_at = excluded.updated_at";

pub fn get(sql: &dyn Sql, user_id: &str) -> Result<Preferences, ApiError> {
    let rows = sql.execute(GET, params![user_id])?;
    Ok(match rows.first() {
        Some(r) => Preferences {
            request_created: r.bool(0)?,
            comments: r.bool(1)?,
            status_changes: r.bool(2)?,
        },
        None => Preferences::default(),
    })
}

/// `PATCH`: members left out keep their value.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    pub request_created: Option<bool>,
    pub comments: Option<bool>,
    pub status_changes: Option<bool>,
}

pub fn update(sql: &dyn Sql, user_id: &str, p: &Patch, now: i64) -> Result<Preferences, ApiError> {
    let cur = get(sql, user_id)?;
    let next = Preferences {
        request_created: p.request_created.unwrap_or(cur.request_created),
        comments: p.comments.unwrap_or(cur.comments),
        status_changes: p.status_changes.unwrap_or(cur.status_changes),
    };
    sql.execute(
        UPSERT,
        params![
            user_id,
            next.request_created,
            next.comments,
            next.status_changes,
            now
        ],
    )?;
    Ok(next)
}

fn invalid() -> ApiError {
    ApiError::bad_request("invalid_token", "This link is not valid or has expired.")
}

/// The (ticket, user) a link names; `400 invalid_token` when it is not one.
fn target(keys: &LinkKeys, token: &str, now: i64) -> Result<(String, String), ApiError> {
    let subject = verify_link(keys, "unsubscribe", token, now).ok_or_else(invalid)?;
    let (ticket, user) = subject.split_once(':').ok_or_else(invalid)?;
    Ok((ticket.to_owned(), user.to_owned()))
}

/// What the page shows before the POST: which request, and whether it is
/// already muted for this person.
pub fn describe(
    sql: &dyn Sql,
    keys: &LinkKeys,
    prefix: &str,
    token: &str,
    now: i64,
) -> Result<Json, ApiError> {
    let (ticket, user) = target(keys, token, now)?;
    let (number, summary) = requests::label(sql, &ticket)?.ok_or_else(invalid)?;
    let muted = sql
        .execute(
            "SELECT muted FROM ticket_participants WHERE ticket_id = ? AND user_id = ?",
            params![ticket.as_str(), user.as_str()],
        )?
        .first()
        .map(|r| r.bool(0))
        .transpose()?
        .unwrap_or(false);
    Ok(json!({ "key": format!("{prefix}-{number}"), "summary": summary, "muted": muted }))
}

/// Turns the request's notifications off for the person the link names.
pub fn unsubscribe(
    sql: &dyn Sql,
    keys: &LinkKeys,
    prefix: &str,
    token: &str,
    now: i64,
) -> Result<Json, ApiError> {
    let (ticket, user) = target(keys, token, now)?;
    if !requests::set_muted(sql, &ticket, &user, true)? {
        return Err(invalid());
    }
    let mut v = describe(sql, keys, prefix, token, now)?;
    v["muted"] = json!(true);
    Ok(v)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use edgedesk_core::keys::sign_link;
    use edgedesk_core::migrate::ensure_schema;
    use edgedesk_core::native::NativeSql;

    #[test]
    fn preferences_default_on_and_patch_keeps_the_rest() {
        let db = NativeSql::memory();
        ensure_schema(&db).unwrap();
        assert_eq!(get(&db, "u").unwrap(), Preferences::default());
        let p = Patch {
            request_created: None,
            comments: Some(false),
            status_changes: None,
        };
        let got = update(&db, "u", &p, 1).unwrap();
        assert!(!got.comments && got.request_created && got.status_changes);
        assert_eq!(get(&db, "u").unwrap(), got);
    }

    #[test]
    fn the_link_mutes_once_signed_and_fails_when_tampered() {
        let db = NativeSql::memory();
        ensure_schema(&db).unwrap();
        db.execute(
            "INSERT INTO tickets (id, number, request_type_id, summary, description, status, \
             visibility, customer_id, raised_by, created_at, updated_at, last_activity_at) \
             VALUES ('t1', 4, 'rt-registration', 'Hello', '', 'open', 'private', 'u', 'u', 0, 0, 0)",
            &[],
        )
        .unwrap();
        db.execute(
            "INSERT INTO ticket_participants (ticket_id, user_id, muted, added_at) VALUES ('t1', 'u', 0, 0)",
            &[],
        )
        .unwrap();
        let keys = LinkKeys::new(b"k", None);
        let token = sign_link(&keys, "unsubscribe", "t1:u", 100);
        let shown = describe(&db, &keys, "SD", &token, 10).unwrap();
        assert_eq!(
            (shown["key"].as_str(), shown["muted"].as_bool()),
            (Some("SD-4"), Some(false))
        );
        assert_eq!(
            unsubscribe(&db, &keys, "SD", &token, 10).unwrap()["muted"],
            true
        );
        assert_eq!(
            unsubscribe(&db, &keys, "SD", &token, 10).unwrap()["muted"],
            true
        );
        let mut bad = token.clone();
        bad.pop();
        assert_eq!(
            unsubscribe(&db, &keys, "SD", &bad, 10).unwrap_err().code(),
            "invalid_token"
        );
        assert_eq!(
            unsubscribe(&db, &keys, "SD", &token, 100)
                .unwrap_err()
                .code(),
            "invalid_token"
        );
        let other = sign_link(&keys, "rating", "t1:u", 100);
        assert!(unsubscribe(&db, &keys, "SD", &other, 10).is_err());
    }
}
