-- 0007 operator console: the audit log, account states the console changes,
-- and the indexes behind the console's lists and reports.

-- Append-only record of security-relevant actions. Unlike other tables it has
-- many writers: every component appends through core::audit::record, inside the
-- transaction of the change it records, so an entry exists exactly when the
-- change does. The triggers refuse UPDATE and DELETE, so nothing in the app can
-- rewrite history. actor_id is NULL for anonymous actions (a failed sign-in);
-- actor_label and target_label are the names at the time, kept because people
-- rename. Ordered by id (insertion order).
CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY,
    at           INTEGER NOT NULL,
    actor_id     TEXT,
    actor_label  TEXT NOT NULL,
    action       TEXT NOT NULL,
    target       TEXT NOT NULL,
    target_label TEXT NOT NULL,
    detail       TEXT NOT NULL,
    address      TEXT NOT NULL
) STRICT;
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_actor ON audit_log (actor_id, id);
CREATE INDEX audit_log_target ON audit_log (target, id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

-- Owner: auth. deactivated_at set: sign-in is refused (403
-- account_deactivated) and the account has no sessions. last_login_at: the
-- last correct password, shown on the console's person page.
ALTER TABLE users ADD COLUMN deactivated_at INTEGER;
ALTER TABLE users ADD COLUMN last_login_at INTEGER;
-- "The last admin cannot lose the role": counting admins reads this index.
CREATE INDEX users_role ON users (role, deactivated_at);
-- The people list, newest first.
CREATE INDEX users_created ON users (created_at);

-- Reports (tickets): requests opened per week and the response and
-- resolution clocks of requests opened in a range read only these indexes.
CREATE INDEX tickets_created_clocks ON tickets (created_at, first_response_at, resolved_at, request_type_id);
CREATE INDEX tickets_resolved ON tickets (resolved_at) WHERE resolved_at IS NOT NULL;
CREATE INDEX ticket_ratings_created ON ticket_ratings (created_at);
