-- 0003 second factor. Owner: twofactor (core::second_factor reads
-- twofactor_methods and twofactor_devices at sign-in).

-- One row per configured (confirmed) method of a user. Exactly one is primary.
CREATE TABLE twofactor_methods (
    user_id    TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN
               ('totp', 'email_otp', 'security_questions', 'backup_codes', 'webauthn')),
    is_primary INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, kind)
) STRICT;
CREATE UNIQUE INDEX twofactor_methods_one_primary ON twofactor_methods (user_id) WHERE is_primary = 1;

-- TOTP secrets, sealed with a key derived from link_secret. `last_step` is the
-- last 30-second step accepted: a code is accepted only for a later step, so a
-- code cannot be replayed within its window. The pending secret waits for its
-- first code (setup) and replaces the active one only then.
CREATE TABLE twofactor_totp (
    user_id            TEXT PRIMARY KEY,
    secret             BLOB,
    last_step          INTEGER NOT NULL DEFAULT 0,
    pending_secret     BLOB,
    pending_expires_at INTEGER
) STRICT;

-- The current emailed code of a user (one at a time): keyed hash only.
-- purpose: 'setup' (confirming the method) or 'login' (sign-in challenge).
CREATE TABLE twofactor_email_codes (
    user_id    TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL CHECK (purpose IN ('setup', 'login')),
    code_hash  TEXT NOT NULL,
    sent_at    INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

-- Security questions: three per user; question_id is a catalogue id or 'custom'.
-- The text is kept exactly as set up; answers are argon2id hashes of the
-- normalised answer.
CREATE TABLE twofactor_questions (
    user_id     TEXT NOT NULL,
    position    INTEGER NOT NULL CHECK (position BETWEEN 0 AND 2),
    question_id TEXT NOT NULL,
    text        TEXT NOT NULL,
    answer_hash TEXT NOT NULL,
    PRIMARY KEY (user_id, position)
) STRICT;

-- Backup codes: keyed hashes; a used code keeps its row with used_at set.
CREATE TABLE twofactor_backup_codes (
    user_id   TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    used_at   INTEGER,
    PRIMARY KEY (user_id, code_hash)
) STRICT;

-- WebAuthn credentials: id is the base64url credential id; public_key the COSE key.
CREATE TABLE twofactor_webauthn (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    label        TEXT NOT NULL,
    alg          INTEGER NOT NULL,
    public_key   BLOB NOT NULL,
    sign_count   INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
) STRICT;
CREATE INDEX twofactor_webauthn_user ON twofactor_webauthn (user_id);

-- Server-side challenges (WebAuthn, the two asked security questions), single use:
-- consumed with DELETE … RETURNING.
CREATE TABLE twofactor_challenges (
    user_id    TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    data       TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, purpose)
) STRICT;

-- Trusted devices ("Remember me on this device", 14 days). The cookie carries
-- `<id>.<token>`; only the SHA-256 of the token is stored. Deleting the row
-- revokes the device.
CREATE TABLE twofactor_devices (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    label      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX twofactor_devices_user ON twofactor_devices (user_id, expires_at);
