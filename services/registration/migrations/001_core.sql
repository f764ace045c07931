CREATE TABLE tenants (
    id                  uuid PRIMARY KEY,
    slug                text NOT NULL UNIQUE,
    name                text NOT NULL,
    municipality_number text NOT NULL UNIQUE,
    timezone            text NOT NULL DEFAULT 'Europe/Oslo',
    day_starts          time NOT NULL DEFAULT '08:00',
    day_ends            time NOT NULL DEFAULT '17:00',
    status              text NOT NULL DEFAULT 'active',
    created_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE meetings (
    id                     uuid PRIMARY KEY,
    tenant_id              uuid NOT NULL REFERENCES tenants (id),
    title                  text NOT NULL,
    format                 text NOT NULL,
    status                 text NOT NULL DEFAULT 'draft',
    starts_at              timestamptz NOT NULL,
    duration_minutes       integer NOT NULL CHECK (duration_minutes > 0),
    registration_closes_at timestamptz,
    venue                  jsonb NOT NULL,
    capacity_newcomer      integer NOT NULL CHECK (capacity_newcomer >= 1),
    capacity_resident      integer NOT NULL CHECK (capacity_resident >= 1),
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX meetings_tenant ON meetings (tenant_id, starts_at);

CREATE TABLE participants (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    name       text,
    email      text,
    phone      text,
    language   text NOT NULL DEFAULT 'nb',
    profile    jsonb NOT NULL DEFAULT '{}',
    consent_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    erased_at  timestamptz
);
CREATE UNIQUE INDEX participants_email ON participants (tenant_id, lower(email)) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX participants_phone ON participants (tenant_id, phone) WHERE phone IS NOT NULL;

CREATE TABLE registrations (
    id                uuid PRIMARY KEY,
    tenant_id         uuid NOT NULL REFERENCES tenants (id),
    meeting_id        uuid NOT NULL REFERENCES meetings (id),
    participant_id    uuid NOT NULL REFERENCES participants (id),
    "group"           text NOT NULL CHECK ("group" IN ('newcomer', 'resident')),
    status            text NOT NULL,
    manage_token_hash text NOT NULL UNIQUE,
    signed_up_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
-- One live place per person and meeting; a cancelled place does not block signing up again.
CREATE UNIQUE INDEX registrations_one_live ON registrations (meeting_id, participant_id)
    WHERE status <> 'cancelled';
CREATE INDEX registrations_meeting ON registrations (meeting_id, "group", status, signed_up_at);

-- The latest pairing proposal from matching, kept here so coordinators see it with names.
CREATE TABLE seating (
    meeting_id uuid PRIMARY KEY REFERENCES meetings (id),
    tenant_id  uuid NOT NULL,
    version    integer NOT NULL,
    proposal   jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
