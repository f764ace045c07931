-- An outbox row is written once and read once, as text on its way to Kafka: json keeps the text as
-- written, where jsonb would convert it to its binary form and back.
ALTER TABLE outbox
    ALTER COLUMN body TYPE json USING body::json,
    ALTER COLUMN headers TYPE json USING headers::json;
