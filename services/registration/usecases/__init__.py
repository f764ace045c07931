"""The registration use cases: each runs in one transaction, scoped to one tenant by row-level
security, and writes the events it causes to the outbox in that same transaction."""
