-- 0016 "my requests" totals from kept counts. Every page of a customer's
-- list carried its total, counted on each read: a step per request the
-- customer has ever raised (100 steps for the bench's customers, more for a
-- busy one), a fifth of the page's statement and ~5% of the host's CPU per
-- answer (docs/PERFORMANCE.md, "Ninth pass"). The counts change far less
-- often than they are read, so each (customer, status, topic) keeps its
-- number here, moved by the triggers below on every write to a request; a
-- total is then the sum of at most statuses × topics rows, whatever the
-- customer's history. Nothing in the app writes this table.
--
-- Rows that fall to zero stay (a customer has at most 4 × topics of them);
-- the sum does not care.
CREATE TABLE ticket_counts (
    customer_id     TEXT NOT NULL,
    status          TEXT NOT NULL,
    request_type_id TEXT NOT NULL,
    n               INTEGER NOT NULL,
    PRIMARY KEY (customer_id, status, request_type_id)
) STRICT, WITHOUT ROWID;

INSERT INTO ticket_counts (customer_id, status, request_type_id, n)
    SELECT customer_id, status, request_type_id, count(*) FROM tickets
    GROUP BY customer_id, status, request_type_id;

-- Trigger bodies keep their inner `;` mid-line: migrate::statements ends a
-- statement at a `;` that ends a line.
CREATE TRIGGER tickets_counts_insert AFTER INSERT ON tickets BEGIN
    INSERT INTO ticket_counts (customer_id, status, request_type_id, n)
    VALUES (NEW.customer_id, NEW.status, NEW.request_type_id, 1)
    ON CONFLICT (customer_id, status, request_type_id) DO UPDATE SET n = n + 1; END;

CREATE TRIGGER tickets_counts_delete AFTER DELETE ON tickets BEGIN
    UPDATE ticket_counts SET n = n - 1
    WHERE customer_id = OLD.customer_id AND status = OLD.status
    AND request_type_id = OLD.request_type_id; END;

CREATE TRIGGER tickets_counts_update AFTER UPDATE OF customer_id, status, request_type_id
    ON tickets WHEN OLD.customer_id IS NOT NEW.customer_id OR OLD.status IS NOT NEW.status
    OR OLD.request_type_id IS NOT NEW.request_type_id BEGIN
    UPDATE ticket_counts SET n = n - 1
    WHERE customer_id = OLD.customer_id AND status = OLD.status
    AND request_type_id = OLD.request_type_id; INSERT INTO ticket_counts (customer_id, status, request_type_id, n)
    VALUES (NEW.customer_id, NEW.status, NEW.request_type_id, 1)
    ON CONFLICT (customer_id, status, request_type_id) DO UPDATE SET n = n + 1; END;

-- The narrow index `tickets_customer_count` stays: "created by anyone"
-- counts the caller's own requests through it (one branch of its OR), and
-- the wide list index would read every row's JSON again (+44% for that
-- count when it was dropped).
