-- 0008 desk speed: indexes the desk's budgets asked for (docs/PERFORMANCE.md).
-- An organization's access requests newest first, whatever their status: the
-- (organization_id, status, created_at) index made SQLite sort all of an
-- organization's requests, joined with their people, to show 25.
CREATE INDEX access_requests_org_time ON access_requests (organization_id, created_at);
-- Operators' list of every request, newest first.
CREATE INDEX access_requests_time ON access_requests (created_at);
