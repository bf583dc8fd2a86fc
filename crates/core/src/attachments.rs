//! Attachments: the metadata rows (table `attachments`, owned by the
//! attachments component) and the key-value chunk layout of their bytes.
//!
//! All SQL on the table is here, because two components use it: attachments
//! (upload, download, removal, cleanup) and tickets (linking an upload to the
//! request or comment it creates, in that transaction, and listing a request's
//! files). Spin key-value has no TTL and cannot list keys cheaply, so a row is
//! the only pointer to its chunks: rows are written before their chunks and
//! deleted after them, and [`cleanup`] removes what a failed or abandoned
//! upload left (real Spin has no timer: the component runs it after answering).

use crate::access::Viewer;
use crate::db::{Row, Sql, transaction};
use crate::error::ApiError;
use crate::kv::Kv;
use crate::token::new_id;
use crate::{Random, params};

/// Bytes per key-value value: `blob/<id>/<n>` holds bytes `n*CHUNK ..`.
pub const CHUNK: usize = 256 * 1024;
/// Uploads not linked to a request or comment within this time are removed.
pub const UNLINKED_TTL_S: i64 = 24 * 3600;
/// Per upload request (documented in openapi.yaml).
pub const MAX_FILES: usize = 50;
pub const MAX_REQUEST_BYTES: u64 = 250 * 1024 * 1024;
/// Default of the `attachment_max_bytes` variable (per file).
pub const DEFAULT_MAX_BYTES: u64 = 25 * 1024 * 1024;

pub fn chunk_key(id: &str, n: i64) -> String {
    format!("blob/{id}/{n}")
}

/// Number of chunks that hold `size` bytes (a zero-byte file has none).
pub fn chunk_count(size: u64) -> i64 {
    size.div_ceil(CHUNK as u64) as i64
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub id: String,
    pub uploader_id: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub chunks: i64,
    pub state: String,
    pub ticket_id: Option<String>,
    pub activity_id: Option<String>,
    pub internal: bool,
    pub created_at: i64,
}

const COLS: &str = "id, uploader_id, filename, content_type, size, sha256, chunks, state, \
     ticket_id, activity_id, internal, created_at";

fn from_row(r: &Row) -> Result<Attachment, ApiError> {
    Ok(Attachment {
        id: r.text(0)?,
        uploader_id: r.text(1)?,
        filename: r.text(2)?,
        content_type: r.text(3)?,
        size: r.i64(4)?,
        sha256: r.text(5)?,
        chunks: r.i64(6)?,
        state: r.text(7)?,
        ticket_id: r.opt_text(8)?,
        activity_id: r.opt_text(9)?,
        internal: r.bool(10)?,
        created_at: r.i64(11)?,
    })
}

/// Starts a file: its row, `uploading`, before any chunk is written.
pub fn begin(
    sql: &dyn Sql,
    rng: &dyn Random,
    uploader_id: &str,
    filename: &str,
    content_type: &str,
    now: i64,
) -> Result<String, ApiError> {
    let id = new_id(rng);
    sql.execute(
        "INSERT INTO attachments (id, uploader_id, filename, content_type, size, sha256, chunks, \
         state, created_at) VALUES (?, ?, ?, ?, 0, '', 0, 'uploading', ?)",
        params![id.as_str(), uploader_id, filename, content_type, now],
    )?;
    Ok(id)
}

/// Records a file's size and hash once all its chunks are written.
pub fn finish(sql: &dyn Sql, id: &str, size: u64, sha256: &str) -> Result<(), ApiError> {
    sql.execute(
        "UPDATE attachments SET size = ?2, sha256 = ?3, chunks = ?4 \
         WHERE id = ?1 AND state = 'uploading'",
        params![id, size as i64, sha256, chunk_count(size)],
    )?;
    Ok(())
}

/// Makes a whole upload request's files visible at once; fails (and
/// publishes none) if cleanup took one meanwhile.
pub fn publish(sql: &dyn Sql, ids: &[String]) -> Result<(), ApiError> {
    transaction(sql, || {
        for id in ids {
            let rows = sql.execute(
                "UPDATE attachments SET state = 'ready' WHERE id = ? AND state = 'uploading' \
                 RETURNING 1",
                params![id.as_str()],
            )?;
            if rows.is_empty() {
                return Err(ApiError::internal(format!("upload {id} vanished")));
            }
        }
        Ok(())
    })
}

pub fn get(sql: &dyn Sql, id: &str) -> Result<Option<Attachment>, ApiError> {
    let rows = sql.execute(
        &format!("SELECT {COLS} FROM attachments WHERE id = ?"),
        params![id],
    )?;
    rows.first().map(from_row).transpose()
}

/// Who may see a request: operators; its reporter; its participants; and,
/// when shared, the members of its organization. The same rule as
/// `tickets::can_see` (components/tickets/src/tickets.rs), in one query.
pub fn request_visible(sql: &dyn Sql, viewer: &Viewer, ticket_id: &str) -> Result<bool, ApiError> {
    let rows = match viewer {
        Viewer::Operator { .. } => {
            sql.execute("SELECT 1 FROM tickets WHERE id = ?", params![ticket_id])?
        }
        Viewer::Customer {
            user_id,
            organization_id,
        } => sql.execute(
            "SELECT 1 FROM tickets t WHERE t.id = ?1 AND (t.customer_id = ?2 \
             OR (t.visibility = 'organization' AND t.organization_id = ?3) \
             OR EXISTS (SELECT 1 FROM ticket_participants p WHERE p.ticket_id = t.id AND p.user_id = ?2))",
            params![ticket_id, user_id.as_str(), organization_id.as_str()],
        )?,
    };
    Ok(!rows.is_empty())
}

/// The attachment behind `id` if `viewer` may download it: a published one
/// that is their own unlinked upload, or linked to a request they may see
/// (internal notes' files: operators only). `None` otherwise, so unknown and
/// hidden ids answer the same 404.
pub fn visible(sql: &dyn Sql, viewer: &Viewer, id: &str) -> Result<Option<Attachment>, ApiError> {
    let Some(a) = get(sql, id)? else {
        return Ok(None);
    };
    if a.state != "ready" {
        return Ok(None);
    }
    let ok = match &a.ticket_id {
        None => a.uploader_id == viewer.user_id(),
        Some(_) if a.internal && !viewer.is_operator() => false,
        Some(t) => request_visible(sql, viewer, t)?,
    };
    Ok(ok.then_some(a))
}

/// Links the caller's own unlinked uploads to a request (and the comment
/// that carries them), inside the caller's transaction. Any id that is not
/// such an upload fails the whole call, naming the field.
pub fn link(
    sql: &dyn Sql,
    ids: &[String],
    uploader_id: &str,
    ticket_id: &str,
    activity_id: Option<&str>,
    internal: bool,
    now: i64,
) -> Result<(), ApiError> {
    if ids.len() > MAX_FILES * 4 {
        return Err(ApiError::invalid(
            "attachment_ids",
            "too_many",
            "Too many attachments for one message.",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for id in ids {
        if !seen.insert(id.as_str()) {
            continue;
        }
        let rows = sql.execute(
            "UPDATE attachments SET ticket_id = ?3, activity_id = ?4, internal = ?5, linked_at = ?6 \
             WHERE id = ?1 AND uploader_id = ?2 AND state = 'ready' AND ticket_id IS NULL \
             RETURNING 1",
            params![id.as_str(), uploader_id, ticket_id, activity_id, internal, now],
        )?;
        if rows.is_empty() {
            return Err(ApiError::invalid(
                "attachment_ids",
                "unknown_attachment",
                "One of the attachments does not exist or is not yours.",
            ));
        }
    }
    Ok(())
}

/// A request's files, oldest first; internal notes' files only for operators.
pub fn for_request(
    sql: &dyn Sql,
    ticket_id: &str,
    operator: bool,
) -> Result<Vec<Attachment>, ApiError> {
    let rows = sql.execute(
        &format!(
            "SELECT {COLS} FROM attachments WHERE ticket_id = ?1 AND state = 'ready' \
             AND (?2 = 1 OR internal = 0) ORDER BY created_at, rowid"
        ),
        params![ticket_id, operator],
    )?;
    rows.rows.iter().map(from_row).collect()
}

/// Removes a published attachment: the row turns `deleted` (and unlinked,
/// so cleanup finds it), and the request's activity records the removal, in
/// one transaction. The caller then [`purge`]s the chunks. `false` when it was
/// already gone.
pub fn remove(
    sql: &dyn Sql,
    rng: &dyn Random,
    a: &Attachment,
    actor_id: &str,
    now: i64,
) -> Result<bool, ApiError> {
    transaction(sql, || {
        let rows = sql.execute(
            "UPDATE attachments SET state = 'deleted', ticket_id = NULL, activity_id = NULL \
             WHERE id = ? AND state = 'ready' RETURNING 1",
            params![a.id.as_str()],
        )?;
        if rows.is_empty() {
            return Ok(false);
        }
        if let Some(ticket_id) = &a.ticket_id {
            // The activity table is tickets'; this is its one row written
            // from elsewhere (kind `attachment_removed`, named in 0005).
            sql.execute(
                "INSERT INTO ticket_activity (id, ticket_id, kind, actor_id, body, internal, \
                 created_at) VALUES (?, ?, 'attachment_removed', ?, ?, ?, ?)",
                params![
                    new_id(rng).as_str(),
                    ticket_id.as_str(),
                    actor_id,
                    a.filename.as_str(),
                    a.internal,
                    now
                ],
            )?;
            sql.execute(
                "UPDATE tickets SET updated_at = ?2 WHERE id = ?1",
                params![ticket_id.as_str(), now],
            )?;
        }
        Ok(true)
    })
}

/// Marks rows `deleted` (a failed upload: nothing of it may be published).
pub fn discard(sql: &dyn Sql, ids: &[String]) -> Result<(), ApiError> {
    for id in ids {
        sql.execute(
            "UPDATE attachments SET state = 'deleted', ticket_id = NULL WHERE id = ?",
            params![id.as_str()],
        )?;
    }
    Ok(())
}

/// Deletes an attachment's chunks, then its row. `chunks` is the known
/// count; for an upload cut off before its count was recorded, the chunks
/// written are `0..n` with `n` the first missing key. Deleting from the last
/// one down keeps that true if this is interrupted, so a later pass finds
/// the rest.
pub fn purge(sql: &dyn Sql, kv: &dyn Kv, id: &str, chunks: i64) -> Result<(), ApiError> {
    let mut n = chunks;
    while kv.exists(&chunk_key(id, n)).map_err(kv_err)? {
        n += 1;
    }
    for i in (0..n).rev() {
        kv.delete(&chunk_key(id, i)).map_err(kv_err)?;
    }
    sql.execute("DELETE FROM attachments WHERE id = ?", params![id])?;
    Ok(())
}

/// A key-value failure as the contract's internal error.
pub fn kv_err(e: crate::kv::KvError) -> ApiError {
    ApiError::internal(format!("key-value: {e}"))
}

/// Removes up to `max` abandoned rows and their chunks: removed ones, and
/// uploads not linked within [`UNLINKED_TTL_S`] (also ones cut off while
/// uploading). Concurrent passes may pick the same row: every step is
/// idempotent. Returns how many were removed.
pub fn cleanup(sql: &dyn Sql, kv: &dyn Kv, now: i64, max: usize) -> Result<usize, ApiError> {
    let rows = sql.execute(
        "SELECT id, chunks FROM attachments WHERE ticket_id IS NULL \
         AND (state = 'deleted' OR created_at < ?1) ORDER BY created_at LIMIT ?2",
        params![now - UNLINKED_TTL_S, max as i64],
    )?;
    for r in &rows.rows {
        purge(sql, kv, &r.text(0)?, r.i64(1)?)?;
    }
    Ok(rows.rows.len())
}

#[cfg(all(test, feature = "native"))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::native::{MemoryKv, NativeSql};
    use crate::random::OsRandom;

    fn db() -> NativeSql {
        let db = NativeSql::memory();
        crate::migrate::ensure_schema(&db).unwrap();
        db
    }

    fn stored(kv: &MemoryKv, id: &str, n: i64) {
        for i in 0..n {
            kv.set(&chunk_key(id, i), b"x").unwrap();
        }
    }

    #[test]
    fn chunk_counts_round_up_and_zero_bytes_have_none() {
        assert_eq!(chunk_count(0), 0);
        assert_eq!(chunk_count(1), 1);
        assert_eq!(chunk_count(CHUNK as u64), 1);
        assert_eq!(chunk_count(CHUNK as u64 + 1), 2);
    }

    #[test]
    fn cleanup_removes_stale_cut_off_and_deleted_uploads_only() {
        let (db, kv, rng) = (db(), MemoryKv::default(), OsRandom);
        let old = begin(&db, &rng, "u1", "old.txt", "text/plain", 0).unwrap();
        finish(&db, &old, 10, "h").unwrap();
        publish(&db, std::slice::from_ref(&old)).unwrap();
        stored(&kv, &old, 1);
        // Cut off mid-upload: chunks written, count never recorded.
        let cut = begin(&db, &rng, "u1", "cut.bin", "text/plain", 10).unwrap();
        stored(&kv, &cut, 3);
        let fresh = begin(&db, &rng, "u1", "new.txt", "text/plain", UNLINKED_TTL_S).unwrap();
        stored(&kv, &fresh, 2);
        let now = UNLINKED_TTL_S + 20;
        assert_eq!(cleanup(&db, &kv, now, 10).unwrap(), 2);
        assert!(get(&db, &old).unwrap().is_none() && get(&db, &cut).unwrap().is_none());
        for i in 0..3 {
            assert!(!kv.exists(&chunk_key(&cut, i)).unwrap());
        }
        assert!(get(&db, &fresh).unwrap().is_some());
        assert!(kv.exists(&chunk_key(&fresh, 1)).unwrap());
        // Removed: found at once, whatever its age.
        discard(&db, std::slice::from_ref(&fresh)).unwrap();
        assert_eq!(cleanup(&db, &kv, now, 10).unwrap(), 1);
        assert!(!kv.exists(&chunk_key(&fresh, 0)).unwrap());
    }

    #[test]
    fn linking_takes_only_the_callers_unlinked_published_uploads() {
        let (db, rng) = (db(), OsRandom);
        let mine = begin(&db, &rng, "u1", "a", "text/plain", 0).unwrap();
        let pending = begin(&db, &rng, "u1", "b", "text/plain", 0).unwrap();
        let theirs = begin(&db, &rng, "u2", "c", "text/plain", 0).unwrap();
        publish(&db, &[mine.clone(), theirs.clone()]).unwrap();
        for bad in [&pending, &theirs, &"nope".to_owned()] {
            let e = link(&db, std::slice::from_ref(bad), "u1", "t1", None, false, 1).unwrap_err();
            assert_eq!(e.code(), "unknown_attachment");
        }
        link(
            &db,
            &[mine.clone(), mine.clone()],
            "u1",
            "t1",
            Some("c1"),
            false,
            1,
        )
        .unwrap();
        let a = get(&db, &mine).unwrap().unwrap();
        assert_eq!(
            (a.ticket_id.as_deref(), a.activity_id.as_deref()),
            (Some("t1"), Some("c1"))
        );
        // Linked once: not again, not elsewhere.
        assert!(link(&db, &[mine], "u1", "t2", None, false, 1).is_err());
    }
}
