-- 0002 accounts. Owner: auth.

CREATE TABLE users (
    id                 TEXT PRIMARY KEY,
    username           TEXT NOT NULL UNIQUE,
    email              TEXT NOT NULL UNIQUE,
    full_name          TEXT NOT NULL,
    phone              TEXT,
    password_hash      TEXT NOT NULL,
    role               TEXT NOT NULL DEFAULT 'customer'
                       CHECK (role IN ('customer', 'operator', 'admin')),
    email_confirmed_at INTEGER,
    terms_version      TEXT,
    terms_accepted_at  INTEGER,
    organization_id    TEXT,
    access             TEXT NOT NULL DEFAULT 'none'
                       CHECK (access IN ('none', 'pending', 'approved')),
    -- Set by password lockout (auth) and second-factor lockout (twofactor,
    -- through core::users::lock_until): sign-in answers 423 until then.
    locked_until       INTEGER,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
) STRICT;

-- Single-use links: `confirm` (email confirmation, 24 h) and `reset` (password
-- reset, 1 h). Only the SHA-256 of the 256-bit token is stored; a token is
-- spent by one conditional UPDATE, so two clicks cannot both succeed.
CREATE TABLE account_tokens (
    token_hash TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL CHECK (purpose IN ('confirm', 'reset')),
    user_id    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;
CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose);
CREATE INDEX account_tokens_expiry ON account_tokens (expires_at);

-- Failed sign-in bookkeeping. Keys: `user:<id>` (an account), `name:<sha256>`
-- (a login name that matches no account, treated exactly like an account so
-- answers never tell the two apart) and `ip:<address>`. Beside the count it
-- keeps the last failure (for the growing delay) and a lock end; every change
-- is one UPSERT, so concurrent failures are all counted.
CREATE TABLE login_attempts (
    key             TEXT PRIMARY KEY,
    window_start    INTEGER NOT NULL,
    failures        INTEGER NOT NULL,
    last_failure_at INTEGER NOT NULL,
    locked_until    INTEGER
) STRICT;
CREATE INDEX login_attempts_last ON login_attempts (last_failure_at);
