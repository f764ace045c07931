"""The reporting service's settings: the common ones, the operator's token (national figures, and the key of
the console's hand-off to the dashboards), and the dashboards' cookie."""

from __future__ import annotations

from pydantic import Field

from shared.settings import OperatorSettings, Settings


class ReportingSettings(Settings, OperatorSettings):
    console_cookie_secure: bool = Field(
        True,
        description="Send the dashboards' cookie (opened from the console) over HTTPS only; make up (plain http"
        " on 127.0.0.1) turns it off.",
    )
