-- 0010 outbox bulk: mail copied from a fan-out (an organization told that
-- someone joined) is bulk, and goes after every other due mail. One delivery
-- run works at a time, so without this a sign-in code queued behind 800
-- "new colleague" mails waited for all of them to reach the relay.
ALTER TABLE outbox ADD COLUMN bulk INTEGER NOT NULL DEFAULT 0;
CREATE INDEX outbox_due_bulk ON outbox (state, bulk, next_attempt_at);
