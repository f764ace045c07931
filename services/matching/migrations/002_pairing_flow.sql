-- Coordinator locks, published state and the tenant's pairing history.
ALTER TABLE proposals ADD COLUMN status text NOT NULL DEFAULT 'proposed';

CREATE TABLE locks (
    meeting_id               uuid NOT NULL,
    tenant_id                uuid NOT NULL,
    newcomer_registration_id uuid NOT NULL,
    resident_registration_id uuid NOT NULL,
    PRIMARY KEY (meeting_id, newcomer_registration_id),
    UNIQUE (meeting_id, resident_registration_id)
);

-- Who has been paired with whom (participant ids), per tenant; filled when pairs are published.
CREATE TABLE pair_history (
    tenant_id     uuid NOT NULL,
    meeting_id    uuid NOT NULL,
    participant_a uuid NOT NULL,
    participant_b uuid NOT NULL,
    PRIMARY KEY (meeting_id, participant_a, participant_b)
);
CREATE INDEX pair_history_tenant ON pair_history (tenant_id);
