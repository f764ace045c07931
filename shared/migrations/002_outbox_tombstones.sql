-- A row without a body is a tombstone: a null value for its key on a compacted topic.
ALTER TABLE outbox ALTER COLUMN body DROP NOT NULL;
