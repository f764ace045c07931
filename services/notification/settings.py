"""The notification service's settings: the common ones, and how it sends e-mail (SMTP) and SMS (an HTTP
gateway), when it retries, and where the links in its messages lead."""

from __future__ import annotations

from pydantic import Field, SecretStr

from shared.settings import Settings


class NotificationSettings(Settings):
    # E-mail
    smtp_host: str = Field("127.0.0.1", description="SMTP server host.")
    smtp_port: int = Field(1025, description="SMTP server port.")
    smtp_username: str = Field("", description="SMTP user; empty disables AUTH.")
    smtp_password: SecretStr = Field(SecretStr(""), description="SMTP password.")
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_timeout_s: float = Field(10.0, gt=0, description="SMTP timeout per message.")
    smtp_pool_size: int = Field(4, ge=1, description="SMTP connections one replica keeps open and sends over.")
    smtp_messages_per_connection: int = Field(
        100, ge=1, description="Messages sent over one SMTP connection before it is closed and a new one opened."
    )
    smtp_idle_s: float = Field(10.0, gt=0, description="An SMTP connection idle this long is closed, not reused.")
    mail_from: str = Field("Folk møter folk <noreply@folkmoterfolk.no>", description="From address.")

    # The sender
    sender_poll_interval_s: float = Field(1.0, gt=0, description="How often due notifications are looked for.")
    sender_workers: int = Field(4, ge=1, description="Notifications one replica sends at the same time.")
    sender_batch_size: int = Field(
        20, ge=1, description="Due notifications one worker claims with one statement and sends together."
    )
    sender_max_attempts: int = Field(10, ge=1, description="Attempts before a notification is marked failed.")
    sender_backoff_base_s: float = Field(5.0, gt=0, description="First retry delay; doubles per attempt, jittered.")
    sender_backoff_cap_s: float = Field(1800.0, gt=0, description="Longest delay between two attempts.")
    manage_link_wait_s: float = Field(
        5.0, ge=0, description="How long a message waits for its manage link before it goes without one."
    )
    public_base_url: str = Field("http://127.0.0.1:8001", description="Base URL of registration for links in messages")

    # SMS
    sms_gateway_url: str = Field("", description="URL the SMS gateway takes JSON POSTs on; empty disables SMS.")
    sms_gateway_key: SecretStr = Field(SecretStr(""), description="Bearer key for the SMS gateway.")
    sms_sender: str = Field("FolkMoter", description="Sender name shown on SMS (at most 11 characters).")
    sms_timeout_s: float = Field(10.0, gt=0, description="SMS gateway timeout per message.")
