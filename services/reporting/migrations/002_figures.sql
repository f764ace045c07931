-- Everything the reports count, still without personal data: ids, groups, statuses, answers as numbers.
ALTER TABLE meetings ADD COLUMN timezone text NOT NULL DEFAULT 'Europe/Oslo';

CREATE INDEX registrations_tenant ON registrations (tenant_id);

-- One row per registration that answered; the free-text comment never leaves registration.
CREATE TABLE feedback (
    registration_id uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL,
    meeting_id      uuid NOT NULL,
    "group"         text NOT NULL,
    rating          smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    new_connection  boolean NOT NULL,
    would_recommend boolean NOT NULL
);
CREATE INDEX feedback_meeting ON feedback (meeting_id);

-- The final outcome of each notification; no contact details, no text.
CREATE TABLE notifications (
    notification_id uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL,
    meeting_id      uuid,
    channel         text NOT NULL,
    outcome         text NOT NULL CHECK (outcome IN ('sent', 'failed')),
    occurred_at     timestamptz NOT NULL
);
CREATE INDEX notifications_meeting ON notifications (meeting_id);
CREATE INDEX notifications_without_meeting ON notifications (tenant_id, occurred_at) WHERE meeting_id IS NULL;
