-- Every kind of message: the registrations they are about, manage links for the links in messages,
-- the seating last told to each person, erasures, and scheduled rows (reminders, feedback requests).

-- skipped: deliberately not sent (a reminder after the meeting started, no phone for an SMS reminder ...).
ALTER TABLE notifications DROP CONSTRAINT notifications_status_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_status_check
    CHECK (status IN ('pending', 'sent', 'failed', 'skipped'));
ALTER TABLE notifications
    ADD COLUMN registration_id uuid,
    -- Facts only this message needs (seat, shared interests, what changed); never contact details.
    ADD COLUMN details jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN cause_occurred_at timestamptz;
CREATE INDEX notifications_registration ON notifications (registration_id) WHERE status = 'pending';
CREATE INDEX notifications_meeting ON notifications (meeting_id) WHERE status = 'pending';
CREATE INDEX notifications_participant ON notifications (participant_id);

ALTER TABLE meetings ADD COLUMN format text NOT NULL DEFAULT 'standard';

-- Who is signed up for what, pseudonymously: whom a meeting change concerns, whose reminders are due.
CREATE TABLE registrations (
    registration_id  uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL,
    meeting_id       uuid NOT NULL,
    participant_id   uuid NOT NULL,
    status           text NOT NULL,
    -- The event that last confirmed the place (confirmed or promoted): the cause of its reminders.
    confirmed_by     uuid,
    confirmed_at     timestamptz
);
CREATE INDEX registrations_meeting ON registrations (meeting_id);

CREATE TABLE manage_links (
    registration_id uuid PRIMARY KEY,
    participant_id  uuid NOT NULL,
    meeting_id      uuid NOT NULL,
    tenant_id       uuid NOT NULL,
    manage_token    text NOT NULL
);
CREATE INDEX manage_links_participant ON manage_links (participant_id);

-- The seat and partners each person was last told, so a re-match tells only those it changes.
CREATE TABLE seatings (
    meeting_id      uuid NOT NULL,
    registration_id uuid NOT NULL,
    participant_id  uuid NOT NULL,
    version         integer NOT NULL,
    seat            integer NOT NULL,
    partners        uuid[] NOT NULL,
    PRIMARY KEY (meeting_id, registration_id)
);

-- Erased participants: a late contact.upserted must not bring their details back.
CREATE TABLE erased_participants (
    participant_id uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL,
    erased_at      timestamptz NOT NULL
);
-- Set on erasure; the row is deleted once the erasure confirmation has been sent (or has failed).
ALTER TABLE contacts ADD COLUMN erased_at timestamptz;

-- A contact or manage link arriving can make waiting messages sendable: wake the sender.
CREATE TRIGGER contacts_notify AFTER INSERT OR UPDATE ON contacts
    FOR EACH STATEMENT EXECUTE FUNCTION notifications_notify();
CREATE TRIGGER manage_links_notify AFTER INSERT ON manage_links
    FOR EACH STATEMENT EXECUTE FUNCTION notifications_notify();
