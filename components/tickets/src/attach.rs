//! Attachments on requests: linking the caller's uploads to the request or
//! comment being created (inside its transaction), and the `attachments`
//! of the request page, each also listed under the comment that carries it.
//! The files themselves and their table belong to the attachments
//! component; the SQL is `edgedesk_core::attachments`.

use edgedesk_core::access::Viewer;
use edgedesk_core::attachments as store;
use edgedesk_core::clock::rfc3339;
use edgedesk_core::{ApiError, Sql};
use serde_json::{Value as Json, json};

use crate::tickets::person;

/// Links `ids` (the caller's own unlinked uploads) to a request, and to the
/// comment `activity_id` when they came with one. Any other id: 400
/// `unknown_attachment` (field `attachment_ids`), and the caller's
/// transaction rolls back.
pub fn link(
    sql: &dyn Sql,
    ids: &[String],
    uploader_id: &str,
    ticket_id: &str,
    activity_id: Option<&str>,
    internal: bool,
    now: i64,
) -> Result<(), ApiError> {
    if ids.is_empty() {
        return Ok(());
    }
    store::link(sql, ids, uploader_id, ticket_id, activity_id, internal, now)
}

/// Sets `attachments` on a request page, and on each comment of its
/// `activity` the files that came with it.
pub fn add_to_page(
    sql: &dyn Sql,
    viewer: &Viewer,
    ticket_id: &str,
    page: &mut Json,
) -> Result<(), ApiError> {
    let me = viewer.user_id();
    let mut items = Vec::new();
    for a in store::for_request(sql, ticket_id, viewer.is_operator())? {
        items.push(json!({
            "id": a.id,
            "filename": a.filename,
            "size": a.size,
            "content_type": a.content_type,
            "sha256": a.sha256,
            "uploader": person(sql, &a.uploader_id)?,
            "created_at": rfc3339(a.created_at),
            "comment_id": a.activity_id,
            "internal": a.internal,
            "url": format!("/api/attachments/{}", a.id),
            "can_remove": a.uploader_id == me || viewer.is_operator(),
        }));
    }
    if let Some(activity) = page["activity"].as_array_mut() {
        for entry in activity {
            let id = entry["id"].clone();
            let files: Vec<Json> = items
                .iter()
                .filter(|a| a["comment_id"] == id)
                .cloned()
                .collect();
            entry["attachments"] = json!(files);
        }
    }
    page["attachments"] = json!(items);
    Ok(())
}
