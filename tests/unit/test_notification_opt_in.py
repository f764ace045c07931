"""Double opt-in messages (confirm a sign-up, already signed up, confirm an erasure), their rules, and
text from data that tries to break out of its line: in a header, in a body, in an error text."""

from __future__ import annotations

import dataclasses
import email
import uuid
from datetime import UTC, datetime, timedelta
from email import policy

import pytest

from services.notification import domain, messages, preview, templates
from services.notification.failures import PermanentFailure
from services.notification.mailer import Mailer, recipient
from services.notification.settings import NotificationSettings

BCC_TITLE = "Kaffe\rBcc: x@example.org"
PHISHING_NAME = "Kari\n\nVIKTIG: Plassen din er ikke bekreftet. Bekreft med BankID her: https://evil.example/fmf"
CONFIRM_LINK = messages.confirm_url(preview.SAMPLE_BASE_URL, preview.SAMPLE_SIGNUP, preview.SAMPLE_CONFIRM_TOKEN)
ERASE_LINK = messages.erase_url(preview.SAMPLE_BASE_URL, preview.SAMPLE_ERASURE_REQUEST, preview.SAMPLE_CONFIRM_TOKEN)


def render(kind: str, language: str, channel: templates.Channel = "email", **changes: object) -> templates.Rendered:
    facts = dataclasses.replace(preview.sample(kind, language), **changes)  # type: ignore[arg-type]
    return messages.render(facts, channel, preview.SAMPLE_BASE_URL)


# --- the messages ------------------------------------------------------------------------------------------

SIGNUP_PHRASES = {  # subject, place decided on opening, expiry (local time), not you: ignore, nothing stored
    "nb": (
        "Bekreft påmeldingen: Kaffe og prat",
        "Plassen blir avgjort først når du åpner lenken",
        "Lenken virker til onsdag 24. februar 2027 kl. 18.30",
        "Var det ikke du som meldte deg på? Da kan du se bort fra denne meldingen.",
        "Ingenting blir lagret etter onsdag 24. februar 2027 kl. 18.30",
    ),
    "nn": (
        "Stadfest påmeldinga: Kaffe og prat",
        "Plassen blir avgjord først når du opnar lenkja",
        "Lenkja verkar til onsdag 24. februar 2027 kl. 18.30",
        "Var det ikkje du som melde deg på? Då kan du sjå bort frå denne meldinga.",
        "Ingenting blir lagra etter onsdag 24. februar 2027 kl. 18.30",
    ),
    "en": (
        "Confirm your sign-up: Kaffe og prat",
        "Your place is decided only when you open the link",
        "The link works until Wednesday 24 February 2027, 18:30",
        "If this was not you, ignore this message.",
        "Nothing is stored after Wednesday 24 February 2027, 18:30",
    ),
}


@pytest.mark.parametrize("language", templates.LANGUAGES)
def test_the_sign_up_confirmation_names_the_meeting_the_link_the_expiry_and_says_to_ignore_it(language: str) -> None:
    mail = render(domain.CONFIRM_SIGNUP, language)
    text = f"{mail.subject}\n{mail.body}"
    for phrase in SIGNUP_PHRASES[language]:
        assert phrase in text, (language, phrase)
    assert CONFIRM_LINK in mail.body.splitlines()  # the link on a line of its own
    norwegian = language != "en"
    span = "10.00–11.45" if norwegian else "10:00–11:45"
    assert span in mail.body and "Arendal bibliotek, Torvet 6" in mail.body  # Oslo time, the place
    assert "/manage/" not in mail.body

    sms = render(domain.CONFIRM_SIGNUP, language, "sms").body
    assert sms.endswith(CONFIRM_LINK)  # nothing after the link that a phone could take for part of it
    assert "Kaffe og prat" in sms and span[:5] in sms and "Arendal bibliotek" in sms and "24.02." in sms
    assert ("18.30" if norwegian else "18:30") in sms


def test_the_sign_up_confirmation_falls_back_to_bokmal_and_uses_the_meetings_time_zone() -> None:
    facts = dataclasses.replace(preview.sample(domain.CONFIRM_SIGNUP, "nb"), language="so")
    assert messages.render(facts, "email", "http://x").subject == "Bekreft påmeldingen: Kaffe og prat"
    assert facts.meeting is not None
    helsinki = dataclasses.replace(facts, meeting=dataclasses.replace(facts.meeting, timezone="Europe/Helsinki"))
    body = messages.render(helsinki, "email", "http://x").body
    assert "kl. 11.00–12.45" in body and "24. februar 2027 kl. 19.30" in body


@pytest.mark.parametrize("language", templates.LANGUAGES)
def test_the_erasure_confirmation_carries_its_link_and_says_what_confirming_does(language: str) -> None:
    mail = render(domain.CONFIRM_ERASURE, language)
    assert ERASE_LINK in mail.body.splitlines()
    says = {
        "nb": ("slette", "plassene dine på møter blir meldt av", "onsdag 24. februar 2027 kl. 18.30"),
        "nn": ("slette", "plassane dine på møte blir melde av", "onsdag 24. februar 2027 kl. 18.30"),
        "en": ("erase", "your places at meetings are cancelled", "Wednesday 24 February 2027, 18:30"),
    }[language]
    for phrase in says:
        assert phrase in mail.body, (language, phrase)
    sms = render(domain.CONFIRM_ERASURE, language, "sms").body
    assert sms.endswith(ERASE_LINK) and "24.02." in sms


@pytest.mark.parametrize("language", templates.LANGUAGES)
def test_already_signed_up_gives_the_existing_manage_link(language: str) -> None:
    link = messages.manage_url(preview.SAMPLE_BASE_URL, preview.SAMPLE_REGISTRATION, preview.SAMPLE_TOKEN)
    mail = render(domain.ALREADY_SIGNED_UP, language)
    assert link in mail.body and "Kaffe og prat" in mail.subject
    assert link in render(domain.ALREADY_SIGNED_UP, language, "sms").body
    without = render(domain.ALREADY_SIGNED_UP, language, manage_token=None)
    assert (
        "/manage/" not in without.body
        and {"nb": "arrangøren", "nn": "arrangøren", "en": "organiser"}[language] in without.body
    )


# --- the rules ---------------------------------------------------------------------------------------------

NOON = datetime(2027, 2, 20, 11, 0, tzinfo=UTC)
NIGHT = datetime(2027, 2, 20, 23, 0, tzinfo=UTC)  # midnight in Oslo


def situation(kind: str, **changes: object) -> domain.Situation:
    base = domain.Situation(
        kind=kind,
        recipient=domain.Recipient(email=None, phone="+4791234567"),
        meeting_starts_at=NOON + timedelta(days=10),
        meeting_status="published",
        registration_status=None,
        timezone="Europe/Oslo",
        sms_enabled=True,
        link_expires_at=NOON + timedelta(days=2),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", [domain.CONFIRM_SIGNUP, domain.CONFIRM_ERASURE])
def test_a_confirmation_link_is_not_sent_once_its_request_closed_or_expired(kind: str) -> None:
    assert domain.decide(situation(kind), NOON) == domain.Send("sms", "+4791234567")
    assert isinstance(domain.decide(situation(kind, request_closed=True), NOON), domain.Skip)
    assert isinstance(domain.decide(situation(kind), NOON + timedelta(days=3)), domain.Skip)


def test_answers_the_reader_waits_for_go_at_night_too_but_not_other_sms() -> None:
    for kind in (domain.CONFIRM_SIGNUP, domain.CONFIRM_ERASURE, domain.ALREADY_SIGNED_UP):
        assert isinstance(domain.decide(situation(kind, registration_status="confirmed"), NIGHT), domain.Send)
    assert isinstance(domain.decide(situation(domain.REGISTRATION_CONFIRMED), NIGHT), domain.Defer)


def test_already_signed_up_is_skipped_once_the_place_is_gone_or_the_meeting_cancelled() -> None:
    kind = domain.ALREADY_SIGNED_UP
    assert isinstance(domain.decide(situation(kind, registration_status="waitlisted"), NOON), domain.Send)
    assert isinstance(domain.decide(situation(kind, registration_status="cancelled"), NOON), domain.Skip)
    assert isinstance(domain.decide(situation(kind, meeting_status="cancelled"), NOON), domain.Skip)
    assert isinstance(domain.decide(situation(domain.CONFIRM_SIGNUP, meeting_status="cancelled"), NOON), domain.Skip)


# --- text from data that tries to leave its line -------------------------------------------------------------


def test_single_line_collapses_control_characters_and_line_breaks() -> None:
    assert domain.single_line(BCC_TITLE) == "Kaffe Bcc: x@example.org"
    assert domain.single_line("a\r\n\tb\x00c\x1b[31md\u2028e\u202ef\x85g") == "a b c [31md e f g"
    assert domain.single_line("Åse Ødegård-Ås") == "Åse Ødegård-Ås"


def test_a_title_with_a_carriage_return_cannot_add_a_header() -> None:
    facts = dataclasses.replace(
        preview.sample(domain.REGISTRATION_CONFIRMED, "nb"),
        meeting=dataclasses.replace(preview.SAMPLE_MEETING, title=BCC_TITLE),
    )
    rendered = messages.render(facts, "email", preview.SAMPLE_BASE_URL)
    msg = Mailer(NotificationSettings()).message("kari@example.no", rendered.subject, rendered.body, str(uuid.uuid4()))
    wire = msg.as_bytes()
    parsed = email.message_from_bytes(wire, policy=policy.default)
    assert parsed["Subject"] == "Du er påmeldt: Kaffe Bcc: x@example.org"
    assert parsed["Bcc"] is None and parsed.get_all("To") == ["kari@example.no"]
    assert b"\nBcc:" not in wire and b"\rBcc:" not in wire
    assert "Møte: Kaffe Bcc: x@example.org" in rendered.body.splitlines()


@pytest.mark.parametrize("kind", [domain.REGISTRATION_CONFIRMED, domain.CONFIRM_SIGNUP, domain.ALREADY_SIGNED_UP])
@pytest.mark.parametrize("channel", ["email", "sms"])
def test_a_name_with_line_breaks_stays_on_the_greeting_line(kind: str, channel: templates.Channel) -> None:
    rendered = render(kind, "nb", channel, name=PHISHING_NAME)
    lines = rendered.body.splitlines()
    [greeting] = [line for line in lines if "VIKTIG" in line]
    assert greeting.startswith("Hei Kari VIKTIG: Plassen din er ikke bekreftet.")
    assert not any(line.startswith(("VIKTIG", "https://evil")) for line in lines)
    if channel == "email":
        msg = Mailer(NotificationSettings()).message(
            "kari@example.no", rendered.subject, rendered.body, str(uuid.uuid4())
        )
        body = email.message_from_bytes(msg.as_bytes(), policy=policy.default).get_content()
        assert not any(line.startswith("VIKTIG") for line in body.splitlines())


def test_every_field_from_data_is_single_line_in_every_message() -> None:
    dirty = dataclasses.replace(
        preview.SAMPLE_MEETING,
        title="Kaffe\n\nXQ og prat",
        venue={"name": "Bibliotek\r\nXQ-Bcc: y", "address": "Torvet\x00XQ 6", "kind": "library"},
    )
    for kind in domain.KINDS:
        for channel in preview.channels(kind):
            facts = preview.sample(kind, "nb")
            facts = dataclasses.replace(
                facts, name="A\nXQ B", meeting=dirty if facts.meeting else None, details={**facts.details}
            )
            rendered = messages.render(facts, channel, preview.SAMPLE_BASE_URL)
            text = f"{rendered.subject}\n{rendered.body}"
            assert "\x00" not in text and "\r" not in text, kind
            assert not any(line.startswith("XQ") for line in text.splitlines()), (kind, text)


@pytest.mark.parametrize(
    "address",
    ["a@x.org, b@example.org", "a@x.org\r\nBcc: b@example.org", "Kari <a@x.org>", "a@x.org\x00", "", "no-at-sign"],
)
def test_an_address_that_is_not_exactly_one_mailbox_is_a_permanent_failure_that_does_not_quote_it(
    address: str,
) -> None:
    with pytest.raises(PermanentFailure) as failure:
        recipient(address)
    assert str(failure.value) == "the e-mail address cannot be used"


def test_error_texts_lose_addresses_names_tokens_and_line_breaks() -> None:
    token = preview.SAMPLE_CONFIRM_TOKEN
    echoed = f"SMS gateway 400: {{'text': 'Hei Kari Nordmann! ...token={token}', 'to': '+4791234567'}}\r\nx"
    redacted = domain.redact(echoed, "kari@example.no", "+4791234567", "Kari Nordmann", token)
    assert "Kari" not in redacted and token not in redacted and "+47" not in redacted
    assert "\n" not in redacted and "\r" not in redacted
