"""The README documents every setting the code reads."""

from __future__ import annotations

from pathlib import Path

from shared.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_readme() -> None:
    missing = [f"FMF_{name.upper()}" for name in Settings.model_fields if f"FMF_{name.upper()}" not in README]
    assert missing == []
