"""The sign-up form read into the API's SignUpIn (services/registration/pages/signup_form.py), and the CSRF
token of the pages' forms (services/registration/pages/csrf.py)."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from services.registration.pages import csrf, signup_form


def posted(**fields: str | list[str]) -> dict[str, list[str]]:
    return {name: value if isinstance(value, list) else [value] for name, value in fields.items()}


def test_a_residents_form_becomes_the_apis_sign_up() -> None:
    form = signup_form.read(
        posted(
            name=" Kari ", email="KARI@Example.no", consent="yes", interests=["music", "cooking"], same_gender="yes",
            first_time="yes", age_band="35-44", language="nn",
        ),
        None,
        "nb",
    )  # fmt: skip
    assert form.errors == {} and form.body is not None
    body = form.body
    assert (body.group, body.name, body.email, body.language) == ("resident", "Kari", "kari@example.no", "nn")
    assert body.interests == ["music", "cooking"] and body.same_gender_partner and body.first_time
    assert body.norwegian_level is None and body.invitation_code is None


def test_a_newcomers_form_carries_the_code_and_the_level() -> None:
    form = signup_form.read(
        posted(name="Amina", phone="912 34 567", consent="yes", norwegian_level="A2"), "K7QX-M2PD-4HTW", "en"
    )
    assert form.body is not None and form.body.group == "newcomer"
    assert form.body.invitation_code == "K7QX-M2PD-4HTW" and form.body.norwegian_level == "A2"
    assert form.body.phone == "+4791234567" and form.body.language == "en"


M = signup_form.MESSAGES
OK = {"name": "Kari", "email": "a@b.no", "consent": "yes"}


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"name": "Kari", "consent": "yes"}, {"email": M["contact"]}),
        ({**OK, "name": ""}, {"name": M["name"]}),
        ({"name": "Kari", "email": "nope"}, {"email": M["email"], "consent": M["consent"]}),
        ({"name": "Kari", "phone": "12", "consent": "yes"}, {"phone": M["phone"]}),
        ({**OK, "interests": "stamps"}, {"interests": M["choose"]}),
        ({**OK, "gender": "x"}, {"gender": M["choose"]}),
        ({**OK, "age_band": "7-9"}, {"age_band": M["choose"]}),
    ],
)
def test_each_refusal_is_told_beside_its_field_and_the_input_is_kept(
    fields: dict[str, str], errors: dict[str, str]
) -> None:
    form = signup_form.read(posted(**fields), None, "nb")
    assert form.body is None and form.errors == errors
    assert form.values["name"] == fields["name"]


def request(cookie: str | None = None) -> Request:
    headers = [(b"cookie", f"{csrf.COOKIE}={cookie}".encode())] if cookie else []
    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers, "query_string": b""})


def test_a_form_token_is_accepted_only_with_its_own_cookie() -> None:
    fresh = request()
    token = csrf.form_token(fresh)
    nonce = fresh.state.csrf_new_nonce
    csrf.check(request(nonce), {"csrf_token": token})
    for cookie, given in ((nonce, "forged"), (nonce, ""), (None, token), ("another-nonce", token)):
        with pytest.raises(csrf.CsrfRefused):
            csrf.check(request(cookie), {"csrf_token": given})
    # A browser that has the cookie keeps its nonce; the token is the same on every page.
    assert csrf.form_token(request(nonce)) == token


def test_every_missing_answer_is_told_in_one_round_in_the_order_of_the_page() -> None:
    form = signup_form.read(posted(name="Kari"), None, "nb")
    assert form.body is None and list(form.errors.items()) == [("email", M["contact"]), ("consent", M["consent"])]
    newcomer = signup_form.read(posted(name="", phone="12"), "K7QX-M2PD-4HTW", "nb")
    assert list(newcomer.errors) == ["name", "phone", "norwegian_level", "consent"]
    assert newcomer.errors["phone"] == M["phone"] and newcomer.errors["norwegian_level"] == M["norwegian_level"]
    assert signup_form.missing({"email": "", "phone": "912 34 567", "norwegian_level": ""}, True, "resident") == {}
