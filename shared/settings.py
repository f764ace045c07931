"""Settings from environment variables with the ``FMF_`` prefix (one class, every service)."""

from __future__ import annotations

from functools import lru_cache

from limits import parse_many
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.registry import SERVICE_PORTS


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FMF_", extra="ignore")

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

    # Auth
    operator_token: str = Field("", description="Bearer token of the national operator.")

    # Database pool
    db_pool_min: int = Field(2, ge=1, description="Smallest database pool size.")
    db_pool_max: int = Field(10, ge=1, description="Largest database pool size.")

    # Notification
    smtp_host: str = Field("127.0.0.1", description="SMTP server host.")
    smtp_port: int = Field(1025, description="SMTP server port.")
    smtp_username: str = Field("", description="SMTP user; empty disables AUTH.")
    smtp_password: str = Field("", description="SMTP password.")
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_timeout_s: float = Field(10.0, gt=0, description="SMTP timeout per message.")
    mail_from: str = Field("Folk møter folk <noreply@folkmoterfolk.no>", description="From address.")
    sender_poll_interval_s: float = Field(1.0, gt=0, description="How often due notifications are looked for.")
    sender_workers: int = Field(4, ge=1, description="Notifications one replica sends at the same time.")
    sender_max_attempts: int = Field(10, ge=1, description="Attempts before a notification is marked failed.")
    sender_backoff_base_s: float = Field(5.0, gt=0, description="First retry delay; doubles per attempt, jittered.")
    sender_backoff_cap_s: float = Field(1800.0, gt=0, description="Longest delay between two attempts.")
    manage_link_wait_s: float = Field(
        5.0, ge=0, description="How long a message waits for its manage link before it goes without one."
    )
    public_base_url: str = Field("http://127.0.0.1:8001", description="Base URL of registration for links in messages")
    sms_gateway_url: str = Field("", description="URL the SMS gateway takes JSON POSTs on; empty disables SMS.")
    sms_gateway_key: str = Field("", description="Bearer key for the SMS gateway.")
    sms_sender: str = Field("FolkMoter", description="Sender name shown on SMS (at most 11 characters).")
    sms_timeout_s: float = Field(10.0, gt=0, description="SMS gateway timeout per message.")

    phone_countries: str = Field(
        "NO", description="Countries (ISO 3166 codes, comma-separated; * for any) whose mobile numbers may sign up."
    )
    link_expiry_interval_s: float = Field(
        300, gt=0, description="How often registration closes sign-up and erasure links that were not used in time."
    )
    registration_close_interval_s: float = Field(
        30, gt=0, description="How often registration closes sign-up of meetings whose closing time has come."
    )
    retention_interval_s: float = Field(
        86_400, gt=0, description="How often registration erases personal data past the tenants' retention time."
    )

    # HTTP edge (shared/http.py): what every service accepts and whom it believes
    max_body_bytes: int = Field(
        65_536, ge=1, description="Largest request body accepted; a larger one is answered 413 before it is read."
    )
    trusted_proxies: str = Field(
        "",
        description="Comma-separated IPs/CIDRs of reverse proxies whose X-Forwarded-For is believed; empty: none.",
    )

    # Abuse limits (shared/ratelimit.py). Each rule is one or more windows in the limits library's notation:
    # "20/10 minutes;60/day" allows 20 in 10 minutes and 60 in a day, each window opening at a first attempt.
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

    log_level: str = Field("INFO", description="Log level.")
    log_json: bool = Field(True, description="Structured JSON logs (false: human-readable).")

    def port_for(self, service: str) -> int:
        return self.http_port or SERVICE_PORTS[service]


@lru_cache
def get_settings() -> Settings:
    return Settings()
