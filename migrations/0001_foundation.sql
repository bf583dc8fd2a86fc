-- 0001 foundation: settings, the mail outbox, exact counters.
-- Forward-only. STRICT tables. Statements end with ';' at the end of a line
-- (the runner sends them one by one: Spin's execute takes one statement).

-- App-wide settings written once (e.g. the derived local link key).
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- Outgoing mail. Owner: notifications (others insert through core::outbox).
-- state: pending -> sending (leased) -> delivered | failed (gave up).
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    to_addr         TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    delivered_at    INTEGER,
    last_error      TEXT
) STRICT;
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_created ON outbox (created_at);

-- Fixed-window counters for rate limits and lockouts: one UPSERT per hit, so
-- concurrent requests never lose a count (Spin key-value has no atomic update).
CREATE TABLE counters (
    key          TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL
) STRICT;

-- Sign-in sessions. Owner: core::session (auth and twofactor change stages).
-- Kept in SQLite rather than key-value: "end every other session of this user"
-- needs an index by user, and key-value has none.
CREATE TABLE sessions (
    token_hash       TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL,
    stage            TEXT NOT NULL CHECK (stage IN ('password_ok', 'needs_2fa_setup', 'full')),
    csrf_token       TEXT NOT NULL,
    remember         INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    last_seen_at     INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    second_factor_at INTEGER
) STRICT;
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);
