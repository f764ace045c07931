"""Settings from environment variables: ``FMF_`` and the field name, flat (``FMF_DATABASE_URL``).

``Settings`` holds what every service reads (database, Kafka, HTTP, pool, outbox and consumers, logs,
the HTTP edge). Each service reads its own class, built from it and from the building blocks below:

- registration: ``services.registration.settings.RegistrationSettings``
- notification: ``services.notification.settings.NotificationSettings``
- reporting: ``services.reporting.settings.ReportingSettings``
- matching: ``Settings`` itself

so a service never carries another's settings. The local runner (``deploy/local/runner.py``) and the
operator's command line (``deploy/cli.py``) have classes of their own too.

A secret is a ``pydantic.SecretStr``: it shows as ``**********`` in ``repr``, ``str`` and logs, and is
read with ``.get_secret_value()`` only where it is used. A keyword a class does not have is an error
(``extra="forbid"``); environment variables of other services' settings are not read, so one
environment (a shared ConfigMap, ``make up``) may serve every service.
"""

from __future__ import annotations

from functools import lru_cache

from limits import parse_many
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.registry import SERVICE_PORTS

ENV_PREFIX = "FMF_"


class FmfSettings(BaseSettings):
    """The common ground of every settings class: the ``FMF_`` prefix, flat names, no unknown keywords."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    @classmethod
    def env_names(cls) -> set[str]:
        """The environment variable of each field (``FMF_`` and the field name in capitals)."""
        return {f"{ENV_PREFIX}{name.upper()}" for name in cls.model_fields}


class Settings(FmfSettings):
    """What every service reads."""

    # Where things are
    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/postgres",
        description="PostgreSQL DSN of this service's own database.",
    )
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated.")
    http_host: str = Field("127.0.0.1", description="Interface the HTTP server binds to.")
    http_port: int | None = Field(None, description="HTTP port; defaults to the service's port (8001-8004).")

    # Kafka
    topic_partitions: int = Field(6, ge=1, description="Partitions per topic when topics are created.")
    topic_replication: int = Field(1, ge=1, description="Replication factor when topics are created.")
    consumer_group_prefix: str = Field("fmf", description="Consumer groups are named <prefix>-<service>.")
    kafka_session_timeout_ms: int = Field(10_000, description="Consumer group session timeout.")
    kafka_heartbeat_interval_ms: int = Field(3_000, description="Consumer group heartbeat interval.")

    # Outbox relay and consumers
    outbox_poll_interval_s: float = Field(1.0, gt=0, description="Relay poll fallback when no NOTIFY arrives.")
    outbox_batch_size: int = Field(200, ge=1, description="Outbox rows published per relay round.")
    lag_interval_s: float = Field(15.0, gt=0, description="How often each service measures its consumer lag.")
    consumer_max_attempts: int = Field(3, ge=1, description="Attempts before a failing event goes to DLQ.")
    consumer_batch: bool = Field(
        True,
        description="Apply consumed records in batches, one transaction per batch (false: one per record).",
    )
    consumer_batch_max_records: int = Field(500, ge=1, description="Most records a consumer applies as one batch.")
    consumer_batch_max_wait_ms: int = Field(
        100, ge=1, description="Longest a consumer waits for a batch to fill before applying what it has, ms."
    )
    outbox_retention_hours: float = Field(
        168.0,
        gt=0,
        description="Hours a published outbox row is kept: what the relay can publish again after a broker loss.",
    )
    broker_check_interval_s: float = Field(
        3.0, gt=0, description="How often the relay and consumers check that the broker still has its log."
    )

    # Database pool
    db_pool_min: int = Field(2, ge=1, description="Smallest database pool size.")
    db_pool_max: int = Field(10, ge=1, description="Largest database pool size.")

    # Database outages (shared/db.py): every wait on the database is bounded, and a request that meets an
    # outage is answered 503 with Retry-After (shared/http.py) instead of hanging or failing with 500.
    db_acquire_timeout_s: float = Field(
        3.0, gt=0, description="Longest wait for a pooled connection (a free one, or a new one opened), seconds."
    )
    db_connect_timeout_s: float = Field(
        2.0, gt=0, description="Longest wait for PostgreSQL to accept a new connection, seconds."
    )
    db_statement_timeout_s: float = Field(
        5.0,
        gt=0,
        description="Longest a statement may run, seconds: PostgreSQL cancels it (statement_timeout), and the "
        "service stops waiting for a server that does not answer.",
    )
    db_retry_after_s: int = Field(
        5, ge=1, description="Retry-After (seconds) of the 503 answered while the database is unavailable."
    )

    # HTTP edge (shared/http.py): what every service accepts and whom it believes
    max_body_bytes: int = Field(
        65_536, ge=1, description="Largest request body accepted; a larger one is answered 413 before it is read."
    )
    trusted_proxies: str = Field(
        "",
        description="Comma-separated IPs/CIDRs of reverse proxies whose X-Forwarded-For is believed; empty: none.",
    )

    log_level: str = Field("INFO", description="Log level.")
    log_json: bool = Field(True, description="Structured JSON logs (false: human-readable).")

    def port_for(self, service: str) -> int:
        return self.http_port or SERVICE_PORTS[service]


class OperatorSettings(FmfSettings):
    """For the services the national operator signs in to (registration, reporting)."""

    operator_token: SecretStr = Field(SecretStr(""), description="Bearer token of the national operator.")


class AbuseLimitSettings(FmfSettings):
    """The abuse limits of ``shared/ratelimit.py``. Each rule is one or more windows in the limits library's
    notation: "20/10 minutes;60/day" allows 20 in 10 minutes and 60 in a day, each window opening at a
    first attempt."""

    rate_limits_enabled: bool = Field(True, description="Refuse requests over the abuse limits with 429.")
    rate_limit_storage: str = Field(
        "postgresql",
        description='Where abuse-limit counters live: "postgresql" (the service\'s own database) or a limits '
        "storage URI such as redis://127.0.0.1:6379 or memory:// (one process only).",
    )
    # A whole adult-education class (15-25 people) signs up from one school address in half an hour,
    # and a school may send several classes in a day.
    limit_signup_per_client: str = Field(
        "40/10 minutes;200/day", description="Public sign-ups from one client address (IPv6: its /64)."
    )
    # A 50-meets-50 meeting fills 100 places; its invitation may go out to a whole school at once.
    limit_signup_per_meeting: str = Field("100/10 minutes", description="Public sign-ups for one meeting.")
    limit_signup_per_contact: str = Field(
        "3/hour;10/day", description="Confirmation messages sent to one e-mail address or phone number."
    )
    limit_confirm_failures_per_client: str = Field(
        "20/10 minutes", description="Confirmation links that did not work, from one client address."
    )
    limit_confirm_failures_per_target: str = Field(
        "10/15 minutes", description="Confirmation links that did not work, for one sign-up."
    )
    limit_manage_failures_per_client: str = Field(
        "20/10 minutes", description="Manage tokens that did not work, from one client address."
    )
    limit_manage_failures_per_target: str = Field(
        "10/15 minutes", description="Manage tokens that did not work, for one registration."
    )
    limit_invitation_failures_per_client: str = Field(
        "10/10 minutes", description="Wrong invitation codes from one client address."
    )
    limit_invitation_failures_per_meeting: str = Field(
        "30/15 minutes", description="Wrong invitation codes for one meeting."
    )
    limit_bearer_failures_per_client: str = Field(
        "20/10 minutes", description="Bearer tokens that did not work, from one client address."
    )

    @field_validator(
        "limit_signup_per_client",
        "limit_signup_per_meeting",
        "limit_signup_per_contact",
        "limit_confirm_failures_per_client",
        "limit_confirm_failures_per_target",
        "limit_manage_failures_per_client",
        "limit_manage_failures_per_target",
        "limit_invitation_failures_per_client",
        "limit_invitation_failures_per_meeting",
        "limit_bearer_failures_per_client",
    )
    @classmethod
    def _limits_notation(cls, value: str) -> str:
        try:
            items = parse_many(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a rate limit such as '20/10 minutes;60/day'") from None
        if any(item.amount < 1 for item in items):
            raise ValueError(f"{value!r}: every window must allow at least 1")
        return value


@lru_cache
def get_settings() -> Settings:
    """The settings every service reads, from the environment, read once (``get_settings.cache_clear()``
    reads them again)."""
    return Settings()
