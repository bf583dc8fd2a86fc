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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::flows::{comment, page, raise};
    use crate::testing::World;
    use crate::tickets;
    use edgedesk_core::access::require_desk_access;
    use edgedesk_core::random::OsRandom;

    fn viewer(w: &World, id: &str) -> Viewer {
        require_desk_access(&w.db, id).unwrap()
    }

    fn upload(w: &World, who: &str, name: &str) -> String {
        let id = store::begin(&w.db, &OsRandom, who, name, "text/plain", 0).unwrap();
        store::finish(&w.db, &id, 1, "h").unwrap();
        store::publish(&w.db, std::slice::from_ref(&id)).unwrap();
        id
    }

    /// Downloads follow the request page's rule: the attachments component
    /// checks it with one query (core::attachments::request_visible), which
    /// must agree with tickets::can_see for every kind of viewer.
    #[test]
    fn the_download_rule_agrees_with_who_sees_the_request() {
        let w = World::new();
        let env = w.env();
        let ann = viewer(&w, "ann");
        let private = raise(&env, &ann, "technical-support", "p", "", "private", &[])
            .unwrap()
            .0;
        let shared = raise(
            &env,
            &ann,
            "technical-support",
            "s",
            "",
            "organization",
            &[],
        )
        .unwrap()
        .0;
        // Gil takes part in the private one as a participant would.
        tickets::add_participant(&w.db, &private.id, "gil", 0).unwrap();
        for who in ["ann", "bob", "gil", "op"] {
            let v = viewer(&w, who);
            for t in [&private, &shared] {
                assert_eq!(
                    tickets::can_see(&w.db, &v, t).unwrap(),
                    store::request_visible(&w.db, &v, &t.id).unwrap(),
                    "{who} on {}",
                    t.summary
                );
            }
        }
    }

    #[test]
    fn files_show_on_the_page_and_under_their_comment_internal_ones_for_operators() {
        let w = World::new();
        let env = w.env();
        let (ann, op) = (viewer(&w, "ann"), viewer(&w, "op"));
        let a = upload(&w, "ann", "a.txt");
        let t = raise(
            &env,
            &ann,
            "technical-support",
            "s",
            "",
            "private",
            std::slice::from_ref(&a),
        )
        .unwrap()
        .0;
        let n = upload(&w, "op", "note.txt");
        let c = comment(&env, &op, &t, "internal", true, std::slice::from_ref(&n)).unwrap();
        let names = |p: &Json| -> Vec<String> {
            p["attachments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["filename"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(names(&page(&env, &ann, &t).unwrap()), ["a.txt"]);
        let p = page(&env, &op, &t).unwrap();
        assert_eq!(names(&p), ["a.txt", "note.txt"]);
        let note = p["activity"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == c.as_str())
            .unwrap();
        assert_eq!(note["attachments"][0]["id"], n.as_str());
        assert_eq!(p["attachments"][0]["can_remove"], true);
        assert_eq!(
            page(&env, &ann, &t).unwrap()["attachments"][0]["can_remove"],
            true
        );
        // A link that fails rolls the comment back.
        let e = comment(&env, &ann, &t, "again", false, &[a]).unwrap_err();
        assert_eq!(e.code(), "unknown_attachment");
        let p = page(&env, &op, &t).unwrap();
        assert!(
            p["activity"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["body"] != "again")
        );
    }
}
