"""The README documents every setting the code reads: each service's, the local runner's and the CLI's."""

from __future__ import annotations

import importlib
from pathlib import Path

from pydantic_settings import BaseSettings

from deploy.cli import CliSettings
from deploy.local.settings import LocalSettings
from shared.registry import SERVICES
from shared.settings import FmfSettings, Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def settings_classes() -> list[type[FmfSettings]]:
    """Every settings class: each service's (from its spec), the runner's, the CLI's, and any other
    ``FmfSettings`` subclass those modules define (the building blocks)."""
    found: list[type[FmfSettings]] = [Settings, LocalSettings, CliSettings]
    for service in SERVICES:
        found.append(importlib.import_module(f"services.{service}.app").SPEC.settings_class)
    pending: list[type[BaseSettings]] = [FmfSettings]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            if sub.__module__.split(".")[0] in ("shared", "services", "deploy"):
                found.append(sub)
            pending.append(sub)
    return list(dict.fromkeys(found))


def test_every_setting_is_in_the_readme() -> None:
    classes = settings_classes()
    assert {"RegistrationSettings", "NotificationSettings", "ReportingSettings"} <= {c.__name__ for c in classes}
    missing = sorted({name for cls in classes for name in cls.env_names() if name not in README})
    assert missing == []
