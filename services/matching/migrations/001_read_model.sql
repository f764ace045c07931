-- A pseudonymous read model: ids, groups and non-identifying profile attributes only.
CREATE TABLE meetings (
    meeting_id uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL,
    format     text NOT NULL,
    status     text NOT NULL,
    roster     uuid[],          -- confirmed registrations at close; set by meeting.registration_closed
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE candidates (
    registration_id uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL,
    meeting_id      uuid NOT NULL,
    participant_id  uuid NOT NULL,
    "group"         text NOT NULL,
    status          text NOT NULL,
    profile         jsonb NOT NULL DEFAULT '{}',
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX candidates_meeting ON candidates (meeting_id);

CREATE TABLE proposals (
    meeting_id uuid NOT NULL,
    version    integer NOT NULL,
    tenant_id  uuid NOT NULL,
    proposal   jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (meeting_id, version)
);
