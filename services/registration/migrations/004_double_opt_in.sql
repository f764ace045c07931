-- Double opt-in: a sign-up without a coordinator token waits here until its contact is confirmed.
-- The row holds the person's details only while it waits; confirmation or expiry blanks them.
ALTER TABLE tenants ADD COLUMN confirmation_hours integer NOT NULL DEFAULT 48
    CHECK (confirmation_hours BETWEEN 1 AND 168);

CREATE TABLE signups (
    id                 uuid PRIMARY KEY,
    tenant_id          uuid NOT NULL REFERENCES tenants (id),
    meeting_id         uuid NOT NULL REFERENCES meetings (id),
    "group"            text NOT NULL CHECK ("group" IN ('newcomer', 'resident')),
    name               text,
    email              text,
    phone              text,
    language           text NOT NULL,
    profile            jsonb,
    confirm_token_hash text NOT NULL UNIQUE,
    requested_at       timestamptz NOT NULL DEFAULT now(),
    expires_at         timestamptz NOT NULL,
    -- pending, then confirmed (a place), repeated (the person held a place already) or expired
    status             text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'confirmed', 'repeated', 'expired')),
    closed_at          timestamptz,
    participant_id     uuid REFERENCES participants (id),
    registration_id    uuid REFERENCES registrations (id)
);
CREATE INDEX signups_pending ON signups (expires_at) WHERE status = 'pending';
CREATE INDEX signups_participant ON signups (participant_id) WHERE participant_id IS NOT NULL;

-- Erasing the whole person from a manage link needs a second confirmation, sent to their own contact.
CREATE TABLE erasure_requests (
    id                 uuid PRIMARY KEY,
    tenant_id          uuid NOT NULL REFERENCES tenants (id),
    participant_id     uuid NOT NULL REFERENCES participants (id),
    confirm_token_hash text NOT NULL UNIQUE,
    requested_at       timestamptz NOT NULL DEFAULT now(),
    expires_at         timestamptz NOT NULL,
    closed_at          timestamptz
);
CREATE INDEX erasure_requests_open ON erasure_requests (expires_at) WHERE closed_at IS NULL;

ALTER TABLE signups ENABLE ROW LEVEL SECURITY;
ALTER TABLE signups FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON signups
    USING (app_tenant_visible(tenant_id)) WITH CHECK (app_tenant_visible(tenant_id));
ALTER TABLE erasure_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE erasure_requests FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON erasure_requests
    USING (app_tenant_visible(tenant_id)) WITH CHECK (app_tenant_visible(tenant_id));

CREATE FUNCTION tenant_of_signup(signup uuid) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public SET app.tenant_id = '*' AS $$
    SELECT tenant_id FROM signups WHERE id = signup
$$;
CREATE FUNCTION tenant_of_erasure_request(request uuid) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public SET app.tenant_id = '*' AS $$
    SELECT tenant_id FROM erasure_requests WHERE id = request
$$;
GRANT EXECUTE ON FUNCTION tenant_of_signup(uuid), tenant_of_erasure_request(uuid) TO fmf_registration_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON signups, erasure_requests TO fmf_registration_app;

-- Invitation codes of 12 symbols (≈ 59 bits) from an alphabet people can read aloud; new meetings get theirs
-- from the service (secrets), and the codes of existing meetings are replaced here, from the strong
-- random bytes of gen_random_uuid() (bytes 0-5 and 9-14 carry no version bits; 256 is not a multiple of 30,
-- so each symbol has a bias below 1 %, which costs well under one bit in all).
CREATE FUNCTION invitation_code() RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT substr(c, 1, 4) || '-' || substr(c, 5, 4) || '-' || substr(c, 9, 4) FROM (
        SELECT string_agg(substr('23456789ABCDEFGHJKMNPQRSTVWXYZ', get_byte(b, i) % 30 + 1, 1), '' ORDER BY i) AS c
        FROM (SELECT uuid_send(gen_random_uuid()) AS b) AS r, unnest(ARRAY[0, 1, 2, 3, 4, 5, 9, 10, 11, 12, 13, 14]) AS i
    ) AS code
$$;
ALTER TABLE meetings ALTER COLUMN invitation_code SET DEFAULT invitation_code();
UPDATE meetings SET invitation_code = invitation_code();
