-- 0005 requests (tickets). Owner: tickets.

-- Request types ("topics"), seeded with the portal's seven; admins edit,
-- reorder and hide them. `key` is a stable slug accepted wherever an id is.
CREATE TABLE request_types (
    id          TEXT PRIMARY KEY,
    key         TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    position    INTEGER NOT NULL,
    hidden      INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

INSERT INTO request_types (id, key, name, description, position, created_at, updated_at) VALUES
    ('rt-beneficial-owner', 'beneficial-owner', 'Beneficial owner structure', 'Updates of the company''s ownership chart, identification of the ultimate beneficial owner.', 1, 0, 0),
    ('rt-technical-support', 'technical-support', 'Technical Support', 'Unavailability of the auction tool or the website, RSS/ATOM feeds.', 2, 0, 0),
    ('rt-finance-support', 'finance-support', 'Finance Support', 'Invoices and self-bills, bank account updates, audit confirmations.', 3, 0, 0),
    ('rt-auction-support', 'auction-support', 'Auction Support', 'Auction information, certificate renewal, bank guarantees.', 4, 0, 0),
    ('rt-registration', 'registration', 'Registration', 'Company registration, participation agreement amendments, user access.', 5, 0, 0),
    ('rt-business-bank-account', 'business-bank-account', 'Business bank account', 'Funds transfer requests, online banking access.', 6, 0, 0),
    ('rt-contestation', 'contestation', 'Contestation', 'Contestation of auction results.', 7, 0, 0);

-- The reference-number sequence: one UPDATE … RETURNING inside the creating
-- transaction, so keys have no gaps and no duplicates under concurrency.
CREATE TABLE ticket_sequence (
    name TEXT PRIMARY KEY,
    last INTEGER NOT NULL
) STRICT;
INSERT INTO ticket_sequence (name, last) VALUES ('tickets', 0);

-- status: open | in_progress | answered (with resolution) | closed.
-- customer_id is who the request is for (the reporter); raised_by who typed
-- it (an operator raising on behalf). organization_id is the reporter's
-- organization when raised: "shared with my organization" means that one.
CREATE TABLE tickets (
    id                TEXT PRIMARY KEY,
    number            INTEGER NOT NULL UNIQUE,
    request_type_id   TEXT NOT NULL,
    summary           TEXT NOT NULL,
    description       TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('open', 'in_progress', 'answered', 'closed')),
    resolution        TEXT,
    visibility        TEXT NOT NULL CHECK (visibility IN ('private', 'organization')),
    customer_id       TEXT NOT NULL,
    raised_by         TEXT NOT NULL,
    organization_id   TEXT,
    assignee_id       TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    -- Newest activity first in customers' lists.
    last_activity_at  INTEGER NOT NULL,
    -- The operators' queue: oldest waiting first (reset when a customer
    -- speaks, cleared while the desk has answered).
    waiting_since     INTEGER,
    first_response_at INTEGER,
    resolved_at       INTEGER,
    closed_at         INTEGER
) STRICT;
CREATE INDEX tickets_customer ON tickets (customer_id, last_activity_at DESC);
CREATE INDEX tickets_org ON tickets (organization_id, visibility, last_activity_at DESC);
CREATE INDEX tickets_status ON tickets (status, created_at);
-- waiting_since is set exactly while a request is open or in progress: the
-- operators' default queue (oldest waiting first) reads this index in order.
CREATE INDEX tickets_waiting ON tickets (waiting_since, number) WHERE waiting_since IS NOT NULL;
CREATE INDEX tickets_assignee ON tickets (assignee_id, status);
CREATE INDEX tickets_type ON tickets (request_type_id, status);
CREATE INDEX tickets_activity ON tickets (last_activity_at DESC);

-- Activity, oldest first: comments (public or internal) and changes.
-- kind: comment | status | visibility | assignee | attachment_removed.
CREATE TABLE ticket_activity (
    id          TEXT PRIMARY KEY,
    ticket_id   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    actor_id    TEXT NOT NULL,
    body        TEXT,
    internal    INTEGER NOT NULL DEFAULT 0,
    from_value  TEXT,
    to_value    TEXT,
    created_at  INTEGER NOT NULL,
    edited_at   INTEGER
) STRICT;
CREATE INDEX ticket_activity_ticket ON ticket_activity (ticket_id, created_at, id);

-- The reporter and everyone who took part; `muted` is "Don't notify me".
CREATE TABLE ticket_participants (
    ticket_id TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    muted     INTEGER NOT NULL DEFAULT 0,
    added_at  INTEGER NOT NULL,
    PRIMARY KEY (ticket_id, user_id)
) STRICT;
CREATE INDEX ticket_participants_user ON ticket_participants (user_id);

-- One rating per request, 1 to 5, after it is answered.
CREATE TABLE ticket_ratings (
    ticket_id  TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    score      INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment    TEXT,
    created_at INTEGER NOT NULL
) STRICT;

-- Full-text search over key, summary, description and comments. One row per
-- ticket text and per comment; internal notes are marked so customers'
-- searches never match them.
CREATE VIRTUAL TABLE ticket_search USING fts5 (
    body,
    ticket_id UNINDEXED,
    activity_id UNINDEXED,
    internal UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2'
);

-- Per-user mail preferences (owner: notifications; read by tickets).
CREATE TABLE notification_prefs (
    user_id        TEXT PRIMARY KEY,
    request_created INTEGER NOT NULL DEFAULT 1,
    comments       INTEGER NOT NULL DEFAULT 1,
    status_changes INTEGER NOT NULL DEFAULT 1,
    updated_at     INTEGER NOT NULL
) STRICT;
