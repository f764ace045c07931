"""Domain metrics every service exports (labels stay bounded: never a participant or meeting id)."""

from __future__ import annotations

from prometheus_client import REGISTRY, Counter, Gauge, Histogram

registry = REGISTRY

REGISTRATIONS = Counter("fmf_registrations_total", "Sign-ups by outcome.", ["outcome"])
# Tenants are bounded (one per municipality, a few hundred), so the slug is a safe label.
TENANT_SIGNUPS = Counter("fmf_tenant_signups_total", "Sign-ups per tenant.", ["tenant"])
OUTBOX_BACKLOG = Gauge("fmf_outbox_backlog", "Outbox rows not yet published.")
# The relay produces with aiokafka's record batches, which FastStream's middleware does not see.
OUTBOX_PUBLISHED = Counter("fmf_outbox_published_total", "Outbox events published to Kafka.", ["topic"])
OUTBOX_PUBLISH_DELAY = Histogram(
    "fmf_outbox_publish_delay_seconds",
    "Time from outbox insert to publish.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
INBOX_DUPLICATES = Counter("fmf_inbox_duplicates_total", "Redelivered events skipped by the inbox.")
DLQ_MESSAGES = Counter("fmf_dlq_messages_total", "Messages sent to a dead-letter topic.", ["topic"])
# Bounded: the consumer group is one per service, and a type not in shared.events.EVENT_TYPES counts as "unknown".
EVENTS_IGNORED = Counter(
    "fmf_events_ignored_total", "Consumed events no handler of the consumer group wants, by type.", ["group", "type"]
)
MATCHING_DURATION = Histogram("fmf_matching_duration_seconds", "Time to score, solve and seat a meeting.")
MATCHING_PAIR_SCORE = Histogram(
    "fmf_matching_pair_score", "Score of each proposed pair.", buckets=(0, 1, 2, 3, 4, 5, 6, 8, 10, 15)
)
NOTIFICATIONS = Counter("fmf_notifications_total", "Notifications by outcome.", ["channel", "kind", "status"])
CONSUMER_LAG = Gauge("fmf_consumer_lag", "High-water mark minus committed offset.", ["topic", "group"])
# Bounded: one label value per rule of shared/ratelimit.py.
ABUSE_LIMITED = Counter("fmf_abuse_limited_total", "Requests refused by an abuse limit.", ["rule"])
DLQ_PUBLISH_FAILURES = Counter(
    "fmf_dlq_publish_failures_total",
    "Failed copies of a message to its dead-letter topic (each retried; the message is not acknowledged).",
    ["topic"],
)
DLQ_REPLAYS_SKIPPED = Counter(
    "fmf_dlq_replays_skipped_total", "Replayed dead letters of another consumer group, acknowledged unread.", ["group"]
)
CONSUMER_BATCH_SIZE = Histogram(
    "fmf_consumer_batch_size",
    "Records in each batch a consumer group applied in one transaction.",
    ["group"],
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
)
CONSUMER_DB_RETRIES = Counter(
    "fmf_consumer_db_retries_total", "Events retried because the database could not be reached.", ["group"]
)
# The broker came back without the log the outbox was published into (shared/broker_loss.py).
BROKER_LOG_LOST = Counter("fmf_broker_log_lost_total", "Times the outbox relay found the broker had lost its log.")
OUTBOX_REPUBLISHED = Counter(
    "fmf_outbox_republished_total",
    "Outbox rows put back to be published again, by cause (broker_loss, operator).",
    ["cause"],
)
CONSUMER_REWINDS = Counter(
    "fmf_consumer_rewinds_total", "Times a consumer group went back to the beginning after a broker loss.", ["group"]
)
