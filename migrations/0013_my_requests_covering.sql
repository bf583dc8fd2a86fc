-- 0013 "my requests" from one index. A customer's requests are scattered
-- over the tickets table (one row per page, in the order they were raised),
-- so a page of 25 read 25 table pages, nearly all cold when a thousand
-- customers take turns: 12-15% of each answer's host CPU. The index now
-- carries every column a list row shows (tickets::LIST_ROW_JSON), so the
-- page and its count are read from one or two index pages. A unit test
-- fails if a list row starts to need a column this index lacks.
DROP INDEX tickets_customer;
CREATE INDEX tickets_customer ON tickets (customer_id, last_activity_at DESC, number DESC,
    id, status, visibility, organization_id, request_type_id, assignee_id, created_at,
    updated_at, waiting_since, summary, resolution);
