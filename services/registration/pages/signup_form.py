"""The public sign-up form: the posted fields read into the API's ``SignUpIn`` (so the form obeys the same
rules as ``POST /v1/meetings/{id}/registrations``), and each refusal turned into a message beside its field
in the page's language (the msgids below; the template translates them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from services.registration import domain
from services.registration.schemas import SignUpIn
from shared import vocabulary


def N_(message: str) -> str:
    """Mark ``message`` for the catalogues; the template translates it when the page is made."""
    return message


# The form's fields, as the page names them (the contract the browser tests drive).
ONE = ("name", "email", "phone", "language", "occupation_field", "age_band", "gender", "norwegian_level")
MANY = ("interests", "languages")
CHECKBOXES = ("first_time", "same_gender", "consent")

MESSAGES = {
    "name": N_("Write the name you want to be called by, on one line."),
    "email": N_("Write an e-mail address like navn@eksempel.no."),
    "phone": N_("Write a Norwegian mobile number like 912 34 567."),
    "contact": N_("Write an e-mail address or a mobile number, so that we can send you the link."),
    "consent": N_("Tick the box to say yes. We cannot sign you up without it."),
    "norwegian_level": N_("Choose how well you speak Norwegian."),
    "level_too_low": N_("This meeting needs a bit more Norwegian. Ask the coordinator about other meetings."),
    "choose": N_("Choose from the list."),
}
# The order of the fields on the page: the errors are listed in it.
ORDER = (
    "name",
    "email",
    "phone",
    "language",
    "norwegian_level",
    "interests",
    "occupation_field",
    "languages",
    "age_band",
    "gender",
    "same_gender",
    "first_time",
    "consent",
)
# Which field a model-level refusal (``SignUpIn.contact_and_vocabulary``) concerns, by its sentence.
_MODEL_ERRORS = (
    ("give an e-mail address or a phone number", "email", "contact"),
    ("unknown interests", "interests", "choose"),
    ("unknown occupation", "occupation_field", "choose"),
    ("unknown languages", "languages", "choose"),
    ("unknown age band", "age_band", "choose"),
)


@dataclass
class SignUpForm:
    """What was posted (kept for the page shown again), the body when it is valid, and the errors:
    {field: msgid}, in the order of the form."""

    values: dict[str, str] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)
    body: SignUpIn | None = None
    errors: dict[str, str] = field(default_factory=dict)


def age_bands(meeting_format: str) -> list[str]:
    """The age bands a meeting's form offers: the youth format's bands and the usual ones for a youth meeting
    (each band once: both lists have 18-24), the usual ones otherwise (vocabulary ids, youngest first)."""
    vocab = vocabulary.vocabulary()
    if meeting_format == "youth":
        return list(dict.fromkeys([*vocab["youth_age_bands"], *vocab["age_bands"]]))
    return list(vocab["age_bands"])


def read(form: dict[str, list[str]], code: str | None, page_language: str) -> SignUpForm:
    """The posted sign-up ``form`` (every value of each field) as a ``SignUpForm``: a newcomer's with the
    invitation ``code`` the page was opened with (domain.form_group), a resident's otherwise."""
    values = {name: form.get(name, [""])[-1].strip() for name in ONE}
    checked = {name: form.get(name, [""])[-1] in ("yes", "on", "true") for name in CHECKBOXES}
    lists = {name: [v for v in form.get(name, []) if v] for name in MANY}
    result = SignUpForm(values={**values, **{k: "yes" if v else "" for k, v in checked.items()}}, lists=lists)
    group = domain.form_group(code)
    data: dict[str, Any] = {
        "group": group,
        "name": values["name"],
        "email": values["email"] or None,
        "phone": values["phone"] or None,
        "language": values["language"] or page_language,
        "consent": checked["consent"],
        "interests": lists["interests"],
        "occupation_field": values["occupation_field"] or None,
        "languages": lists["languages"],
        "age_band": values["age_band"] or None,
        "gender": values["gender"] or None,
        "same_gender_partner": checked["same_gender"],
        "first_time": True if checked["first_time"] else None,
    }
    if group == "newcomer":
        data["norwegian_level"] = values["norwegian_level"] or None
        data["invitation_code"] = code
    try:
        result.body = SignUpIn.model_validate(data)
    except ValidationError as exc:
        result.errors = errors_of(exc)
    # Pydantic checks the whole model (contact given) only once every field is valid: the checks a person
    # can fail at the same time are made here too, so that one round shows every problem.
    also = missing(values, checked["consent"], group)
    if also:
        result.body = None
        result.errors = ordered({**also, **result.errors})
    return result


def missing(values: dict[str, str], consent: bool, group: str) -> dict[str, str]:
    """{field: msgid} of what a person left out: no e-mail and no phone, no consent, and (a newcomer) no
    oral-Norwegian level. Empty when nothing is missing."""
    errors: dict[str, str] = {}
    if not values["email"] and not values["phone"]:
        errors["email"] = MESSAGES["contact"]
    if group == "newcomer" and not values["norwegian_level"]:
        errors["norwegian_level"] = MESSAGES["norwegian_level"]
    if not consent:
        errors["consent"] = MESSAGES["consent"]
    return errors


def ordered(errors: dict[str, str]) -> dict[str, str]:
    """``errors`` in the order of the fields on the page (unknown names last)."""
    rank = {name: i for i, name in enumerate(ORDER)}
    return dict(sorted(errors.items(), key=lambda item: rank.get(item[0], len(ORDER))))


def errors_of(exc: ValidationError) -> dict[str, str]:
    """{form field: msgid} for each refusal of ``SignUpIn``."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        loc = error.get("loc") or ()
        name = str(loc[0]) if loc else ""
        if name == "same_gender_partner":
            name = "same_gender"
        if not name:
            text = str(error.get("msg", ""))
            name, key = next(((f, k) for start, f, k in _MODEL_ERRORS if start in text), ("name", "name"))
        else:
            key = name if name in MESSAGES else "choose"
        errors.setdefault(name, MESSAGES[key])
    return errors
