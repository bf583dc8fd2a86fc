-- 0017 list rows start at their key's number. A list page joined its rows
-- as `? || t.number || '",' || t.list_row` each: three joins, each a new
-- text, for every row of every page (docs/PERFORMANCE.md, "Tenth pass").
-- The kept row now holds the number and the key's closing quote, so a page
-- is the key's head once and the rows joined by `,` and the head again
-- (`tickets::LIST_PAGE_JSON`): the aggregate appends each row as it is,
-- and the rows' half of the page statement costs a fifth less.
--
-- A number never changes once given, but the trigger of a request's own
-- change now also watches it, so that nothing the row shows can go stale.
DROP VIEW ticket_list_rows;
CREATE VIEW ticket_list_rows AS SELECT t.rowid AS ticket_rowid, t.number || '",' || substr(json_object(
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

DROP TRIGGER tickets_list_row_update;
CREATE TRIGGER tickets_list_row_update AFTER UPDATE OF id, number, request_type_id, summary, status,
    resolution, visibility, customer_id, organization_id, assignee_id, created_at, updated_at,
    last_activity_at, waiting_since ON tickets BEGIN
    UPDATE tickets SET list_row = (SELECT list_row FROM ticket_list_rows WHERE ticket_rowid = NEW.rowid)
    WHERE rowid = NEW.rowid; END;

-- Every row again, before the index, as 0015 did.
DROP INDEX tickets_customer;
UPDATE tickets SET list_row = (SELECT list_row FROM ticket_list_rows WHERE ticket_rowid = tickets.rowid);
CREATE INDEX tickets_customer ON tickets (
    customer_id, last_activity_at DESC, number DESC, status, request_type_id, list_row
);
