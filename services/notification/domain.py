"""The rules of notification, without I/O: which messages exist, when scheduled ones fall due, which
channel carries a message, quiet hours for SMS, how long to wait before another attempt, and how text
from data is made safe to put into a message.

Every rule that depends on the time takes ``now`` as an argument, so tests can choose it.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Channel = Literal["email", "sms"]

# The kinds of message, and the channel each prefers.
REGISTRATION_CONFIRMED = "registration_confirmed"
REGISTRATION_WAITLISTED = "registration_waitlisted"
REGISTRATION_PROMOTED = "registration_promoted"
REGISTRATION_CANCELLED = "registration_cancelled"
MEETING_CHANGED = "meeting_changed"
MEETING_CANCELLED = "meeting_cancelled"
PAIRS_PUBLISHED = "pairs_published"
SEAT_CHANGED = "seat_changed"
REMINDER_24H = "reminder_24h"
REMINDER_2H = "reminder_2h"
FEEDBACK_REQUEST = "feedback_request"
ERASURE_CONFIRMED = "erasure_confirmed"
# To someone still on the waiting list when registration closes (they may still get a place if someone
# cancels before the start) or, if not told then, when the meeting is over: they did not get a place.
WAITLIST_ENDED = "waitlist_ended"
# Double opt-in: the link that confirms a public sign-up, the note to a participant whose contact was
# used to sign up again for a meeting they hold a place in, and the link that confirms an erasure.
CONFIRM_SIGNUP = "confirm_signup"
ALREADY_SIGNED_UP = "already_signed_up"
CONFIRM_ERASURE = "confirm_erasure"

KINDS: tuple[str, ...] = (
    REGISTRATION_CONFIRMED,
    REGISTRATION_WAITLISTED,
    REGISTRATION_PROMOTED,
    REGISTRATION_CANCELLED,
    MEETING_CHANGED,
    MEETING_CANCELLED,
    PAIRS_PUBLISHED,
    SEAT_CHANGED,
    REMINDER_24H,
    REMINDER_2H,
    FEEDBACK_REQUEST,
    ERASURE_CONFIRMED,
    CONFIRM_SIGNUP,
    ALREADY_SIGNED_UP,
    CONFIRM_ERASURE,
    WAITLIST_ENDED,
)
# The one kind that only makes sense as an SMS; every other kind goes by e-mail, or by SMS to
# someone who gave only a phone number.
SMS_ONLY = frozenset({REMINDER_2H})
REMINDERS = frozenset({REMINDER_24H, REMINDER_2H})
SCHEDULED = frozenset({REMINDER_24H, REMINDER_2H, FEEDBACK_REQUEST})
# Messages that tell the reader how to cancel or give feedback, through the manage link.
WITH_MANAGE_LINK = frozenset(
    {
        REGISTRATION_CONFIRMED,
        REGISTRATION_WAITLISTED,
        REGISTRATION_PROMOTED,
        MEETING_CHANGED,
        PAIRS_PUBLISHED,
        SEAT_CHANGED,
        REMINDER_24H,
        REMINDER_2H,
        FEEDBACK_REQUEST,
        ALREADY_SIGNED_UP,
        WAITLIST_ENDED,
    }
)
# Messages that carry the meeting as a calendar file: an .ics attachment by e-mail (a later one updates the
# same calendar entry) and, for the first three, a link to it by SMS.
WITH_CALENDAR = frozenset({REGISTRATION_CONFIRMED, REGISTRATION_PROMOTED, REMINDER_24H, MEETING_CHANGED})
WITH_CALENDAR_LINK = frozenset({REGISTRATION_CONFIRMED, REGISTRATION_PROMOTED, REMINDER_24H})
# Messages whose link carries a confirmation token that expires: pointless once the request is closed
# or the link has expired.
WITH_CONFIRM_LINK = frozenset({CONFIRM_SIGNUP, CONFIRM_ERASURE})
# Answers to something the reader has just done on the web: they wait for it, so it goes at once, also
# by SMS in quiet hours.
AWAITED = frozenset({CONFIRM_SIGNUP, ALREADY_SIGNED_UP, CONFIRM_ERASURE})
# Registration event type -> the message it causes.
KIND_OF_REGISTRATION_EVENT = {
    "registration.confirmed": REGISTRATION_CONFIRMED,
    "registration.waitlisted": REGISTRATION_WAITLISTED,
    "registration.promoted": REGISTRATION_PROMOTED,
    "registration.cancelled": REGISTRATION_CANCELLED,
}
LIVE_STATUSES = frozenset({"confirmed", "waitlisted"})
# Meeting events after which nobody still waiting will get a place (closed: only if someone cancels).
WAITLIST_END_OF_EVENT = {"meeting.registration_closed": "closed", "meeting.completed": "over"}
# The same, from the meeting's status when a waiting place arrives after the meeting event that ended it.
WAITLIST_END_OF_STATUS = {"registration_closed": "closed", "completed": "over"}


def registration_message(event_type: str, reason: str | None) -> str | None:
    """The message a registration event causes, or None. A cancellation caused by the participant's
    erasure (``reason == "erasure"``) causes none: the person asked to be forgotten and gets one message,
    the erasure confirmation (issue 17: a "cancelled" mail went out 16 ms before it)."""
    if event_type == "registration.cancelled" and reason == "erasure":
        return None
    return KIND_OF_REGISTRATION_EVENT.get(event_type)


# --- a batch of consumed events, applied set-wise --------------------------------------------------


def waves(keys: Sequence[Hashable | None]) -> list[list[int]]:
    """The order in which to apply a batch of consumed records set-wise with the effect of applying them one
    by one.

    ``keys[i]`` is what record ``i`` touches: records of different keys commute (neither reads nor writes
    what the other does), so they can be applied together; None marks a record whose effect depends on more
    than its key (a meeting event, an erasure), applied alone, in its place. Returns the records' indices in
    steps, in order: a barrier alone (``[i]``), or a wave of records of distinct keys, in batch order;
    between two barriers, the n-th record of each key is in the n-th wave, so each key's records keep their
    order and every record stays on its side of each barrier. Raises nothing; ``[]`` for no records.
    Source: the consumer's contract (``shared/consumer.py``): a batch has the effect of its records one by one.
    """
    steps: list[list[int]] = []
    segment: list[list[int]] = []
    seen: dict[Hashable, int] = {}
    for i, key in enumerate(keys):
        if key is None:
            steps += segment
            steps.append([i])
            segment, seen = [], {}
            continue
        level = seen.get(key, 0)
        seen[key] = level + 1
        if level == len(segment):
            segment.append([])
        segment[level].append(i)
    return steps + segment


QUIET_FROM = time(21, 0)
QUIET_UNTIL = time(8, 0)


# --- scheduled messages -------------------------------------------------------------------------


@dataclass(frozen=True)
class Scheduled:
    kind: str
    due_at: datetime


def schedule(starts_at: datetime, duration_minutes: int, since: datetime) -> list[Scheduled]:
    """The reminders and the feedback request of one confirmed place.

    A reminder whose time had already passed when the place was confirmed (``since``) is left out:
    someone who signs up an hour before needs no reminder. The feedback request always follows.
    """
    reminders = [
        Scheduled(REMINDER_24H, starts_at - timedelta(hours=24)),
        Scheduled(REMINDER_2H, starts_at - timedelta(hours=2)),
    ]
    ends_at = starts_at + timedelta(minutes=duration_minutes)
    return [r for r in reminders if r.due_at > since] + [Scheduled(FEEDBACK_REQUEST, ends_at)]


@dataclass(frozen=True)
class MeetingFacts:
    starts_at: datetime
    duration_minutes: int
    venue: dict[str, str]


def meeting_changes(before: MeetingFacts | None, after: MeetingFacts) -> list[str]:
    """What participants must hear about: ``time`` (start or end) and/or ``place``.

    Everything, if the meeting was not known before. A new title or capacity is no news to them.
    """
    if before is None:
        return ["time", "place"]
    changes = []
    if (before.starts_at, before.duration_minutes) != (after.starts_at, after.duration_minutes):
        changes.append("time")
    if (before.venue.get("name"), before.venue.get("address")) != (after.venue.get("name"), after.venue.get("address")):
        changes.append("place")
    return changes


# --- what to do with a due message ----------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    email: str | None
    phone: str | None


@dataclass(frozen=True)
class Situation:
    """What is known about a due message when the sender picks it."""

    kind: str
    recipient: Recipient
    meeting_starts_at: datetime | None
    meeting_status: str | None
    registration_status: str | None
    timezone: str
    sms_enabled: bool
    # Messages with a confirmation link: whether its sign-up or erasure request is closed, its expiry.
    request_closed: bool = False
    link_expires_at: datetime | None = None


@dataclass(frozen=True)
class Send:
    channel: Channel
    address: str


@dataclass(frozen=True)
class Defer:
    until: datetime
    reason: str


@dataclass(frozen=True)
class Skip:
    reason: str


@dataclass(frozen=True)
class Fail:
    reason: str
    # The channel that could not be used, when it is not the message's own: a phone-only person failed
    # by SMS, not by an e-mail they never gave (reports count failures per channel).
    channel: Channel | None = None


Decision = Send | Defer | Skip | Fail


def decide(s: Situation, now: datetime) -> Decision:
    """Send (and how), wait, skip or give up on a message that is due now."""
    stale = _stale(s, now)
    if stale:
        return Skip(stale)
    channel = channel_for(s.kind, s.recipient, s.sms_enabled)
    if isinstance(channel, Skip | Fail):
        return channel
    if channel.channel == "sms" and s.kind not in AWAITED:
        quiet_until = end_of_quiet_hours(now, s.timezone)
        if quiet_until is not None:
            return Defer(quiet_until, "quiet hours: no SMS between 21:00 and 08:00")
    return channel


def _stale(s: Situation, now: datetime) -> str | None:
    # Events of registrations and of meetings travel on different topics, so a message about the
    # meeting can be planned just before the cancellation of the place arrives.
    if s.registration_status == "cancelled" and s.kind != REGISTRATION_CANCELLED:
        return "the registration is cancelled"
    if s.kind in SCHEDULED and s.meeting_status == "cancelled":
        return "the meeting is cancelled"
    if s.kind in REMINDERS:
        if s.registration_status != "confirmed":
            return "the place is no longer confirmed"
        if s.meeting_starts_at is not None and now >= s.meeting_starts_at:
            return "the meeting has started"
    if s.kind == FEEDBACK_REQUEST and s.registration_status not in ("confirmed", "attended"):
        return "the participant did not take part"
    if s.kind in WITH_CONFIRM_LINK:
        if s.request_closed:
            return "the request is closed"
        if s.link_expires_at is not None and now >= s.link_expires_at:
            return "the link has expired"
    if s.kind == WAITLIST_ENDED:
        if s.registration_status != "waitlisted":
            return "the participant is no longer on the waiting list"
        if s.meeting_status == "cancelled":
            return "the meeting is cancelled"  # they hear that in the cancellation message
    if s.kind in (CONFIRM_SIGNUP, ALREADY_SIGNED_UP) and s.meeting_status in ("cancelled", "completed"):
        return f"the meeting is {s.meeting_status}"
    if s.kind == ALREADY_SIGNED_UP and s.registration_status not in (None, *LIVE_STATUSES):
        return "the place is no longer held"
    return None


def channel_for(kind: str, recipient: Recipient, sms_enabled: bool) -> Send | Skip | Fail:
    if kind in SMS_ONLY:
        if not recipient.phone:
            return Skip("no phone number")
        if not sms_enabled:
            return Skip("SMS is not configured")
        return Send("sms", recipient.phone)
    if recipient.email:
        return Send("email", recipient.email)
    if recipient.phone and sms_enabled:
        return Send("sms", recipient.phone)
    return Fail("no e-mail address, and no phone number that SMS can reach", "sms" if recipient.phone else None)


def in_quiet_hours(now: datetime, timezone: str) -> bool:
    return end_of_quiet_hours(now, timezone) is not None


def end_of_quiet_hours(now: datetime, timezone: str) -> datetime | None:
    """08:00 tenant time when ``now`` is between 21:00 and 08:00 there, else None."""
    tz = ZoneInfo(timezone)
    local = now.astimezone(tz)
    if QUIET_UNTIL <= local.time() < QUIET_FROM:
        return None
    day = local.date() if local.time() < QUIET_UNTIL else local.date() + timedelta(days=1)
    return datetime.combine(day, QUIET_UNTIL, tzinfo=tz)


# --- retries ----------------------------------------------------------------------------------------


def retry_delay(attempt: int, base_s: float, cap_s: float, rand: Callable[[], float] = random.random) -> timedelta:
    """Exponential backoff with jitter: half the step is fixed, half random, so replicas spread out.

    ``attempt`` counts the attempts made so far (1 after the first failure).
    """
    step = min(cap_s, base_s * 2 ** max(attempt - 1, 0))
    return timedelta(seconds=step / 2 + rand() * step / 2)


def smtp_code_is_temporary(code: int) -> bool:
    """SMTP 4xx: try again later; 5xx (an unknown mailbox, a rejected address): give up."""
    return 400 <= code < 500


def smtp_worth_a_new_connection(*, reused: bool, code: int | None, disconnected: bool) -> bool:
    """Whether a message that failed on a pooled SMTP connection goes again at once on a new one.

    Only on a connection used before (``reused``): the server dropped it while it sat idle
    (``disconnected``), or it answered 421, "closing the connection" (RFC 5321 4.2.3), to any command.
    A 421 is a refusal and a line dropped before the reply to DATA leaves the message unaccepted, so
    sending again loses nothing and (but for a server that drops the line between accepting a message and
    saying so, which the stable Message-ID covers) repeats nothing. A failure on a new connection is the
    message's own and goes the usual way (retry later or give up).
    ``code`` is the SMTP reply code, None when there was no reply.
    """
    return reused and (disconnected or code == 421)


def gateway_status_is_temporary(status: int) -> bool:
    """Gateway 5xx, throttling and our own key trouble are worth another try; a bad number is not."""
    return status >= 500 or status in (401, 403, 408, 429)


def redact(text: str, *secrets: str | None) -> str:
    """An error text fit for the record, for events and for logs: on one line, without the address, name
    or token it may quote (a gateway may echo the request)."""
    text = single_line(text)
    for secret in sorted({single_line(s) for s in secrets if s} - {""}, key=len, reverse=True):
        text = text.replace(secret, "<recipient>")
    return text[:500]


# --- text from data inside a message ----------------------------------------------------------------

# Bidirectional embeddings, overrides and isolates: they can make a text read differently from what it is.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def single_line(text: str) -> str:
    """Text from data (a name, a title, a place) as one line: control characters (CR, LF, NUL, ESC ...),
    line and paragraph separators and bidirectional controls become spaces, and runs of spaces one.

    Whatever a participant or coordinator typed can then neither start a line of its own in a message
    body nor a header of its own in an e-mail.
    """
    cleaned = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in _BIDI_CONTROLS.sub(" ", text)
    )
    return " ".join(cleaned.split())
