-- The transactional outbox and the idempotent-consumer inbox; applied to every service's database.
CREATE TABLE outbox (
    seq          bigserial PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    tenant_id    uuid NOT NULL,
    topic        text NOT NULL,
    key          text NOT NULL,
    event_type   text NOT NULL,
    body         jsonb NOT NULL,
    headers      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;

CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('fmf_outbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

CREATE TABLE inbox (
    consumer   text NOT NULL,
    event_id   uuid NOT NULL,
    tenant_id  uuid NOT NULL,
    event_type text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Coordinator tokens as hashes, learned from fmf.tenants.v1 (registration is their source).
CREATE TABLE known_tokens (
    token_id   uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL,
    token_hash text NOT NULL UNIQUE,
    revoked_at timestamptz
);
CREATE TABLE known_tenants (
    tenant_id           uuid PRIMARY KEY,
    slug                text NOT NULL UNIQUE,
    name                text NOT NULL,
    municipality_number text NOT NULL,
    timezone            text NOT NULL DEFAULT 'Europe/Oslo'
);
