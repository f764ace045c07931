-- The console's sessions: one row per signed-in browser, found by the SHA-256 of its cookie. A session keeps
-- the credential it was started with (``provider`` + ``credential``, e.g. a coordinator token's hash), which
-- is checked again on every request: a revoked token or a suspended tenant ends its sessions at once.
-- No row-level security: a session is looked up before its tenant is known; it holds no personal data.
CREATE TABLE console_sessions (
    id_hash text PRIMARY KEY,
    provider text NOT NULL,
    credential text NOT NULL,
    role text NOT NULL CHECK (role IN ('operator', 'coordinator')),
    tenant_id uuid REFERENCES tenants (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'coordinator') = (tenant_id IS NOT NULL))
);
CREATE INDEX console_sessions_last_seen ON console_sessions (last_seen_at);

-- One-time sign-in links (``make up``; an operator handing a new coordinator their first sign-in): the link
-- carries an id and a code; only the code's hash is kept, and the row is deleted when the link is used.
CREATE TABLE console_sign_in_links (
    id uuid PRIMARY KEY,
    code_hash text NOT NULL,
    provider text NOT NULL,
    credential text NOT NULL,
    role text NOT NULL CHECK (role IN ('operator', 'coordinator')),
    tenant_id uuid REFERENCES tenants (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL
);
GRANT SELECT, INSERT, UPDATE, DELETE ON console_sessions, console_sign_in_links TO fmf_registration_app;
