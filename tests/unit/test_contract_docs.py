"""The committed AsyncAPI documents and event catalogue match the code (regenerate: python -m deploy.asyncapi)."""

from __future__ import annotations

import pytest

from deploy import asyncapi


@pytest.mark.parametrize("service", asyncapi.SERVICES)
def test_asyncapi_document_is_current(service: str) -> None:
    assert (asyncapi.OUT / f"{service}.json").read_text(encoding="utf-8") == asyncapi.document(service)


def test_event_catalogue_is_current() -> None:
    assert (asyncapi.OUT / "events.json").read_text(encoding="utf-8") == asyncapi.event_catalogue()
