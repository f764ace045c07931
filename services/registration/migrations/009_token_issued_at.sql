-- When each coordinator token was issued, for the operator's console (the list of a tenant's access keys).
-- Tokens issued before this migration have no known time (NULL); every new one is stamped.
ALTER TABLE known_tokens ADD COLUMN issued_at timestamptz;
ALTER TABLE known_tokens ALTER COLUMN issued_at SET DEFAULT now();
