"""Request and response bodies of the registration API."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, time
from typing import Annotated, Literal
from zoneinfo import available_timezones

import phonenumbers
from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

from services.registration import domain
from services.registration.settings import get_settings
from shared import vocabulary
from shared.events import Capacity, Group, Venue
from shared.formats import FORMATS

_BCP47 = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _line(max_length: int) -> AfterValidator:
    def check(value: str) -> str:
        problem = domain.single_line_problem(value, max_length)
        if problem:
            raise ValueError(problem)
        return value

    return AfterValidator(check)


def _name(value: str) -> str:
    problem = domain.name_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _free_text(value: str | None) -> str | None:
    if value is not None and ("\x00" in value or any(ch in value for ch in "\u202a\u202b\u202c\u202d\u202e")):
        raise ValueError("remove the NUL or direction-override characters from the text")
    return value


def _phone_number(value: str, example: str) -> phonenumbers.PhoneNumber:
    """A valid phone number (Norwegian when written without a country code); ValueError saying how to
    write one, like ``example``, otherwise."""
    try:
        number = phonenumbers.parse(value, "NO")
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number; write it like {example}") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"not a valid phone number; write it like {example}")
    return number


Title = Annotated[str, _line(200)]
Line300 = Annotated[str, _line(300)]
PersonName = Annotated[str, AfterValidator(_name)]


class TenantIn(Strict):
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", examples=["arendal"])
    name: Title = Field(examples=["Arendal kommune"])
    municipality_number: str = Field(pattern=r"^\d{4}$", examples=["4203"])


class TenantOut(BaseModel):
    id: uuid.UUID
    slug: str
    name: str
    municipality_number: str
    timezone: str
    status: str
    day_starts: time
    day_ends: time
    retention_days: int
    contact_email: str | None = None
    contact_phone: str | None = None


class TenantSettingsIn(Strict):
    name: Title | None = None
    timezone: str | None = Field(None, examples=["Europe/Oslo"])
    day_starts: time | None = Field(None, description="Meetings may start from this local time.")
    day_ends: time | None = Field(None, description="Meetings must end by this local time.")
    retention_days: int | None = Field(
        None, ge=1, le=3650, description="Days after a participant's last meeting before their data is erased."
    )
    confirmation_hours: int | None = Field(
        None, ge=1, le=168, description="Hours a public sign-up waits for its contact to be confirmed (default 48)."
    )
    contact_email: EmailStr | None = Field(
        None, max_length=254, description="Whom participants write to about the meetings; named in every message."
    )
    contact_phone: str | None = Field(
        None, max_length=32, description="Whom participants call about the meetings (any number, landlines too)."
    )

    @field_validator("contact_phone")
    @classmethod
    def any_phone(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        number = _phone_number(value, "+47 37 01 30 00")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    @field_validator("timezone")
    @classmethod
    def known_zone(cls, value: str | None) -> str | None:
        if value is not None and value not in available_timezones():
            raise ValueError("unknown time zone; use an IANA name such as Europe/Oslo")
        return value


class TokenOut(BaseModel):
    token_id: uuid.UUID
    token: str = Field(description="Shown once; only its hash is stored.")


class VenueIn(Strict):
    name: Title
    address: Line300
    kind: Literal["library", "volunteer_centre", "park", "other"]


class CapacityIn(Strict):
    newcomer: int = Field(ge=1, le=500)
    resident: int = Field(ge=1, le=500)


class MeetingIn(Strict):
    title: Title
    format: str = Field("standard", examples=["standard"])
    starts_at: datetime
    venue: VenueIn
    capacity: CapacityIn | None = None
    duration_minutes: int | None = Field(None, ge=60, le=480)
    registration_closes_at: datetime | None = None

    @field_validator("format")
    @classmethod
    def known_format(cls, value: str) -> str:
        if value not in FORMATS:
            raise ValueError(f"unknown format; use one of: {', '.join(FORMATS)}")
        return value


class MeetingUpdate(Strict):
    """Any of these; a change of time or place is announced to the participants."""

    title: Title | None = None
    starts_at: datetime | None = None
    duration_minutes: int | None = Field(None, ge=60, le=480)
    venue: VenueIn | None = None
    capacity: CapacityIn | None = None
    registration_closes_at: datetime | None = None


class AgendaItemOut(BaseModel):
    starts: datetime
    ends: datetime
    activity: str
    description: str


class GroupCounts(BaseModel):
    newcomer: int = 0
    resident: int = 0


class MeetingOut(BaseModel):
    id: uuid.UUID
    tenant_id: uuid.UUID
    title: str
    format: str
    status: str
    starts_at: datetime
    duration_minutes: int
    registration_closes_at: datetime | None
    venue: Venue
    capacity: Capacity
    confirmed: GroupCounts
    waitlisted: GroupCounts
    agenda: list[AgendaItemOut]
    invitation_code: str | None = Field(
        None, description="For newcomers' own sign-up; shown to the meeting's coordinator only."
    )


class SignUpIn(Strict):
    group: Group
    name: PersonName = Field(max_length=100, description="One line: the name the person wants to be called by.")
    email: EmailStr | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=32, description="Normalised to E.164; Norwegian by default.")
    language: str = Field("nb", max_length=35, description="Preferred language, a BCP 47 tag such as nb, nn, en.")
    consent: bool = Field(description="Consent to the processing of the data; must be true.")
    interests: list[str] = Field(default_factory=list, max_length=20)
    occupation_field: str | None = None
    languages: list[str] = Field(default_factory=list, max_length=20)
    age_band: str | None = None
    gender: Literal["female", "male", "other"] | None = None
    same_gender_partner: bool = False
    norwegian_level: Literal["A1", "A2", "B1", "B2", "C1", "C2"] | None = None
    first_time: bool | None = None
    invitation_code: str | None = Field(
        None, max_length=64, description="The meeting's invitation code, e.g. K7QX-M2PD-4HTW (case and dashes ignored)."
    )

    @field_validator("email")
    @classmethod
    def lower_case(cls, value: str | None) -> str | None:
        return value.lower() if value else value

    @field_validator("phone")
    @classmethod
    def e164(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        number = _phone_number(value, "+47 912 34 567")
        kind = phonenumbers.PhoneNumberType.to_string(phonenumbers.number_type(number))
        allowed = frozenset(c.strip().upper() for c in get_settings().phone_countries.split(",") if c.strip())
        region = phonenumbers.region_code_for_number(number)
        problem = domain.phone_problem(kind) or domain.phone_country_problem(region, allowed)
        if problem:
            raise ValueError(problem)
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    @field_validator("invitation_code")
    @classmethod
    def code_shape(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        code = domain.normalise_invitation_code(value)
        if code is None:
            raise ValueError(
                "not an invitation code: it has 12 letters and digits, like K7QX-M2PD-4HTW (ask the coordinator)"
            )
        return code

    @field_validator("language")
    @classmethod
    def bcp47(cls, value: str) -> str:
        if not _BCP47.match(value):
            raise ValueError("not a BCP 47 language tag; use e.g. nb, nn or en")
        return value

    @field_validator("consent")
    @classmethod
    def consent_given(cls, value: bool) -> bool:
        if value is not True:
            raise ValueError("consent must be true: we cannot register anyone without it")
        return value

    @model_validator(mode="after")
    def contact_and_vocabulary(self) -> SignUpIn:
        if not self.email and not self.phone:
            raise ValueError("give an e-mail address or a phone number (or both)")
        vocabulary.check("interests", self.interests)
        vocabulary.check("occupation_fields", self.occupation_field)
        vocabulary.check("languages", self.languages)
        if self.age_band is not None:
            allowed = vocabulary.ids("age_bands") | vocabulary.ids("youth_age_bands")
            if self.age_band not in allowed:
                raise ValueError(f"unknown age band; use one of: {', '.join(sorted(allowed))}")
        return self


class SignUpOut(BaseModel):
    registration_id: uuid.UUID
    participant_id: uuid.UUID
    status: Literal["confirmed", "waitlisted"]
    manage_token: str = Field(description="Lets the participant view or cancel this registration; shown once.")


class SignUpAccepted(BaseModel):
    """The answer to every public sign-up, whoever the person is: nothing about them or their place."""

    status: Literal["check_your_messages"] = "check_your_messages"
    detail: str = (
        "Thank you! We have sent a message to the e-mail address (or, without one, the phone number) you gave."
        " Open the link in it to confirm; your place is decided then, first come first served."
        " If you do not confirm in time (the message says until when), what you gave is erased."
    )


class TokenIn(Strict):
    token: str = Field(min_length=16, max_length=128, description="The token from the link in the message.")


class SignUpConfirmed(BaseModel):
    registration_id: uuid.UUID
    status: Literal["confirmed", "waitlisted", "already_signed_up"]
    manage_token: str | None = Field(
        None,
        description="Lets the participant view or cancel this registration; shown once (not when already signed up).",
    )


class ErasureRequestedOut(BaseModel):
    status: Literal["check_your_messages"] = "check_your_messages"
    detail: str = (
        "We have sent a link to your e-mail address (or phone). Open it within 24 hours to erase your data;"
        " nothing is erased until then."
    )


class AttendanceIn(Strict):
    status: Literal["attended", "no_show"]


class FeedbackIn(Strict):
    rating: int = Field(ge=1, le=5, description="1 (poor) to 5 (very good).")
    new_connection: bool = Field(description="I made a new connection.")
    would_recommend: bool = Field(description="I would recommend it to others.")
    comment: Annotated[str | None, AfterValidator(_free_text)] = Field(
        None, max_length=2000, description="Stays with the municipality; never shared."
    )


class RegistrationView(BaseModel):
    id: uuid.UUID
    participant_id: uuid.UUID
    meeting_id: uuid.UUID
    group: Group
    status: str
    meeting_title: str
    meeting_starts_at: datetime
    meeting_ends_at: datetime
    venue: Venue
    feedback_given: bool
    waitlist_position: int | None = Field(
        None, description="While waitlisted: the place in the group's waiting list, 1 = the next to get a place."
    )


class RegistrationOut(BaseModel):
    id: uuid.UUID
    participant_id: uuid.UUID
    group: Group
    status: str
    name: str | None
    signed_up_at: datetime
    waitlist_position: int | None = Field(
        None, description="While waitlisted: the place in the group's waiting list, 1 = the next to get a place."
    )


class SwapIn(Strict):
    registration_ids: tuple[uuid.UUID, uuid.UUID] = Field(description="Two newcomers, or two residents, to swap.")


class LockIn(Strict):
    registration_id: uuid.UUID = Field(description="Anyone in the pair to lock (or unlock).")
    locked: bool = True


class PublishPairsIn(Strict):
    version: int = Field(ge=1, description="The version of the plan you reviewed; a newer one must be reviewed first.")


class CommandAccepted(BaseModel):
    command_id: uuid.UUID
    based_on_version: int
    detail: str = "Accepted; the new seating plan appears at GET /v1/meetings/{id}/seating."


SIGN_IN_LINK_MAX_S = 7 * 86_400


class SignInLinkIn(Strict):
    valid_for_s: int = Field(
        3600, ge=60, le=SIGN_IN_LINK_MAX_S, description="Seconds the link works (1 minute to 7 days; default 1 hour)."
    )


class SignInLinkOut(BaseModel):
    url: str = Field(description="Opens the console signed in as the caller; works once. Shown once: keep it safe.")
    expires_at: datetime
