-- E-mail addresses are kept in lower case and looked up by plain equality: under row-level security
-- the planner may not use an index on lower(email) (lower() is not leakproof), so every look-up
-- scanned the tenant's participants.
DROP INDEX participants_email;
UPDATE participants SET email = lower(email) WHERE email <> lower(email);
CREATE UNIQUE INDEX participants_email ON participants (tenant_id, email) WHERE email IS NOT NULL;
