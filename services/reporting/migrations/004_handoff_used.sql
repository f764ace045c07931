-- One-time grants from the console (shared/handoff.py) already used to open a dashboard: each is accepted
-- once. Rows are kept until their grant has expired.
CREATE TABLE handoff_used (
    nonce      text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
