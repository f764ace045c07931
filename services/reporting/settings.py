"""The reporting service's settings: the common ones and the operator's token (national figures)."""

from __future__ import annotations

from shared.settings import OperatorSettings, Settings


class ReportingSettings(Settings, OperatorSettings):
    pass
