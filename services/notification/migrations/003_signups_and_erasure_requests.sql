-- Double opt-in: the contact details of a sign-up that waits for its link to be opened, and the token of
-- an erasure that waits for its confirmation. Each row is scrubbed when its *_closed event arrives (or on
-- participant.erased); the scrubbed row stays as a marker so that a late or replayed request changes nothing.
CREATE TABLE signups (
    signup_id     uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL,
    meeting_id    uuid NOT NULL,
    name          text,
    email         text,
    phone         text,
    language      text NOT NULL DEFAULT 'nb',
    confirm_token text,
    expires_at    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    closed_at     timestamptz,
    outcome       text,
    CHECK (closed_at IS NULL OR (name IS NULL AND email IS NULL AND phone IS NULL AND confirm_token IS NULL))
);

CREATE TABLE erasure_requests (
    request_id     uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL,
    participant_id uuid NOT NULL,
    confirm_token  text,
    expires_at     timestamptz NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    closed_at      timestamptz,
    outcome        text,
    CHECK (closed_at IS NULL OR confirm_token IS NULL)
);
CREATE INDEX erasure_requests_participant ON erasure_requests (participant_id);

-- A message to a sign-up has no participant yet: it names the sign-up instead. A message about an erasure
-- request names the request, whose token the link carries.
ALTER TABLE notifications
    ALTER COLUMN participant_id DROP NOT NULL,
    ADD COLUMN signup_id uuid,
    ADD COLUMN erasure_request_id uuid,
    ADD CONSTRAINT notifications_recipient CHECK (participant_id IS NOT NULL OR signup_id IS NOT NULL);
CREATE UNIQUE INDEX notifications_signup_once ON notifications (cause_event_id, signup_id, kind)
    WHERE participant_id IS NULL;
CREATE INDEX notifications_signup ON notifications (signup_id) WHERE signup_id IS NOT NULL;
CREATE INDEX notifications_erasure_request ON notifications (erasure_request_id) WHERE erasure_request_id IS NOT NULL;
