-- 0006 attachments. Owner: attachments (tickets links them to a request or a
-- comment through core::attachments, in the transaction that creates it).
--
-- The bytes live in key-value chunks `blob/<id>/<n>` (256 KiB each, n from 0);
-- this row is the only pointer to them. state: `uploading` while the chunks
-- are written (a crash leaves the row, and cleanup removes its chunks),
-- `ready` once the whole request's upload succeeded, `deleted` once removed
-- (and unlinked; cleanup deletes the chunks, then the row). Only `ready` rows are served.
-- ticket_id/activity_id are set when a request or comment links the upload;
-- `internal` when it belongs to an operators' internal note.
CREATE TABLE attachments (
    id           TEXT PRIMARY KEY,
    uploader_id  TEXT NOT NULL,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    chunks       INTEGER NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('uploading', 'ready', 'deleted')),
    ticket_id    TEXT,
    activity_id  TEXT,
    internal     INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    linked_at    INTEGER
) STRICT;
CREATE INDEX attachments_ticket ON attachments (ticket_id, created_at) WHERE ticket_id IS NOT NULL;
-- Cleanup's read: uploads never linked, and removed ones (removal unlinks),
-- oldest first. Few rows: they live a day at most.
CREATE INDEX attachments_unlinked ON attachments (created_at) WHERE ticket_id IS NULL;
