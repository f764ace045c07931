-- An aggregate, personal-data-free read model: ids, groups, statuses and counts only.
CREATE TABLE meetings (
    meeting_id uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL,
    format     text NOT NULL,
    status     text NOT NULL,
    starts_at  timestamptz NOT NULL
);
CREATE INDEX meetings_tenant ON meetings (tenant_id, starts_at);

CREATE TABLE registrations (
    registration_id uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL,
    meeting_id      uuid NOT NULL,
    "group"         text NOT NULL,
    status          text NOT NULL,
    was_promoted    boolean NOT NULL DEFAULT false,
    first_time      boolean
);
CREATE INDEX registrations_meeting ON registrations (meeting_id);

CREATE TABLE pairings (
    meeting_id uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL,
    version    integer NOT NULL,
    pairs      integer NOT NULL,
    trios      integer NOT NULL
);
