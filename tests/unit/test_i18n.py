"""The pages' languages (shared/i18n.py): every text of the templates and the page code is translated in nb,
nn and en (no English on a Norwegian page), the language is chosen by switch, cookie and Accept-Language,
and every page renders right-to-left with a pseudo-locale made here from the nb catalogue."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po
from starlette.requests import Request

from services.registration.pages import web
from services.registration.views import (
    MeetingPage,
    MeetingView,
    OwnPlace,
    Partner,
    PlaceView,
    PublicMeeting,
    TenantView,
)
from shared import i18n
from shared.events import RegistrationStatus

ROOT = Path(__file__).resolve().parents[2]
# Texts that are the same in Norwegian and English on purpose: the product's name, the direction, the
# names of the two written Norwegian standards, and words Norwegian shares with English.
SAME_IN_NB = {"Folk møter folk", "ltr", "bokmål", "nynorsk", "Status", "Format", "Standard"}


def used_msgids() -> set[str | tuple[str, str]]:
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: set[str | tuple[str, str]] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map, keywords={"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    ):
        found.add(message if isinstance(message, str) else (message[0], message[1]))
    return found


def catalogue(language: str) -> Catalog:
    with (i18n.LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=language)


def test_every_text_of_the_pages_is_translated_in_nb_nn_and_en() -> None:
    used = used_msgids()
    assert len(used) > 100 and "Sign me up" in used
    for language in ("nb", "nn", "en"):
        translated = catalogue(language)
        for msgid in [*used, "ltr"]:
            key = msgid if isinstance(msgid, str) else msgid[0]
            message = translated.get(key)
            assert message is not None, f"{language}: {msgid!r} is not in the catalogue"
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            assert all(strings), f"{language}: {msgid!r} is not translated"
            if language in ("nb", "nn") and key not in SAME_IN_NB:
                assert strings[0] != key, f"{language}: {msgid!r} is left in English"


def test_the_languages_are_the_folders_present_each_with_its_direction() -> None:
    assert set(i18n.catalogues().languages) >= {"nb", "nn", "en"} and i18n.catalogues().languages[0] == "nb"
    assert {i18n.direction(code) for code in ("nb", "nn", "en")} == {"ltr"}
    assert i18n.translations("nn").gettext("Sign me up") == "Meld meg på"
    assert i18n.translations("xx").gettext("Sign me up") == "Meld meg på"  # no catalogue: nb
    assert i18n.translations("nb").ngettext("%(num)s place left", "%(num)s places left", 3) % {"num": 3} == (
        "3 plasser igjen"
    )


@pytest.mark.parametrize(
    ("switch", "cookie", "header", "chosen"),
    [
        ("en", "nn", "nb", "en"),
        (None, "nn", "en", "nn"),
        (None, None, "nn-NO,nn;q=0.9,en;q=0.5", "nn"),
        (None, None, "de-DE,en;q=0.7,nb;q=0.3", "en"),
        (None, None, "en;q=0.2,nb-NO;q=0.9", "nb"),
        (None, None, "no", "nb"),
        (None, None, "fr, de", "nb"),
        (None, None, None, "nb"),
        ("de", "xx", "en;q=0", "nb"),
    ],
)
def test_the_language_follows_the_switch_then_the_cookie_then_accept_language(
    switch: str | None, cookie: str | None, header: str | None, chosen: str
) -> None:
    assert i18n.choose(switch, cookie, header, ("nb", "en", "nn")) == chosen


# --- every page, right to left -------------------------------------------------------------------------


@pytest.fixture
def pseudo_rtl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The catalogues with one more language, "ar": nb's texts wrapped in ⟪…⟫, written right to left."""
    for language in ("nb", "nn", "en"):
        target = tmp_path / language / "LC_MESSAGES"
        target.mkdir(parents=True)
        (target / "messages.po").write_bytes((i18n.LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").read_bytes())
    pseudo = Catalog(locale="ar", domain="messages")
    # nb's plural forms, which the texts are copied from
    pseudo._num_plurals = 2  # type: ignore[assignment]
    pseudo._plural_expr = "(n != 1)"  # type: ignore[assignment]
    for message in catalogue("nb"):
        if not message.id:
            continue
        if message.id == "ltr":
            pseudo.add("ltr", "rtl")
        elif isinstance(message.string, tuple):
            pseudo.add(message.id, tuple(f"⟪{s}⟫" for s in message.string))
        else:
            pseudo.add(message.id, f"⟪{message.string}⟫")
    (tmp_path / "ar" / "LC_MESSAGES").mkdir(parents=True)
    with (tmp_path / "ar" / "LC_MESSAGES" / "messages.po").open("wb") as po:
        write_po(po, pseudo)
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    yield "ar"


def request(language: str) -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/page",
            "query_string": b"",
            "headers": [(b"cookie", f"fmf_lang={language}".encode())],
            "scheme": "http",
            "server": ("test", 80),
        }
    )


def page(language: str, template: str, context: dict[str, Any]) -> str:
    """The page ``template`` as ``web.render`` makes it for a browser that chose ``language``."""
    return bytes(web.render(request(language), template, **context).body).decode()


def contexts() -> dict[str, dict[str, Any]]:
    """Every page template with a context like the one its route gives."""
    starts = datetime(2027, 3, 2, 9, 0, tzinfo=UTC)
    row: dict[str, Any] = {
        "id": uuid.uuid4(),
        "tenant_id": uuid.uuid4(),
        "title": "Kaffe og prat",
        "format": "standard",
        "status": "published",
        "starts_at": starts,
        "ends_at": starts + timedelta(minutes=105),
        "duration_minutes": 105,
        "timezone": "Europe/Oslo",
        "registration_closes_at": None,
        "venue": {"name": "Biblioteket", "address": "Torvet 6", "kind": "library"},
        "capacity_newcomer": 10,
        "capacity_resident": 10,
        "invitation_code": "K7QX-M2PD-4HTW",
    }
    meeting = MeetingView.of(row, {"confirmed:newcomer": 10, "waitlisted:newcomer": 2, "confirmed:resident": 7})
    tenant = TenantView(
        row["tenant_id"], "arendal", "Arendal kommune", "4203", "Europe/Oslo", "active",
        datetime(2027, 1, 1, 8).time(), datetime(2027, 1, 1, 16).time(), 90, "post@arendal.no", "+4737013000",
    )  # fmt: skip
    public = PublicMeeting.of(meeting, True)
    page = MeetingPage(tenant, public, "K7QX-M2PD-4HTW")
    place = PlaceView(
        uuid.uuid4(), uuid.uuid4(), meeting.id, "resident", RegistrationStatus.WAITLISTED, 3, meeting, False,
        frozenset({"cancel", "feedback", "contact", "erase"}),
    )  # fmt: skip
    own = OwnPlace(place, tenant, Partner(2, 3, ("Amina",)))
    form = {
        "page": page, "tenant": tenant, "meeting": meeting, "newcomer": True, "interests": ["music"],
        "occupations": ["education"], "spoken": ["ar"], "age_bands": ["35-44"], "genders": ["female"],
        "levels": ["A1", "A2"], "message_languages": ["nb", "nn", "en"], "values": {"name": "Amina"}, "lists": {},
        "errors": {"email": "Write an e-mail address like navn@eksempel.no."},
    }  # fmt: skip
    mine = {"tenant": tenant, "own": own, "place": place, "meeting": meeting, "token": "t" * 20}
    return {
        "tenant.html": {"tenant": tenant, "meetings": [public]},
        "meeting.html": form,
        "check_inbox.html": {"tenant": tenant, "meeting": meeting, "by_sms": False},
        "invitation.html": {
            "tenant": tenant,
            "meeting": meeting,
            "link": "http://x/",
            "qr": "<svg></svg>",
            "code": "K",
        },
        "confirm.html": {"meeting": meeting, "signup_id": uuid.uuid4(), "token": "t" * 20},
        "confirmed.html": mine,
        "manage.html": {**mine, "done": "feedback", "errors": {"rating": "rating"}},
        "erase_ask.html": mine,
        "cancel_ask.html": mine,
        "erase_sent.html": {"tenant": tenant},
        "erase_confirm.html": {"request_id": uuid.uuid4(), "token": "t" * 20},
        "erased.html": {},
        "link_problem.html": {"problem": "closed"},
        "not_found.html": {},
        "unavailable.html": {"retry_after": 5},
        "csrf_refused.html": {},
    }


def test_every_page_renders_right_to_left_in_a_pseudo_locale(pseudo_rtl: str) -> None:
    pages = contexts()
    templates = {p.name for p in web.TEMPLATES.glob("*.html")} - {"base.html", "seating.html"}
    assert {t for t in templates if not t.startswith("_")} == set(pages), "a page template without a test"
    for template, context in pages.items():
        html = page(pseudo_rtl, template, context)
        assert f'<html lang="{pseudo_rtl}" dir="rtl">' in html, template
        heading = html.split("<h1", 1)[1].split("</h1>", 1)[0]
        assert "⟪" in heading or "Kaffe og prat" in heading, (template, heading)
        assert "⟪Gå til innholdet⟫" in html and 'id="lang-ar"' in html
        assert "Skip to the content" not in html
    manage = page(pseudo_rtl, "manage.html", pages["manage.html"])
    assert "⟪Du står på venteliste som nr. 3.⟫" in manage and "Amina" in manage
    tenant = page(pseudo_rtl, "tenant.html", pages["tenant.html"])
    assert "⟪3 plasser igjen⟫" in tenant and "⟪venteliste⟫" in tenant


def test_every_console_page_has_the_console_layout() -> None:
    """The console's pages take the language, direction, switch and navigation from one layout."""
    folder = web.TEMPLATES / "console"
    pages = [p for p in folder.glob("*.html") if p.name not in ("base.html", "meeting_macros.html")]
    assert len(pages) > 20
    for template in pages:
        assert template.read_text().startswith('{% extends "console/base.html" %}'), template.name
    base = (folder / "base.html").read_text()
    assert '<html lang="{{ lang }}" dir="{{ dir }}">' in base


@pytest.mark.parametrize(
    "stylesheet",
    [
        "services/registration/static/pages.css",
        *(str(p.relative_to(ROOT)) for p in sorted((ROOT / "services/registration/static").glob("console*.css"))),
        "services/reporting/static/report.css",
    ],
)
def test_the_stylesheets_use_logical_properties_only(stylesheet: str) -> None:
    css = (ROOT / stylesheet).read_text()
    for physical in (
        "margin-left",
        "margin-right",
        "padding-left",
        "padding-right",
        "text-align: left",
        "float: left",
        "float: right",
        "text-align: right",
    ):
        assert physical not in css, (stylesheet, physical)
