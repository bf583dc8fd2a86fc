-- 0009 mail fan-out: one mail to every member of an organization, queued as
-- one row by the deciding transaction and copied into the outbox by the
-- notifications component in chunks (core::outbox::enqueue_to_members,
-- expand_fanouts). Writing 800 copies inside an approval held SQLite's one
-- write lock for 25 ms and made the approval itself that slow.
CREATE TABLE outbox_fanout (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL,
    -- Approved members of this organization, except one person (the newcomer).
    organization_id TEXT NOT NULL,
    except_user_id  TEXT NOT NULL,
    -- Progress: members whose user id sorts after this one are still to be queued.
    after_user_id   TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX outbox_fanout_created ON outbox_fanout (created_at);
-- Members of an organization in user-id order, for the fan-out's cursor.
CREATE INDEX memberships_org_user ON memberships (organization_id, access, user_id);
