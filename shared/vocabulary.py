"""The controlled vocabulary (interests, occupation fields, languages, age bands ...) with nb/nn/en labels."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

_PATH = Path(__file__).with_name("vocabulary.json")


@lru_cache
def vocabulary() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_PATH.read_text(encoding="utf-8"))
    return data


def ids(category: str) -> frozenset[str]:
    return frozenset(item["id"] if isinstance(item, dict) else item for item in vocabulary()[category])


def label(category: str, item_id: str, language: str = "en") -> str:
    for item in vocabulary()[category]:
        if isinstance(item, dict) and item["id"] == item_id:
            return str(item.get(language) or item.get("en") or item_id)
    return item_id


def check(category: str, values: list[str] | str | None) -> None:
    """Raise ValueError naming the unknown values and where to find the allowed ones."""
    if values is None:
        return
    given = [values] if isinstance(values, str) else values
    unknown = sorted(set(given) - ids(category))
    if unknown:
        raise ValueError(
            f"unknown {category.replace('_', ' ')}: {', '.join(unknown)}; see GET /v1/vocabulary for the list"
        )
