"""Registration rules, pure: lifecycle, daytime and date checks, capacity and waiting list."""

from __future__ import annotations

import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

# action -> (states it may start from, state it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "publish": (frozenset({"draft"}), "published"),
    "close": (frozenset({"published"}), "registration_closed"),
    "complete": (frozenset({"registration_closed"}), "completed"),
    "cancel": (frozenset({"draft", "published", "registration_closed"}), "cancelled"),
}

EVENT_OF_STATE = {
    "published": "meeting.published",
    "registration_closed": "meeting.registration_closed",
    "completed": "meeting.completed",
    "cancelled": "meeting.cancelled",
}


class RuleViolation(ValueError):
    """A domain rule said no; the message tells the caller what to change."""


def next_state(action: str, current: str) -> str:
    allowed_from, target = TRANSITIONS[action]
    if current not in allowed_from:
        raise RuleViolation(
            f"cannot {action} a meeting that is {current}; allowed from: {', '.join(sorted(allowed_from))}"
        )
    return target


@dataclass(frozen=True)
class DayWindow:
    timezone: str = "Europe/Oslo"
    starts: time = time(8, 0)
    ends: time = time(17, 0)


def meeting_problems(
    *,
    starts_at: datetime,
    duration_minutes: int,
    registration_closes_at: datetime | None,
    now: datetime,
    window: DayWindow,
) -> list[str]:
    """Everything wrong with a meeting's timing, as sentences that say what to fix."""
    problems: list[str] = []
    if starts_at.tzinfo is None:
        return ["starts_at must include a time zone offset, e.g. 2027-03-04T11:00:00+01:00"]
    if starts_at <= now:
        problems.append("starts_at must be in the future")
    zone = ZoneInfo(window.timezone)
    local_start = starts_at.astimezone(zone)
    local_end = (starts_at + timedelta(minutes=duration_minutes)).astimezone(zone)
    if local_start.time() < window.starts or local_end.date() != local_start.date() or local_end.time() > window.ends:
        problems.append(
            f"the meeting must start and end in the daytime, between {window.starts:%H:%M} and "
            f"{window.ends:%H:%M} {window.timezone} time; it runs {local_start:%H:%M}-{local_end:%H:%M}"
        )
    if registration_closes_at is not None and registration_closes_at >= starts_at:
        problems.append("registration_closes_at must be before starts_at")
    if registration_closes_at is not None and registration_closes_at <= now:
        problems.append("registration_closes_at must be in the future (leave it out to close at the start)")
    return problems


# --- the meeting's clock: what may change when, whatever the status says -------------------------------


def registration_closes(starts_at: datetime, registration_closes_at: datetime | None) -> datetime:
    """When sign-up closes: at ``registration_closes_at``, and at the latest when the meeting starts.

    Source: issue 17, kind 1 ("registration closes by itself at registration_closes_at"); a meeting without
    a closing time takes sign-ups until it starts, never after (nobody can be seated at a table already
    talking). The ``close_due_meetings`` job moves the status at this moment; the rules below do not wait
    for it.
    """
    if registration_closes_at is None:
        return starts_at
    return min(registration_closes_at, starts_at)


@dataclass(frozen=True)
class MeetingClock:
    """The three moments that limit every change of a meeting and its registrations."""

    starts_at: datetime
    ends_at: datetime
    registration_closes_at: datetime | None

    @property
    def closes_at(self) -> datetime:
        return registration_closes(self.starts_at, self.registration_closes_at)


# Changes limited by the clock, and when they stop (or start) being allowed. Source: issue 17, kind 1:
# every state change is checked against the meeting's times whatever its status says.
TIMED_ACTIONS = frozenset(
    {
        "sign_up",  # a coordinator's sign-up, a public sign-up, and the use of its confirmation link
        "edit",  # title, time, place, capacity, closing time
        "publish",
        "new_invitation_code",
        "promote",  # a waiting person takes a free place
        "cancel_registration",
        "cancel",  # the meeting
        "complete",
        "attendance",
        "feedback",
        "change_pairs",  # swap, lock, publish a version: each tells people their seat
    }
)


def time_problem(action: str, clock: MeetingClock, now: datetime) -> str | None:
    """Why ``action`` is too early or too late at ``now`` for a meeting with ``clock``, or None.

    - until registration closes (``registration_closes``): sign_up, edit, publish, new_invitation_code;
    - until the meeting starts: promote (the waiting list moves), cancel_registration (after that the
      coordinator records attendance: attended or no_show);
    - until the meeting ends: cancel (the meeting; after it ended it is completed, not cancelled) and
      change_pairs (seats may still move at the table, but nobody is told a seat for a meeting that is over);
    - from the start: attendance; from the end: complete, feedback.
    Closing registration early is allowed at any time, and so it has no rule here.
    """
    if action not in TIMED_ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    closes, starts, ends = clock.closes_at, clock.starts_at, clock.ends_at
    if action in ("sign_up", "edit", "publish", "new_invitation_code") and now >= closes:
        what = {
            "sign_up": "sign-up is over",
            "edit": "the meeting can no longer be edited",
            "publish": "it is too late to publish the meeting",
            "new_invitation_code": "newcomers can no longer sign up, so no new code",
        }[action]
        return f"registration closed at {closes.isoformat()}: {what}"
    if action in ("promote", "cancel_registration") and now >= starts:
        return (
            f"the meeting started at {starts.isoformat()}: places no longer change; the coordinator records"
            " who attended"
        )
    if action == "cancel" and now >= ends:
        return f"the meeting ended at {ends.isoformat()}: complete it instead of cancelling it"
    if action == "change_pairs" and now >= ends:
        return f"the meeting ended at {ends.isoformat()}: its pairs and seats no longer change"
    if action == "attendance" and now < starts:
        return f"attendance can be recorded once the meeting has started (at {starts.isoformat()})"
    if action == "complete" and now < ends:
        return f"the meeting can be completed once it has ended (at {ends.isoformat()})"
    if action == "feedback" and now < ends:
        return f"feedback opens when the meeting has ended (at {ends.isoformat()})"
    return None


def place_for(confirmed_in_group: int, capacity: int) -> str:
    """A new sign-up is confirmed while the group has room, otherwise waitlisted."""
    return "confirmed" if confirmed_in_group < capacity else "waitlisted"


CEFR = ("A1", "A2", "B1", "B2", "C1", "C2")


def level_problem(level: str | None, minimum: str) -> str | None:
    """Why a newcomer's oral-Norwegian level does not meet the format's minimum, or None."""
    if level is None:
        return f"norwegian_level is required for newcomers (this meeting needs {minimum} or higher)"
    if CEFR.index(level) < CEFR.index(minimum):
        return f"this meeting needs oral Norwegian at level {minimum} or higher, so that conversation flows"
    return None


@dataclass(frozen=True)
class AgendaItem:
    starts: datetime
    ends: datetime
    activity: str
    description: str


def _round5(minutes: float) -> int:
    return int(5 * round(minutes / 5))


def agenda(starts_at: datetime, duration_minutes: int, pairs: int) -> list[AgendaItem]:
    """The meeting's running order with clock times (in ``starts_at``'s zone).

    Fixed parts: welcome and a round of introductions (15 min), the host calling out the pairs two by
    two (5 min, 10 with more than 15 pairs), closing (10 min). The rest goes to the private pair talk
    (about 43 %, 15-45 min; 30 min in the standard 1 h 45 min) and the sharing round.
    """
    call_out = 10 if pairs > 15 else 5
    rest = duration_minutes - 15 - call_out - 10
    pair_talk = min(45, max(15, _round5(rest * 0.43)))
    parts = [
        ("welcome", 15, "Welcome, and a round of introductions at the long table"),
        ("call_out_pairs", call_out, "The host calls out the pairs, two by two; each pair sits down together"),
        ("pair_talk", pair_talk, "Pair talk: one newcomer and one resident talk in private"),
        (
            "sharing_round",
            rest - pair_talk,
            "Sharing round: each pair tells the table a little of what they talked about",
        ),
        ("closing", 10, "Closing: thanks, feedback, and a reminder that there is no obligation to keep in touch"),
    ]
    items, clock = [], starts_at
    for activity, minutes, text in parts:
        items.append(AgendaItem(clock, clock + timedelta(minutes=minutes), activity, text))
        clock += timedelta(minutes=minutes)
    return items


def participant_offers(
    registration_status: str, meeting_status: str, feedback_given: bool, clock: MeetingClock, now: datetime
) -> frozenset[str]:
    """What the participant's own page offers: ``cancel`` and ``feedback`` exactly when the use cases would
    accept them (status and clock), ``erase`` always (the right to erasure outlives a cancelled place).
    Source: issue 17 ("pages must not offer what the rules refuse")."""
    offers = {"erase"}
    if (
        registration_status in ("confirmed", "waitlisted")
        and meeting_status in ("published", "registration_closed")
        and time_problem("cancel_registration", clock, now) is None
    ):
        offers.add("cancel")
    if (
        registration_status in ("confirmed", "attended")
        and meeting_status != "cancelled"
        and not feedback_given
        and time_problem("feedback", clock, now) is None
    ):
        offers.add("feedback")
    return frozenset(offers)


# --- what people type: single-line text, names, phones, invitation codes --------------------------------

# Characters that must never be part of a name, a title or an address: C0 and C1 controls (CR, LF, NUL,
# TAB ...), DEL, the Unicode line and paragraph separators, and the bidirectional overrides and isolates
# that can make a text read differently from what it is (CVE-2021-42574, "Trojan Source").
_FORBIDDEN = frozenset(
    [chr(c) for c in range(0x00, 0x20)]
    + [chr(c) for c in range(0x7F, 0xA0)]
    + ["\u2028", "\u2029"]
    + [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2066, 0x206A)]
)
# Invisible format characters (Unicode category Cf: zero-width space, soft hyphen, bidi marks ...) are refused
# too, but for the zero-width (non-)joiner that Persian, Arabic and Indic names need.
_JOINERS = frozenset({"\u200c", "\u200d"})
# Dots that read as a full stop in a web address once shown: the ideographic and halfwidth ones.
_DOTS = str.maketrans({"\u3002": ".", "\uff61": ".", "\u2024": "."})
_DIGITS = re.compile(r"(\d\D*){6,}")  # six digits or more: the start of a phone number
_URL = re.compile(r"(https?://|www\.|\b[a-z0-9-]+\.(no|com|org|net|io|info|xyz|ru|cn|link|app)\b)", re.IGNORECASE)
_EMAIL = re.compile(r"\S+@\S+\.\S+")


def single_line_problem(value: str, max_length: int) -> str | None:
    """What is wrong with ``value`` as one line of text (a name, title, venue name or address), or None.

    Refused: control characters (CR, LF, NUL, TAB ...), U+2028/U+2029, the bidi overrides U+202A–U+202E
    and isolates U+2066–U+2069, blank text, and more than ``max_length`` characters. Source: the public
    sign-up's text becomes e-mail headers and message lines, where a line break is an injection.
    """
    if any(ch in _FORBIDDEN or (unicodedata.category(ch) == "Cf" and ch not in _JOINERS) for ch in value):
        return "use one line of plain text: line breaks, tabs and other control or direction characters are not allowed"
    if not value.strip():
        return "must not be empty"
    if len(value) > max_length:
        return f"at most {max_length} characters"
    return None


def name_problem(value: str) -> str | None:
    """What is wrong with a person's name (single-line text of at most 100 characters, no web address,
    e-mail address or six digits, also in full-width or other look-alike forms: a name is shown in
    messages from the platform's own address, so it must not carry a link or a number to call), or None."""
    problem = single_line_problem(value, 100)
    if problem:
        return problem
    seen = unicodedata.normalize("NFKC", value).translate(_DOTS)  # ｅｖｉｌ．ｃｏｍ reads as evil.com
    if _EMAIL.search(seen):
        return "write your name here, not an e-mail address (there is a field for that)"
    if _URL.search(seen):
        return "write your name here, not a web address"
    if _DIGITS.search(seen):
        return "write your name here, without numbers (a phone number goes in the phone field)"
    return None


# Mobile numbers can receive SMS; premium-rate, shared-cost, toll-free, pagers, VoIP and the other
# special ranges cannot be a participant's phone (phonenumbers' number types, from Google's libphonenumber).
SMS_CAPABLE_TYPES = frozenset({"MOBILE", "FIXED_LINE_OR_MOBILE"})


def phone_problem(number_type: str) -> str | None:
    """Whether a valid number of this libphonenumber type (e.g. ``MOBILE``, ``PREMIUM_RATE``) may be a
    participant's phone: it must be a mobile number that can receive SMS."""
    if number_type in SMS_CAPABLE_TYPES:
        return None
    return "give a mobile number that can receive SMS (not a landline, premium-rate or other special number)"


def phone_country_problem(region: str | None, allowed: frozenset[str]) -> str | None:
    """Whether a mobile number of this region (ISO 3166 code such as ``NO``) may receive our SMS: only the
    countries the platform serves (the ``phone_countries`` setting; ``*`` for any). Source: SMS pumping,
    where strangers make a platform send paid messages to premium ranges abroad."""
    if "*" in allowed or (region is not None and region in allowed):
        return None
    return f"give a mobile number from {', '.join(sorted(allowed))} (a number from another country cannot be used)"


# Invitation codes are read aloud and typed from paper: no 0/O, 1/I/L, nor U (30 symbols).
INVITATION_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
INVITATION_LENGTH = 12  # 12 × log2(30) ≈ 58.9 bits


def new_invitation_code() -> str:
    """A fresh invitation code such as ``K7QX-M2PD-4HTW``: 12 symbols from ``secrets`` (≈ 59 bits)."""
    raw = "".join(secrets.choice(INVITATION_ALPHABET) for _ in range(INVITATION_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, INVITATION_LENGTH, 4))


def normalise_invitation_code(value: str) -> str | None:
    """The code as stored (upper case, groups of four joined by '-'), or None when it cannot be a code.

    Spaces and dashes are ignored and case does not matter, so ``k7qx m2pd 4htw`` works.
    """
    raw = re.sub(r"[\s-]", "", value).upper()
    if not raw.isascii() or len(raw) != INVITATION_LENGTH or any(c not in INVITATION_ALPHABET for c in raw):
        return None
    return "-".join(raw[i : i + 4] for i in range(0, INVITATION_LENGTH, 4))


def invitation_problem(given: str | None, expected: str) -> str | None:
    """What a newcomer signing up on their own is told about the invitation code, or None when it is right.

    No code and a wrong code get different texts, so that the reader knows what to do; neither says
    anything else (not whether the meeting has a code, nor how near the guess was).
    """
    if not given:
        return (
            "newcomers sign up with the meeting's invitation code: it is in the link or on the paper from the"
            " adult-education centre (ask them for it), or your coordinator can sign you up"
        )
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return (
            "this invitation code is not right: check that you typed it as written, or ask the adult-education"
            " centre for a new link (a code stops working when a new one is made)"
        )
    return None
