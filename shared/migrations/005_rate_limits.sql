-- Abuse-limit counters (shared/ratelimit.py), shared by every replica of a service: one row per limit
-- key and fixed window. A key holds the rule's name and a keyed hash of who or what is counted, never
-- an e-mail address, a phone number or an IP address in clear. UNLOGGED: a counter is not worth its
-- WAL, and a crash that empties the table only forgives the abusers of the last minutes.
CREATE UNLOGGED TABLE rate_limit_counters (
    key        text PRIMARY KEY,
    hits       bigint NOT NULL,
    expires_at timestamptz NOT NULL
);
-- Expired rows are purged in small batches, oldest first.
CREATE INDEX rate_limit_counters_expiry ON rate_limit_counters (expires_at);

-- The key of the hash above, made once per database so that every replica counts under the same keys.
CREATE TABLE rate_limit_secret (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    secret   text NOT NULL
);
INSERT INTO rate_limit_secret (secret) VALUES (replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));
