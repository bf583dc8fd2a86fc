-- 0015 list rows kept ready. Every list of requests showed each row as JSON
-- built per read: four joins (topic, reporter, organization, assignee) and
-- four time formats a row, most of "my requests"' statement
-- (docs/PERFORMANCE.md, "Seventh pass"). A row's JSON changes far less often
-- than it is read, so each request keeps it in `list_row`, rebuilt by the
-- triggers below whenever anything it shows changes: the request itself, or
-- the name of its people, organization or topic. Nothing in the app writes
-- it; the triggers cannot be forgotten by a new write path.
--
-- `list_row` is the object of `ticket_list_rows` without its key and without
-- its opening brace: the key's prefix is a Spin variable
-- (`ticket_key_prefix`) that may change, so lists write `{"key":…,` in front
-- when they read it (`tickets::LIST_ROW_JSON`). A change to what a row shows is a
-- new migration that drops and recreates the view and rebuilds every
-- `list_row` (the last statement here).
ALTER TABLE tickets ADD COLUMN list_row TEXT;

-- Fields in the order `tickets::SummaryRow` serializes them (its unit test
-- holds the two equal). Times are RFC 3339 in UTC, as `clock::rfc3339`
-- writes them. Nested objects keep their JSON subtype through CASE.
CREATE VIEW ticket_list_rows AS SELECT t.rowid AS ticket_rowid, substr(json_object(
    'assignee', CASE WHEN t.assignee_id IS NOT NULL THEN CASE WHEN a.full_name IS NULL
        THEN json_object('full_name', '(removed)', 'id', t.assignee_id, 'operator', json('false'))
        ELSE json_object('full_name', a.full_name, 'id', t.assignee_id,
            'operator', json(iif(a.role <> 'customer', 'true', 'false')), 'username', a.username) END END,
    'created_at', replace(datetime(t.created_at, 'unixepoch'), ' ', 'T') || 'Z',
    'id', t.id,
    'last_activity_at', replace(datetime(t.last_activity_at, 'unixepoch'), ' ', 'T') || 'Z',
    'organization', CASE WHEN t.organization_id IS NOT NULL AND o.name IS NOT NULL
        THEN json_object('id', t.organization_id, 'name', o.name) END,
    'reporter', CASE WHEN u.full_name IS NULL
        THEN json_object('full_name', '(removed)', 'id', t.customer_id, 'operator', json('false'))
        ELSE json_object('full_name', u.full_name, 'id', t.customer_id,
            'operator', json(iif(u.role <> 'customer', 'true', 'false')), 'username', u.username) END,
    'request_type', CASE WHEN rt.key IS NOT NULL
        THEN json_object('id', t.request_type_id, 'key', rt.key, 'name', rt.name) END,
    'resolution', t.resolution,
    'status', t.status,
    'summary', t.summary,
    'updated_at', replace(datetime(t.updated_at, 'unixepoch'), ' ', 'T') || 'Z',
    'visibility', t.visibility,
    'waiting_since', CASE WHEN t.waiting_since IS NOT NULL
        THEN replace(datetime(t.waiting_since, 'unixepoch'), ' ', 'T') || 'Z' END
), 2) AS list_row
FROM tickets t
LEFT JOIN request_types rt ON rt.id = t.request_type_id
LEFT JOIN users u ON u.id = t.customer_id
LEFT JOIN organizations o ON o.id = t.organization_id
LEFT JOIN users a ON a.id = t.assignee_id;

-- A request's own change. `list_row` is not in the column list, so the
-- trigger's own write does not fire it again.
CREATE TRIGGER tickets_list_row_insert AFTER INSERT ON tickets BEGIN
    UPDATE tickets SET list_row = (SELECT list_row FROM ticket_list_rows WHERE ticket_rowid = NEW.rowid)
    WHERE rowid = NEW.rowid; END;
CREATE TRIGGER tickets_list_row_update AFTER UPDATE OF id, request_type_id, summary, status,
    resolution, visibility, customer_id, organization_id, assignee_id, created_at, updated_at,
    last_activity_at, waiting_since ON tickets BEGIN
    UPDATE tickets SET list_row = (SELECT list_row FROM ticket_list_rows WHERE ticket_rowid = NEW.rowid)
    WHERE rowid = NEW.rowid; END;

-- People: the reporter's and the assignee's name, username and role (an
-- operator is marked as one); a removed account reads "(removed)".
CREATE TRIGGER users_list_rows_update AFTER UPDATE OF full_name, username, role ON users
    WHEN OLD.full_name IS NOT NEW.full_name OR OLD.username IS NOT NEW.username
        OR OLD.role IS NOT NEW.role BEGIN
    UPDATE tickets SET list_row = (SELECT list_row FROM ticket_list_rows WHERE ticket_rowid = tickets.rowid)
    WHERE customer_id = NEW.id OR assignee_id = NEW.id; END;
CREATE TRIGGER users_list_rows_insert AFTER INSERT ON users BEGIN
    UPDATE tickets SET list_row = (SELECT list_row FROM ticket_list_rows WHERE ticket_rowid = tickets.rowid)
    WHERE customer_id = NEW.id OR assignee_id = NEW.id; END;
CREATE TRIGGER users_list_rows_delete AFTER DELETE ON users BEGIN
    UPDATE tickets SET list_row = (SELECT list_row FROM ticket_list_rows WHERE ticket_rowid = tickets.rowid)
    WHERE customer_id = OLD.id OR assignee_id = OLD.id; END;

-- Organizations: the name (a merge moves requests first, which the request
-- trigger covers, then deletes the merged organization).
CREATE TRIGGER organizations_list_rows_update AFTER UPDATE OF name ON organizations
    WHEN OLD.name IS NOT NEW.name BEGIN
    UPDATE tickets SET list_row = (SELECT list_row FROM ticket_list_rows WHERE ticket_rowid = tickets.rowid)
    WHERE organization_id = NEW.id; END;
CREATE TRIGGER organizations_list_rows_insert AFTER INSERT ON organizations BEGIN
    UPDATE tickets SET list_row = (SELECT list_row FROM ticket_list_rows WHERE ticket_rowid = tickets.rowid)
    WHERE organization_id = NEW.id; END;
CREATE TRIGGER organizations_list_rows_delete AFTER DELETE ON organizations BEGIN
    UPDATE tickets SET list_row = (SELECT list_row FROM ticket_list_rows WHERE ticket_rowid = tickets.rowid)
    WHERE organization_id = OLD.id; END;

-- Topics: key and name.
CREATE TRIGGER request_types_list_rows_update AFTER UPDATE OF key, name ON request_types
    WHEN OLD.key IS NOT NEW.key OR OLD.name IS NOT NEW.name BEGIN
    UPDATE tickets SET list_row = (SELECT list_row FROM ticket_list_rows WHERE ticket_rowid = tickets.rowid)
    WHERE request_type_id = NEW.id; END;
CREATE TRIGGER request_types_list_rows_insert AFTER INSERT ON request_types BEGIN
    UPDATE tickets SET list_row = (SELECT list_row FROM ticket_list_rows WHERE ticket_rowid = tickets.rowid)
    WHERE request_type_id = NEW.id; END;
CREATE TRIGGER request_types_list_rows_delete AFTER DELETE ON request_types BEGIN
    UPDATE tickets SET list_row = (SELECT list_row FROM ticket_list_rows WHERE ticket_rowid = tickets.rowid)
    WHERE request_type_id = OLD.id; END;

-- Every request's row is built once here, before the index, so the index is
-- built in one sorted pass. "My requests" then reads its page from that
-- index alone: the row, and the status and topic its filters test. Its total
-- counts the narrow index below, a few pages however many requests the
-- customer has (counting the wide one read every row's JSON again).
DROP INDEX tickets_customer;
UPDATE tickets SET list_row = (SELECT list_row FROM ticket_list_rows WHERE ticket_rowid = tickets.rowid);
CREATE INDEX tickets_customer ON tickets (
    customer_id, last_activity_at DESC, number DESC, status, request_type_id, list_row
);
CREATE INDEX tickets_customer_count ON tickets (customer_id, status, request_type_id);

