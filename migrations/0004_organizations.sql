-- 0004 organizations and company access. Owner: approvals (memberships are
-- written only through edgedesk_core::access, which auth's invite also uses).
-- Replaces the placeholder users.organization_id / users.access columns: a
-- person's company access is a row here, so one index answers "members of X".

ALTER TABLE users DROP COLUMN organization_id;
ALTER TABLE users DROP COLUMN access;

-- state: pending until an operator approves its first member.
-- name_key: the name lowercased with every space removed, the matching rule
-- for "request access" (case- and space-insensitive).
CREATE TABLE organizations (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    name_key   TEXT NOT NULL UNIQUE,
    state      TEXT NOT NULL CHECK (state IN ('pending', 'approved')),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX organizations_name ON organizations (name COLLATE NOCASE);

-- Registered email domains: a request from someone@<domain> joins the
-- organization even when the typed company name differs. Free-mail domains
-- are refused when registered (core::access::FREE_MAIL).
CREATE TABLE organization_domains (
    domain          TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL
) STRICT;
CREATE INDEX organization_domains_org ON organization_domains (organization_id);

-- One row per person with company access, pending or approved. A declined or
-- removed person has no row (access "none").
CREATE TABLE memberships (
    user_id         TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    access          TEXT NOT NULL CHECK (access IN ('pending', 'approved')),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX memberships_org ON memberships (organization_id, access);

-- Access requests and their decision. The status history is pending
-- (requester, created_at) then approved | declined (decided_by, decided_at).
CREATE TABLE access_requests (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    company_name    TEXT NOT NULL,
    approver        TEXT NOT NULL CHECK (approver IN ('operators', 'organization')),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'declined')),
    reason          TEXT,
    decided_by      TEXT,
    decided_at      INTEGER,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX access_requests_org ON access_requests (organization_id, status, created_at);
CREATE INDEX access_requests_user ON access_requests (user_id, created_at);
CREATE INDEX access_requests_status ON access_requests (status, approver, created_at);

-- The "Approve" links mailed to deciders: single-use, bound to one approver and
-- one request, 7 days. Only the SHA-256 of the 256-bit token is stored.
CREATE TABLE approval_links (
    token_hash  TEXT PRIMARY KEY,
    request_id  TEXT NOT NULL,
    approver_id TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
) STRICT;
CREATE INDEX approval_links_request ON approval_links (request_id);
