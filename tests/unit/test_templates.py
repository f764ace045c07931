from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.notification import templates

CONTEXT = {
    "name": "Amina",
    **templates.meeting_context(
        "Kaffe og prat",
        datetime(2027, 3, 2, 9, 0, tzinfo=UTC),
        105,
        "Europe/Oslo",
        {"name": "Biblioteket", "address": "Torvet 6"},
    ),
}
KINDS = sorted(p.stem for p in (Path(templates.__file__).parent / "templates" / "nb").glob("*.txt"))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("language", templates.LANGUAGES)
def test_every_template_renders_in_every_language(kind: str, language: str) -> None:
    rendered = templates.render(kind, language, CONTEXT)
    assert rendered.language == language
    assert rendered.subject and "\n" not in rendered.subject
    assert "Amina" in rendered.body and "10:00" in rendered.body and "11:45" in rendered.body  # Oslo time


@pytest.mark.parametrize(
    ("preferred", "used"), [("nb", "nb"), ("nn", "nn"), ("en-GB", "en"), ("no", "nb"), ("ar", "nb"), ("ti", "nb")]
)
def test_language_falls_back_to_bokmal(preferred: str, used: str) -> None:
    assert templates.language_for(preferred) == used


def test_the_promise_of_the_method_is_stated() -> None:
    body = templates.render("registration_confirmed", "en", CONTEXT).body
    assert "daytime" in body and "105 minutes" in body and "no obligation to keep in touch" in body
