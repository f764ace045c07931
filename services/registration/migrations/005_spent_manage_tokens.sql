-- A manage token lives no longer than what it grants: erasure removes the tokens of the person's
-- registrations (issue 17), so the column may now be empty. A NULL never equals a token's hash.
ALTER TABLE registrations ALTER COLUMN manage_token_hash DROP NOT NULL;
