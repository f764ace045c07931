"""The registration service's settings: the common ones, the operator's token, the abuse limits, which
phone numbers may sign up, and how often its jobs run."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr

from shared.settings import AbuseLimitSettings, OperatorSettings, Settings


class RegistrationSettings(Settings, OperatorSettings, AbuseLimitSettings):
    phone_countries: str = Field(
        "NO", description="Countries (ISO 3166 codes, comma-separated; * for any) whose mobile numbers may sign up."
    )
    link_expiry_interval_s: float = Field(
        300, gt=0, description="How often registration closes sign-up and erasure links that were not used in time."
    )
    registration_close_interval_s: float = Field(
        30, gt=0, description="How often registration closes sign-up of meetings whose closing time has come."
    )
    csrf_secret: SecretStr | None = Field(
        None,
        description="Key that signs the participant pages' CSRF tokens; every replica needs the same one."
        " Unset (make up, tests): a random key per process.",
    )
    console_idle_timeout_s: float = Field(
        7200, gt=0, description="A console session unused for this long (seconds) is signed out."
    )
    console_cookie_secure: bool = Field(
        True,
        description="Send the console's session cookie over HTTPS only; make up (plain http on 127.0.0.1)"
        " turns it off.",
    )
    reporting_url: str = Field(
        "http://127.0.0.1:8004",
        description="Where people open reporting's dashboards (its public base URL); the console links there.",
    )
    retention_interval_s: float = Field(
        86_400, gt=0, description="How often registration erases personal data past the tenants' retention time."
    )


@lru_cache
def get_settings() -> RegistrationSettings:
    """The service's settings from the environment, read once."""
    return RegistrationSettings()
