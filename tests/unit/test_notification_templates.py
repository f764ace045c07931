"""Every message in every language and channel: it renders, says what it must, and an SMS stays short."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from services.notification import domain, gsm7, messages, preview, templates
from shared import i18n

INVITATIONS_AND_REMINDERS = [
    domain.REGISTRATION_CONFIRMED,
    domain.REGISTRATION_WAITLISTED,
    domain.REGISTRATION_PROMOTED,
    domain.MEETING_CHANGED,
    domain.PAIRS_PUBLISHED,
    domain.SEAT_CHANGED,
    domain.REMINDER_24H,
    domain.REMINDER_2H,
]
# (daytime, the length, no obligation to keep in touch) as each language and channel words them
PROMISE = {
    ("nb", "email"): ("på dagtid", "1 time og 45 minutter", "ingen plikt til å holde kontakt etterpå"),
    ("nn", "email"): ("på dagtid", "1 time og 45 minutt", "inga plikt til å halde kontakt etterpå"),
    ("en", "email"): ("in the daytime", "1 hour and 45 minutes", "no obligation to keep in touch afterwards"),
    ("nb", "sms"): ("Dagtid", "1 t 45 min", "Ingen plikt til kontakt etterpå"),
    ("nn", "sms"): ("Dagtid", "1 t 45 min", "Inga plikt til kontakt etterpå"),
    ("en", "sms"): ("Daytime", "1 h 45 min", "No need to keep in touch after"),
}
ALL = [
    (language, kind, channel)
    for language in templates.LANGUAGES
    for kind in domain.KINDS
    for channel in preview.channels(kind)
]
LINK = messages.manage_url(preview.SAMPLE_BASE_URL, preview.SAMPLE_REGISTRATION, preview.SAMPLE_TOKEN)


def text(kind: str, language: str, channel: templates.Channel = "email", *, with_link: bool = True) -> str:
    rendered = messages.render(preview.sample(kind, language, with_link=with_link), channel, preview.SAMPLE_BASE_URL)
    assert rendered.language == language
    return f"{rendered.subject}\n{rendered.body}"


def test_every_kind_has_an_e_mail_or_is_sms_only_and_every_kind_has_an_sms() -> None:
    for kind in domain.KINDS:
        assert preview.channels(kind) == (["sms"] if kind in domain.SMS_ONLY else ["email", "sms"]), kind
        for language in templates.LANGUAGES:
            for channel in preview.channels(kind):
                assert templates.has_template(kind, channel, language), (language, kind, channel)


@pytest.mark.parametrize(("language", "kind", "channel"), ALL)
def test_every_message_renders_with_a_greeting_and_a_one_line_subject(language: str, kind: str, channel: str) -> None:
    rendered = messages.render(preview.sample(kind, language), channel, preview.SAMPLE_BASE_URL)  # type: ignore[arg-type]
    assert "Amina" in rendered.body
    assert "{{" not in rendered.body and "{%" not in rendered.body
    if channel == "email":
        assert rendered.subject and "\n" not in rendered.subject
        assert "\n\n\n" not in rendered.body
    else:
        assert rendered.subject == "" and "\n" not in rendered.body


# SMS texts that stay short: the seat (its e-mail carries the rest), the waiting list, a change.
SMS_WITHOUT_PROMISE = {
    domain.PAIRS_PUBLISHED,
    domain.SEAT_CHANGED,
    domain.REGISTRATION_WAITLISTED,
    domain.MEETING_CHANGED,
}
SMS_WITHOUT_LINK = {domain.PAIRS_PUBLISHED, domain.SEAT_CHANGED}


@pytest.mark.parametrize("kind", INVITATIONS_AND_REMINDERS)
@pytest.mark.parametrize("language", templates.LANGUAGES)
def test_invitations_and_reminders_state_the_promise_and_how_to_cancel(kind: str, language: str) -> None:
    for channel in preview.channels(kind):
        body = text(kind, language, channel)
        if channel == "email" or kind not in SMS_WITHOUT_PROMISE:
            for phrase in PROMISE[(language, channel)]:
                assert phrase in body, (language, kind, channel, phrase)
        if channel == "email" or kind not in SMS_WITHOUT_LINK:
            assert LINK in body, (language, kind, channel)


@pytest.mark.parametrize("language", templates.LANGUAGES)
def test_the_length_follows_the_meetings_format(language: str) -> None:
    facts = preview.sample(domain.REGISTRATION_CONFIRMED, language)
    assert facts.meeting is not None
    long_meeting = dataclasses.replace(facts, meeting=dataclasses.replace(facts.meeting, duration_minutes=150))
    body = messages.render(long_meeting, "email", "http://x").body
    expected = {"nb": "2 timer og 30 minutter", "nn": "2 timar og 30 minutt", "en": "2 hours and 30 minutes"}
    assert expected[language] in body and {"nb": "12.30", "nn": "12.30", "en": "12:30"}[language] in body


def test_meeting_details_are_in_the_readers_language_and_tenant_time() -> None:
    nb, nn, en = (text(domain.REMINDER_24H, lang) for lang in ("nb", "nn", "en"))
    assert "tirsdag 2. mars 2027 kl. 10.00–11.45" in nb and "Hvor: Arendal bibliotek, Torvet 6" in nb
    assert "tysdag 2. mars 2027 kl. 10.00–11.45" in nn and "Kvar: Arendal bibliotek" in nn
    assert "Tuesday 2 March 2027, 10:00–11:45" in en and "Where: Arendal bibliotek" in en
    assert text(domain.REMINDER_24H, "nb").startswith("Påminnelse: Kaffe og prat tirsdag 2. mars\n")


def test_an_unknown_language_falls_back_to_bokmal_for_subject_body_and_sms() -> None:
    arabic = dataclasses.replace(preview.sample(domain.REGISTRATION_CONFIRMED, "nb"), language="ar")
    rendered = messages.render(arabic, "email", "http://x")
    assert rendered.language == "nb" and rendered.subject == "Du er påmeldt: Kaffe og prat"
    sms = messages.render(dataclasses.replace(arabic, kind=domain.REMINDER_2H), "sms", "http://x")
    assert sms.language == "nb" and sms.body.startswith("Hei Amina! I dag kl. 10.00-11.45")


@pytest.mark.parametrize("language", templates.LANGUAGES)
def test_the_seat_message_names_seat_and_interests_never_the_partner(language: str) -> None:
    body = text(domain.PAIRS_PUBLISHED, language)
    seat = {"nb": "sitter du på plass 7", "nn": "sit du på plass 7", "en": "you sit at seat 7"}[language]
    host = {
        "nb": "Verten vil presentere deg for samtalepartneren din",
        "nn": "Verten vil presentere deg for samtalepartnaren din",
        "en": "The host will introduce you to your conversation partner",
    }[language]
    interests = {"nb": "Fotball, Matlaging", "nn": "Fotball, Matlaging", "en": "Football, Cooking"}[language]
    assert seat in body and host in body and interests in body
    ours = preview.SAMPLE_TENANT  # the municipality's own contact is in every message; the partner's never
    partner_free = body.replace(ours.contact_email or "", "").replace(ours.contact_phone or "", "")
    assert "@" not in partner_free and "+47" not in partner_free
    changed = text(domain.SEAT_CHANGED, language)
    assert "12" in changed and {"nb": "Musikk", "nn": "Musikk", "en": "Music"}[language] in changed


TWO_PEOPLE = {"nb": "du snakker med to personer", "nn": "du snakkar med to personar", "en": "you talk with two people"}
ONE_PERSON = {"nb": "snakker med én person", "nn": "snakkar med éin person", "en": "talk with one person"}


@pytest.mark.parametrize("channel", ["email", "sms"])
@pytest.mark.parametrize("kind", [domain.PAIRS_PUBLISHED, domain.SEAT_CHANGED, domain.REMINDER_24H])
@pytest.mark.parametrize("language", templates.LANGUAGES)
def test_a_trio_member_is_told_they_talk_with_two_people_never_with_one(
    language: str, kind: str, channel: templates.Channel
) -> None:
    """Issue 17, kind 2: someone moved into a trio read "you talk with one person"."""
    if channel not in preview.channels(kind):
        pytest.skip(f"{kind} has no {channel}")
    facts = preview.sample(kind, language)
    trio = dataclasses.replace(facts, details={**facts.details, "partners": 2})
    body = messages.render(trio, channel, preview.SAMPLE_BASE_URL).body
    if (kind, channel) != (domain.REMINDER_24H, "sms"):  # the reminder SMS says nothing about partners
        assert TWO_PEOPLE[language] in body.casefold(), body
    assert ONE_PERSON[language] not in body and "partner din" not in body and "partner." not in body
    pair = dataclasses.replace(facts, details={**facts.details, "partners": 1})
    body = messages.render(pair, channel, preview.SAMPLE_BASE_URL).body
    assert TWO_PEOPLE[language] not in body.casefold()


@pytest.mark.parametrize("language", templates.LANGUAGES)
def test_without_a_manage_link_messages_say_to_tell_the_organiser(language: str) -> None:
    body = text(domain.REGISTRATION_CONFIRMED, language, with_link=False)
    assert "/manage/" not in body
    assert {"nb": "arrangøren", "nn": "arrangøren", "en": "organiser"}[language] in body


@pytest.mark.parametrize(
    ("changes", "nb"),
    [(["time"], "Møtet har fått ny tid."), (["place"], "Møtet har fått nytt sted."), (["time", "place"], "ny tid og")],
)
def test_a_changed_meeting_says_what_changed(changes: list[str], nb: str) -> None:
    facts = dataclasses.replace(preview.sample(domain.MEETING_CHANGED, "nb"), details={"changes": changes})
    assert nb in messages.render(facts, "email", "http://x").body


@pytest.mark.parametrize("kind", [k for k in domain.KINDS if k not in domain.SMS_ONLY])
@pytest.mark.parametrize("language", templates.LANGUAGES)
def test_every_e_mail_names_the_municipality_and_its_contact(language: str, kind: str) -> None:
    """Issue 17, kind 7: no mail named the municipality, and "Kontakt arrangøren" gave no contact."""
    body = text(kind, language)
    assert "Arendal kommune" in body
    assert "folkmoterfolk@arendal.kommune.no" in body and "+4737013000" in body
    unknown = dataclasses.replace(preview.sample(kind, language), tenant=messages.TenantView())  # not learnt yet
    plain = messages.render(unknown, "email", preview.SAMPLE_BASE_URL).body
    assert "None" not in plain and "()" not in plain and "Folk møter folk" in plain


@pytest.mark.parametrize("kind", ["registration_cancelled", "meeting_cancelled"])
@pytest.mark.parametrize("language", templates.LANGUAGES)
def test_the_cancellation_sms_names_the_municipality_and_a_contact(language: str, kind: str) -> None:
    body = text(kind, language, "sms")
    assert "Arendal kommune" in body and "+4737013000" in body


@pytest.mark.parametrize("channel", ["email", "sms"])
@pytest.mark.parametrize("language", templates.LANGUAGES)
def test_the_waitlisted_message_says_the_place_on_the_waiting_list(language: str, channel: templates.Channel) -> None:
    """Issue 17, kind 8: the waiting-list position was not visible anywhere."""
    facts = preview.sample(domain.REGISTRATION_WAITLISTED, language)
    body = messages.render(facts, channel, preview.SAMPLE_BASE_URL).body
    expected = {
        ("nb", "email"): "Du står på venteliste som nr. 3.",
        ("nn", "email"): "Du står på venteliste som nr. 3.",
        ("en", "email"): "You are on the waiting list as number 3.",
        ("nb", "sms"): "venteliste som nr. 3.",
        ("nn", "sms"): "venteliste som nr. 3.",
        ("en", "sms"): "waiting list as number 3.",
    }[(language, channel)]
    assert expected in body
    unknown = dataclasses.replace(facts, details={})  # an event from before the field existed
    assert expected not in messages.render(unknown, channel, preview.SAMPLE_BASE_URL).body


@pytest.mark.parametrize("channel", ["email", "sms"])
@pytest.mark.parametrize("language", templates.LANGUAGES)
def test_a_changed_meeting_says_from_what_to_what(language: str, channel: templates.Channel) -> None:
    """Issue 17, kind 7: "Endring i møtet" gave the new time and place only; the reader had to guess the old."""
    facts = preview.sample(domain.MEETING_CHANGED, language, with_link=False)
    body = messages.render(facts, channel, preview.SAMPLE_BASE_URL).body
    separator = ":" if language == "en" else "."
    assert f"10{separator}00" in body and "Frivilligsentralen" in body  # before: 1 March, at the volunteer centre
    assert f"11{separator}45" in body and "Arendal bibliotek" in body  # now
    if channel == "email":
        assert {"nb": "mandag 1. mars 2027", "nn": "måndag 1. mars 2027", "en": "Monday 1 March 2027"}[language] in body
        assert {"nb": "fra", "nn": "frå", "en": "from"}[language] in body
    only_time = dataclasses.replace(facts, details={**facts.details, "changes": ["time"]})
    assert "Frivilligsentralen" not in messages.render(only_time, channel, preview.SAMPLE_BASE_URL).body


@pytest.mark.parametrize("language", templates.LANGUAGES)
@pytest.mark.parametrize("kind", domain.KINDS)
def test_an_sms_is_gsm7_and_fits_one_sms_without_the_link_and_two_with_it(kind: str, language: str) -> None:
    short = messages.render(preview.sample(kind, language, with_link=False), "sms", preview.SAMPLE_BASE_URL).body
    assert gsm7.outside(short) == ""
    linked = messages.render(preview.sample(kind, language), "sms", preview.SAMPLE_BASE_URL).body
    if kind == domain.CONFIRM_SIGNUP:
        # Meeting, link, expiry, "the place is decided when you open it" and "not you? ignore it" all
        # have to be said: two parts without the link, three with it.
        assert gsm7.parts(short) <= 2 and gsm7.parts(linked) <= 3, linked
        return
    assert gsm7.length(short) is not None and gsm7.length(short) <= 160, short  # type: ignore[operator]
    # The confirmation of a place and the day-before reminder carry a second link, to the calendar file.
    assert gsm7.parts(linked) <= (3 if kind in domain.WITH_CALENDAR_LINK else 2), linked


def test_gsm7_counting() -> None:
    assert gsm7.length("Hei på deg, Åse! Ærlig talt: ØL") == 31
    assert gsm7.length("€5 {x}") == 9  # € { } count twice
    assert gsm7.length("«Kaffe»") is None and gsm7.outside("«Kaffe» – ok") == "«»–"
    assert gsm7.parts("a" * 160) == 1 and gsm7.parts("a" * 161) == 2 and gsm7.parts("a" * 307) == 3


def test_the_preview_command_writes_every_message_in_every_language(tmp_path: Path) -> None:
    assert preview.main(["--out", str(tmp_path)]) == 0
    for language, kind, channel in ALL:
        written = (tmp_path / language / f"{kind}.{channel}.txt").read_text(encoding="utf-8")
        assert "Amina" in written
    index = (tmp_path / "index.txt").read_text(encoding="utf-8")
    assert index.count(" part(s)") == len(templates.LANGUAGES) * len(domain.KINDS)


def test_a_reminder_after_the_pairs_are_published_knows_the_size_of_the_group() -> None:
    from services.notification.sender import _with_partners

    assert _with_partners({}, 2) == {"partners": 2}
    assert _with_partners({}, None) == {}
    assert _with_partners({"partners": 1}, 2) == {"partners": 1}  # what the message itself was told wins


@pytest.mark.parametrize("channel", ["email", "sms"])
@pytest.mark.parametrize("language", templates.LANGUAGES)
def test_someone_left_without_a_partner_is_told_so_and_given_no_seat(language: str, channel: templates.Channel) -> None:
    facts = preview.sample(domain.SEAT_CHANGED, language, with_link=False)
    alone = dataclasses.replace(facts, details={"seat": None, "pair_number": None, "interests": [], "partners": 0})
    body = messages.render(alone, channel, preview.SAMPLE_BASE_URL).body
    no_partner = {"nb": "ingen samtalepartner", "nn": "ingen samtalepartnar", "en": "no conversation partner"}
    assert no_partner[language] in body
    assert "None" not in body and "plass None" not in body
    if channel == "sms":
        assert gsm7.outside(body) == "" and (gsm7.length(body) or 999) <= 160


STATUS = {
    "nb": ("Du har plass.", "Du står på venteliste som nr. 3.", "Du står på venteliste."),
    "nn": ("Du har plass.", "Du står på venteliste som nr. 3.", "Du står på venteliste."),
    "en": ("You have a place.", "You are on the waiting list as number 3.", "You are on the waiting list."),
}


@pytest.mark.parametrize("channel", ["email", "sms"])
@pytest.mark.parametrize("language", templates.LANGUAGES)
def test_the_status_of_a_place_is_worded_as_on_the_pages_from_the_shared_catalogue(
    language: str, channel: templates.Channel
) -> None:
    placed, waiting, waiting_unnumbered = STATUS[language]
    for kind in (domain.REGISTRATION_CONFIRMED, domain.REGISTRATION_PROMOTED):
        if channel == "email":
            assert placed in messages.render(preview.sample(kind, language), channel, preview.SAMPLE_BASE_URL).body
    facts = preview.sample(domain.REGISTRATION_WAITLISTED, language)
    assert waiting in messages.render(facts, channel, preview.SAMPLE_BASE_URL).body
    unnumbered = dataclasses.replace(facts, details={})
    assert waiting_unnumbered in messages.render(unnumbered, channel, preview.SAMPLE_BASE_URL).body
    # The same words as the pages: the catalogue shared/i18n gives them, the messages hold no copy.
    gettext = i18n.translations(language).gettext
    assert gettext(templates.PLACE) == placed and gettext(templates.WAITING) == waiting_unnumbered
