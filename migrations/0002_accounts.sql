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
