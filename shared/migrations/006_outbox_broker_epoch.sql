-- The epoch (shared/broker_loss.py) of the broker log this database's outbox was last published into:
-- when the broker comes back with another log, the relay publishes every kept row again.
CREATE TABLE outbox_broker_epoch (
    only_row    boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    epoch       text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
