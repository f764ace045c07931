-- Contact details (only what sending needs), the meetings messages talk about, and the record of
-- every notification: one row per (cause event, recipient, kind), so nothing can be sent twice.
CREATE TABLE contacts (
    participant_id uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL,
    name           text NOT NULL,
    email          text,
    phone          text,
    language       text NOT NULL DEFAULT 'nb',
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE meetings (
    meeting_id       uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL,
    title            text NOT NULL,
    status           text NOT NULL,
    starts_at        timestamptz NOT NULL,
    duration_minutes integer NOT NULL,
    timezone         text NOT NULL,
    venue            jsonb NOT NULL
);

CREATE TABLE notifications (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL,
    cause_event_id uuid NOT NULL,
    participant_id uuid NOT NULL,
    meeting_id     uuid,
    kind           text NOT NULL,
    channel        text NOT NULL CHECK (channel IN ('email', 'sms')),
    status         text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts       integer NOT NULL DEFAULT 0,
    due_at         timestamptz NOT NULL DEFAULT now(),
    last_error     text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    sent_at        timestamptz,
    UNIQUE (cause_event_id, participant_id, kind)
);
CREATE INDEX notifications_due ON notifications (due_at) WHERE status = 'pending';

CREATE FUNCTION notifications_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('fmf_notifications', '');
    RETURN NULL;
END $$;
CREATE TRIGGER notifications_notify AFTER INSERT ON notifications
    FOR EACH STATEMENT EXECUTE FUNCTION notifications_notify();
