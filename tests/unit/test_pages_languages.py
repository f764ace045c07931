"""What the pages show of languages (services/registration/pages/web.py): the spoken languages of the form
sorted by their name in the page's language, capitalised, each with its own name (lang and dir for screen
readers); the language switch's short names; and where a refused form goes back to."""

from __future__ import annotations

import uuid

from starlette.requests import Request

from services.registration.pages import web
from shared import vocabulary


def test_the_spoken_languages_are_sorted_in_the_pages_language_with_their_own_names() -> None:
    for language in ("nb", "nn", "en"):
        items = web.spoken_languages(language)
        assert {i["id"] for i in items} == vocabulary.ids("languages")
        labels = [i["label"] for i in items]
        assert labels == sorted(labels, key=str.casefold) and all(label[:1].isupper() for label in labels)
    by_id = {i["id"]: i for i in web.spoken_languages("nb")}
    assert (by_id["ar"]["label"], by_id["ar"]["endonym"], by_id["ar"]["dir"]) == ("Arabisk", "العربية", "rtl")
    assert (by_id["uk"]["endonym"], by_id["uk"]["lang"], by_id["uk"]["dir"]) == ("українська", "uk", "ltr")
    assert by_id["en"]["endonym"] == "English" and by_id["nb"]["endonym"] == ""  # «Norsk (norsk)» says nothing
    assert by_id["prs"]["endonym"] == ""  # Babel has no Dari: the label alone, never Persian's name
    assert web.endonym("kmr") is not None and web.endonym("prs") is None
    assert {i["id"]: i for i in web.spoken_languages("en")}["en"]["endonym"] == ""


def test_norwegian_sorts_ae_oe_aa_after_z() -> None:
    words = ["Åpen", "Zulu", "Ørken", "Ærlig", "Arabisk"]
    assert sorted(words, key=lambda w: web._sort_key(w, "nb")) == ["Arabisk", "Zulu", "Ærlig", "Ørken", "Åpen"]


def test_the_switch_names_the_norwegian_standards_short() -> None:
    assert [web.autonym(code) for code in ("nb", "nn", "en")] == ["Bokmål", "Nynorsk", "English"]
    assert web.autonym("xx-unknown") == "xx-unknown"


def _post(path: str) -> Request:
    return Request({"type": "http", "method": "POST", "path": path, "headers": [], "query_string": b""})


def test_a_refused_manage_form_goes_back_to_its_page_saying_it_was_out_of_date() -> None:
    rid = uuid.uuid4()
    for action in ("cancel", "feedback", "contact"):
        back = web.back_after_refusal(_post(f"/manage/{rid}/{action}"), {"token": "t0k"})
        assert back.status_code == 303 and back.headers["location"] == f"/manage/{rid}?token=t0k&stale=1"
    erase = web.back_after_refusal(_post(f"/manage/{rid}/erase"), {"token": "t0k"})
    assert erase.headers["location"] == f"/manage/{rid}/erase?token=t0k&stale=1"
    confirm = web.back_after_refusal(_post(f"/confirm/{rid}"), {"token": "t0k"})
    assert confirm.headers["location"] == f"/confirm/{rid}?token=t0k&stale=1"
