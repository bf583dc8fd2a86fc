-- 0018 the first page of each customer's two default lists, kept ready.
-- "My requests" is the desk's busiest read. Its page walked 25 entries of
-- the wide covering index (six levels deep on a 100,000-request desk) and
-- joined their rows: most of the answer's statement, and most of the pages
-- it read from the file. A kept page is one row read by its key
-- (docs/PERFORMANCE.md, "Twelfth pass").
--
-- Kept: page 1 at 25 rows (the contract's default paging) of the two views
-- people land on, `any` (the API's default status) and `open` (the portal's
-- default). Every other view and page is walked as before.
--
-- A page holds its rows joined as a list writes them (`tickets::LIST_PAGE_JSON`):
-- the key's head, each kept row, and between rows `,` and the head again.
-- The head holds the Spin variable `ticket_key_prefix`, which a trigger
-- cannot read: the sequence row keeps the head the last raise wrote (each
-- raise writes it in the statement that takes its number), and a reader
-- takes a kept page only when its head is the one the reader would write;
-- otherwise it walks. The head starts as the variable's default's ("SD",
-- spin.toml), so a desk on the default has its pages from this migration on.
ALTER TABLE ticket_sequence ADD COLUMN list_head TEXT;
UPDATE ticket_sequence SET list_head = '{"key":"SD-' WHERE name = 'tickets';

-- head before page: the reader tests it without going through the page's
-- overflow pages. A customer with nothing in a view has no row for it.
CREATE TABLE ticket_first_pages (
    customer_id TEXT NOT NULL,
    view        TEXT NOT NULL CHECK (view IN ('any', 'open')),
    head        TEXT NOT NULL,
    page        TEXT NOT NULL,
    PRIMARY KEY (customer_id, view)
) STRICT;

-- Whenever a request's kept row is written (a new request, any change of
-- what its row shows or of its place in the order: `tickets_list_row_update`
-- watches those, and people, organizations and topics rewrite the rows that
-- show them), its customer's two pages are read again from the index, as a
-- list would read them, and written over the kept ones (deleting them
-- first put their overflow pages on the free list only to take them back);
-- a view left empty has no page. (An aggregate of no rows is one row of
-- nulls, hence `page IS NOT NULL`; it is also the WHERE an upsert's SELECT
-- needs to parse as one.)
CREATE TRIGGER tickets_first_pages_row AFTER UPDATE OF list_row ON tickets BEGIN
    INSERT INTO ticket_first_pages (customer_id, view, head, page)
        SELECT * FROM (SELECT NEW.customer_id, 'any', h, h || group_concat(r, ',' || h) AS page FROM (
            SELECT t.list_row AS r, q.list_head AS h FROM ticket_sequence q, tickets t
            WHERE q.name = 'tickets' AND q.list_head IS NOT NULL AND t.customer_id = NEW.customer_id
            ORDER BY t.last_activity_at DESC, t.number DESC LIMIT 25)
        ) WHERE page IS NOT NULL
        ON CONFLICT (customer_id, view) DO UPDATE SET head = excluded.head, page = excluded.page
    ; INSERT INTO ticket_first_pages (customer_id, view, head, page)
        SELECT * FROM (SELECT NEW.customer_id, 'open', h, h || group_concat(r, ',' || h) AS page FROM (
            SELECT t.list_row AS r, q.list_head AS h FROM ticket_sequence q, tickets t
            WHERE q.name = 'tickets' AND q.list_head IS NOT NULL AND t.customer_id = NEW.customer_id
                AND t.status IN ('open', 'in_progress')
            ORDER BY t.last_activity_at DESC, t.number DESC LIMIT 25)
        ) WHERE page IS NOT NULL
        ON CONFLICT (customer_id, view) DO UPDATE SET head = excluded.head, page = excluded.page
    ; DELETE FROM ticket_first_pages WHERE customer_id = NEW.customer_id AND NOT EXISTS (
        SELECT 1 FROM tickets t WHERE t.customer_id = NEW.customer_id
            AND (view = 'any' OR t.status IN ('open', 'in_progress')))
    ; END;

-- A request gone, or moved to another customer: the one it left.
CREATE TRIGGER tickets_first_pages_delete AFTER DELETE ON tickets BEGIN
    INSERT INTO ticket_first_pages (customer_id, view, head, page)
        SELECT * FROM (SELECT OLD.customer_id, 'any', h, h || group_concat(r, ',' || h) AS page FROM (
            SELECT t.list_row AS r, q.list_head AS h FROM ticket_sequence q, tickets t
            WHERE q.name = 'tickets' AND q.list_head IS NOT NULL AND t.customer_id = OLD.customer_id
            ORDER BY t.last_activity_at DESC, t.number DESC LIMIT 25)
        ) WHERE page IS NOT NULL
        ON CONFLICT (customer_id, view) DO UPDATE SET head = excluded.head, page = excluded.page
    ; INSERT INTO ticket_first_pages (customer_id, view, head, page)
        SELECT * FROM (SELECT OLD.customer_id, 'open', h, h || group_concat(r, ',' || h) AS page FROM (
            SELECT t.list_row AS r, q.list_head AS h FROM ticket_sequence q, tickets t
            WHERE q.name = 'tickets' AND q.list_head IS NOT NULL AND t.customer_id = OLD.customer_id
                AND t.status IN ('open', 'in_progress')
            ORDER BY t.last_activity_at DESC, t.number DESC LIMIT 25)
        ) WHERE page IS NOT NULL
        ON CONFLICT (customer_id, view) DO UPDATE SET head = excluded.head, page = excluded.page
    ; DELETE FROM ticket_first_pages WHERE customer_id = OLD.customer_id AND NOT EXISTS (
        SELECT 1 FROM tickets t WHERE t.customer_id = OLD.customer_id
            AND (view = 'any' OR t.status IN ('open', 'in_progress')))
    ; END;
CREATE TRIGGER tickets_first_pages_moved AFTER UPDATE OF customer_id ON tickets
    WHEN OLD.customer_id IS NOT NEW.customer_id BEGIN
    INSERT INTO ticket_first_pages (customer_id, view, head, page)
        SELECT * FROM (SELECT OLD.customer_id, 'any', h, h || group_concat(r, ',' || h) AS page FROM (
            SELECT t.list_row AS r, q.list_head AS h FROM ticket_sequence q, tickets t
            WHERE q.name = 'tickets' AND q.list_head IS NOT NULL AND t.customer_id = OLD.customer_id
            ORDER BY t.last_activity_at DESC, t.number DESC LIMIT 25)
        ) WHERE page IS NOT NULL
        ON CONFLICT (customer_id, view) DO UPDATE SET head = excluded.head, page = excluded.page
    ; INSERT INTO ticket_first_pages (customer_id, view, head, page)
        SELECT * FROM (SELECT OLD.customer_id, 'open', h, h || group_concat(r, ',' || h) AS page FROM (
            SELECT t.list_row AS r, q.list_head AS h FROM ticket_sequence q, tickets t
            WHERE q.name = 'tickets' AND q.list_head IS NOT NULL AND t.customer_id = OLD.customer_id
                AND t.status IN ('open', 'in_progress')
            ORDER BY t.last_activity_at DESC, t.number DESC LIMIT 25)
        ) WHERE page IS NOT NULL
        ON CONFLICT (customer_id, view) DO UPDATE SET head = excluded.head, page = excluded.page
    ; DELETE FROM ticket_first_pages WHERE customer_id = OLD.customer_id AND NOT EXISTS (
        SELECT 1 FROM tickets t WHERE t.customer_id = OLD.customer_id
            AND (view = 'any' OR t.status IN ('open', 'in_progress')))
    ; END;

-- Another key prefix: no kept page holds the new head, and a reader would
-- pass them all by; they are dropped, and each customer's come back with
-- their next change.
CREATE TRIGGER ticket_sequence_list_head AFTER UPDATE OF list_head ON ticket_sequence
    WHEN OLD.list_head IS NOT NEW.list_head BEGIN
    DELETE FROM ticket_first_pages
    ; END;

-- Every customer's pages, as of now.
INSERT INTO ticket_first_pages (customer_id, view, head, page)
    SELECT c.customer_id, v.view, q.list_head, q.list_head || (
        SELECT group_concat(r, ',' || q.list_head) FROM (
            SELECT t.list_row AS r FROM tickets t
            WHERE t.customer_id = c.customer_id
                AND (v.view = 'any' OR t.status IN ('open', 'in_progress'))
            ORDER BY t.last_activity_at DESC, t.number DESC LIMIT 25)) AS page
    FROM (SELECT DISTINCT customer_id FROM tickets) c, (SELECT 'any' AS view UNION ALL SELECT 'open') v,
        ticket_sequence q
    WHERE q.name = 'tickets' AND q.list_head IS NOT NULL AND page IS NOT NULL;
