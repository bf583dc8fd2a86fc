-- 0012 list order: every list of requests orders by last activity, then by
-- number (ties are common: an import, or requests raised in one second).
-- With the number in the index SQLite reads a page straight from it and
-- joins only the rows it shows; with the activity time alone it copied each
-- of a customer's requests, joined with its people, into a temporary b-tree
-- to sort the ties (a third of "my requests"' statement time;
-- docs/PERFORMANCE.md).
DROP INDEX tickets_customer;
CREATE INDEX tickets_customer ON tickets (customer_id, last_activity_at DESC, number DESC);
DROP INDEX tickets_org;
CREATE INDEX tickets_org ON tickets (organization_id, visibility, last_activity_at DESC, number DESC);
DROP INDEX tickets_activity;
CREATE INDEX tickets_activity ON tickets (last_activity_at DESC, number DESC);
