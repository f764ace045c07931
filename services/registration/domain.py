"""Registration rules, pure: lifecycle, daytime and date checks, who may sign up, capacity and the waiting
list, which registrations are live, attendance and feedback windows, what people type.

Every function here is free of I/O and takes the time as an argument, so each rule is tested on its own
(``tests/unit/test_registration_domain.py``). The use cases load rows, ask these functions, and write.
A ``*_problem`` function answers ``None`` when the rule allows the change, else the sentence the caller is
told (the use case raises it as ``Conflict`` or ``Unprocessable``).
"""

from __future__ import annotations

import hmac
import re
import secrets
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal, TypeVar
from zoneinfo import ZoneInfo

from shared.events import MeetingStatus, RegistrationStatus

T = TypeVar("T")
Group = Literal["newcomer", "resident"]
GROUPS: tuple[Group, Group] = ("newcomer", "resident")

# action -> (states it may start from, state it leads to). Source: DESIGN.md §7, the lifecycle routes
# (draft → published → registration_closed → completed; cancel from any state before completed).
TRANSITIONS: dict[str, tuple[frozenset[MeetingStatus], MeetingStatus]] = {
    "publish": (frozenset({MeetingStatus.DRAFT}), MeetingStatus.PUBLISHED),
    "close": (frozenset({MeetingStatus.PUBLISHED}), MeetingStatus.REGISTRATION_CLOSED),
    "complete": (frozenset({MeetingStatus.REGISTRATION_CLOSED}), MeetingStatus.COMPLETED),
    "cancel": (
        frozenset({MeetingStatus.DRAFT, MeetingStatus.PUBLISHED, MeetingStatus.REGISTRATION_CLOSED}),
        MeetingStatus.CANCELLED,
    ),
}

EVENT_OF_STATE = {
    MeetingStatus.PUBLISHED: "meeting.published",
    MeetingStatus.REGISTRATION_CLOSED: "meeting.registration_closed",
    MeetingStatus.COMPLETED: "meeting.completed",
    MeetingStatus.CANCELLED: "meeting.cancelled",
}

# A meeting's details (title, time, place, capacity, closing time, invitation code) change until
# registration closes. Source: DESIGN.md §7 ("edit until registration closes").
EDITABLE_STATES = frozenset({MeetingStatus.DRAFT, MeetingStatus.PUBLISHED})
# The states in which places still move: a cancelled place is given to the next person waiting, and an
# erasure cancels the person's place. After completion or cancellation the places are history.
PLACES_MOVE_IN = frozenset({MeetingStatus.PUBLISHED, MeetingStatus.REGISTRATION_CLOSED})
# A live registration holds (or waits for) a place. Source: DESIGN.md §2 (registration statuses).
LIVE = frozenset({RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED})
# Who took part (or was expected to): attendance is recorded for them.
ATTENDANCE_FROM = frozenset({RegistrationStatus.CONFIRMED, RegistrationStatus.ATTENDED, RegistrationStatus.NO_SHOW})
# Who may give feedback: those who took part (a confirmed place whose attendance was not recorded counts).
FEEDBACK_FROM = frozenset({RegistrationStatus.CONFIRMED, RegistrationStatus.ATTENDED})


class RuleViolation(ValueError):
    """A domain rule said no; the message tells the caller what to change."""


def next_state(action: str, current: str) -> MeetingStatus:
    """The meeting status that lifecycle ``action`` (publish, close, complete, cancel) leads to from
    ``current``. Raises ``RuleViolation`` when the action is not allowed from ``current`` (the message
    lists the states it is allowed from), ``KeyError`` for an unknown action. Source: DESIGN.md §7."""
    allowed_from, target = TRANSITIONS[action]
    if current not in allowed_from:
        raise RuleViolation(
            f"cannot {action} a meeting that is {current}; allowed from: {', '.join(sorted(allowed_from))}"
        )
    return target


def lifecycle_actions(current: str) -> list[str]:
    """The lifecycle actions (``publish``, ``close``, ``complete``, ``cancel``, in that order) that
    ``TRANSITIONS`` allows from the meeting status ``current``; the clock may still refuse one
    (``time_problem``). Source: DESIGN.md §7."""
    return [action for action, (allowed_from, _) in TRANSITIONS.items() if current in allowed_from]


def is_past(status: str, ends_at: datetime, now: datetime) -> bool:
    """Whether a meeting belongs with the past ones: completed, cancelled, or ended at ``now`` (aware)."""
    return status in (MeetingStatus.COMPLETED, MeetingStatus.CANCELLED) or ends_at <= now


@dataclass(frozen=True)
class DayWindow:
    """The tenant's daytime: meetings start and end between ``starts`` and ``ends`` (local wall-clock
    times in ``timezone``, an IANA zone name). Source: DESIGN.md §1 ("always held in the daytime")."""

    timezone: str = "Europe/Oslo"
    starts: time = time(8, 0)
    ends: time = time(17, 0)


@dataclass(frozen=True)
class MeetingProblem:
    """One thing wrong with a meeting's timing: the ``field`` it concerns (``starts_at`` or
    ``registration_closes_at``), a ``code`` a page words in its own language (``no_offset``, ``past``,
    ``not_daytime``, ``closes_after_start``, ``closes_in_past``), and the API's English ``message``."""

    field: str
    code: str
    message: str


# How far ahead a meeting may be planned: two years covers a municipality's planning, and a mistyped year
# (2062 for 2026, 9999) is refused rather than stretching every monthly report to it.
MAX_DAYS_AHEAD = 2 * 366


def meeting_timing_problems(
    *,
    starts_at: datetime,
    duration_minutes: int,
    registration_closes_at: datetime | None,
    now: datetime,
    window: DayWindow,
) -> list[MeetingProblem]:
    """Everything wrong with a meeting's timing, each with its field and code (empty: nothing).

    ``starts_at``, ``registration_closes_at`` and ``now`` are aware datetimes, ``duration_minutes`` in
    minutes. Checked: a time zone offset, a start in the future and at most ``MAX_DAYS_AHEAD`` days ahead,
    start and end inside ``window`` on one local day, a closing time before the start and in the future.
    Source: DESIGN.md §1 (daytime, 1 h 45 min) and §7 (``registration_closes_at``); the horizon keeps a
    mistyped year (9999) out of the calendars and the monthly reports."""
    problems: list[MeetingProblem] = []
    if starts_at.tzinfo is None:
        message = "starts_at must include a time zone offset, e.g. 2027-03-04T11:00:00+01:00"
        return [MeetingProblem("starts_at", "no_offset", message)]
    if starts_at <= now:
        problems.append(MeetingProblem("starts_at", "past", "starts_at must be in the future"))
    if starts_at > now + timedelta(days=MAX_DAYS_AHEAD):
        message = f"starts_at must be at most {MAX_DAYS_AHEAD} days ahead (a mistyped year?)"
        return [*problems, MeetingProblem("starts_at", "too_far_ahead", message)]
    zone = ZoneInfo(window.timezone)
    local_start = starts_at.astimezone(zone)
    local_end = (starts_at + timedelta(minutes=duration_minutes)).astimezone(zone)
    if local_start.time() < window.starts or local_end.date() != local_start.date() or local_end.time() > window.ends:
        message = (
            f"the meeting must start and end in the daytime, between {window.starts:%H:%M} and "
            f"{window.ends:%H:%M} {window.timezone} time; it runs {local_start:%H:%M}-{local_end:%H:%M}"
        )
        problems.append(MeetingProblem("starts_at", "not_daytime", message))
    if registration_closes_at is not None and registration_closes_at >= starts_at:
        message = "registration_closes_at must be before starts_at"
        problems.append(MeetingProblem("registration_closes_at", "closes_after_start", message))
    if registration_closes_at is not None and registration_closes_at <= now:
        message = "registration_closes_at must be in the future (leave it out to close at the start)"
        problems.append(MeetingProblem("registration_closes_at", "closes_in_past", message))
    return problems


def meeting_problems(
    *,
    starts_at: datetime,
    duration_minutes: int,
    registration_closes_at: datetime | None,
    now: datetime,
    window: DayWindow,
) -> list[str]:
    """Everything wrong with a meeting's timing, as sentences that say what to fix (empty: nothing): the
    messages of ``meeting_timing_problems``, which gives each its field and code as well."""
    return [
        p.message
        for p in meeting_timing_problems(
            starts_at=starts_at,
            duration_minutes=duration_minutes,
            registration_closes_at=registration_closes_at,
            now=now,
            window=window,
        )
    ]


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


# --- who may sign up, and where the place goes ---------------------------------------------------------


def day_window_problem(day_starts: time, day_ends: time) -> str | None:
    """Why a tenant's daytime window (local wall-clock times) is not one, or None: it must start before
    it ends. Source: DESIGN.md §1 (meetings are held in the daytime)."""
    if day_starts >= day_ends:
        return f"day_starts ({day_starts:%H:%M}) must be before day_ends ({day_ends:%H:%M})"
    return None


def new_meeting_problem(tenant_status: str, slug: str) -> str | None:
    """Why a tenant (status ``active`` or ``suspended``) cannot create a meeting, or None: a suspended
    tenant keeps its meetings but makes no new ones (DESIGN.md §3, the operator manages tenants)."""
    if tenant_status != "active":
        return f"tenant '{slug}' is suspended; the operator can reactivate it"
    return None


def publicly_visible(meeting_status: str) -> bool:
    """Whether someone who is not the meeting's coordinator may see the meeting: once it is published,
    whatever happened after (DESIGN.md §7, ``GET /v1/meetings/{id}``: "public once published")."""
    return meeting_status != MeetingStatus.DRAFT


def sign_up_problem(tenant_status: str, meeting_status: str, clock: MeetingClock, now: datetime) -> str | None:
    """Why nobody can sign up for the meeting at ``now``, or None when sign-up is open: the tenant is
    active, the meeting is published, and registration has not closed by the clock
    (``time_problem("sign_up")``), whatever the status says. The same rule holds for a coordinator's
    sign-up, a public one and the use of its confirmation link. Source: DESIGN.md §7 and §10, issue 17."""
    if tenant_status != "active":
        return "sign-up is closed: the municipality's account is suspended"
    if meeting_status != MeetingStatus.PUBLISHED:
        return f"the meeting is {meeting_status}; sign-up is open only while it is published"
    return time_problem("sign_up", clock, now)


def edit_problem(meeting_status: str, clock: MeetingClock, now: datetime) -> str | None:
    """Why the meeting's details (title, time, place, capacity, closing time) cannot be edited now, or
    None: only a draft or published meeting whose registration has not closed by the clock. Source:
    DESIGN.md §7 ("edit until registration closes"), issue 17."""
    if meeting_status not in EDITABLE_STATES:
        return f"the meeting is {meeting_status}; it can be edited until registration closes"
    return time_problem("edit", clock, now)


def invitation_code_problem(meeting_status: str, clock: MeetingClock, now: datetime) -> str | None:
    """Why no new invitation code can be made now, or None: newcomers sign up with it, so only while the
    meeting's details can change (a draft or published meeting, registration not closed by the clock).
    Source: DESIGN.md §7 (newcomers sign up with an invitation code), issue 17."""
    if meeting_status not in EDITABLE_STATES:
        return f"the meeting is {meeting_status}; newcomers can no longer sign up, so no new code"
    return time_problem("new_invitation_code", clock, now)


def capacity_problem(group: str, capacity: int, confirmed: int) -> str | None:
    """Why the group's capacity (places, an int) cannot be set to ``capacity`` while ``confirmed`` people
    of the group hold a place, or None: nobody loses a confirmed place by an edit. Source: DESIGN.md §1
    (10 + 10 are defaults) and §8 (capacity is a pure rule)."""
    if capacity < confirmed:
        return (
            f"{confirmed} {group}s are confirmed already; the capacity cannot go below that"
            " (cancel registrations first)"
        )
    return None


def place_for(confirmed_in_group: int, capacity: int) -> RegistrationStatus:
    """A new sign-up is confirmed while the group has room (``confirmed_in_group < capacity``, both
    counts of people), otherwise waitlisted. Source: DESIGN.md §7 (201 ``confirmed|waitlisted``) and §10
    ("first confirmed first served")."""
    return RegistrationStatus.CONFIRMED if confirmed_in_group < capacity else RegistrationStatus.WAITLISTED


def waitlist_position(status: str, waiting_before: int) -> int | None:
    """The waiting-list position (1 = the next to get a place) of a new registration with ``status``
    when ``waiting_before`` people of its group wait already: last in the queue; None unless waitlisted.
    Source: DESIGN.md §8 (waiting list, first in, first out)."""
    return waiting_before + 1 if status == RegistrationStatus.WAITLISTED else None


def free_places(capacity: int, confirmed: int) -> int:
    """How many places of a group are free (never negative): ``capacity`` minus ``confirmed``."""
    return max(0, capacity - confirmed)


def to_promote(capacity: int, confirmed: int, waiting: Sequence[T], clock: MeetingClock, now: datetime) -> list[T]:
    """Which of the group's waiting registrations (``waiting``, in the order they joined the list: first
    in, first out) take the free places now: as many as there are free places, from the front; nobody
    once the meeting has started (``time_problem("promote")``: nobody is called in to a table already
    talking). Source: DESIGN.md §7 (cancel "promotes the next waitlisted") and §8, issue 17."""
    if not waitlist_moves(clock, now):
        return []
    return list(waiting[: free_places(capacity, confirmed)])


def waitlist_moves(clock: MeetingClock, now: datetime) -> bool:
    """Whether a waiting person may still be given a place at ``now``: until the meeting starts
    (``time_problem("promote")``). Source: issue 17, kind 1."""
    return time_problem("promote", clock, now) is None


def is_live(status: str) -> bool:
    """Whether a registration holds or waits for a place (``confirmed`` or ``waitlisted``). A person has
    at most one live registration per meeting. Source: DESIGN.md §2."""
    return status in LIVE


def cancellation_problem(
    registration_status: str, meeting_status: str, clock: MeetingClock, now: datetime
) -> str | None:
    """Why a registration cannot be cancelled now, or None: it must be live, its meeting neither completed
    nor cancelled, and the meeting not started (``time_problem("cancel_registration")``; after that the
    coordinator records attendance). An already cancelled registration is not asked about: cancelling it
    again changes nothing (see ``already_cancelled``). Source: DESIGN.md §7 (``DELETE
    /v1/registrations/{id}``), issue 17."""
    if meeting_status in (MeetingStatus.COMPLETED, MeetingStatus.CANCELLED) or not is_live(registration_status):
        return f"this registration is {registration_status} and the meeting {meeting_status}; it cannot change"
    return time_problem("cancel_registration", clock, now)


def already_cancelled(registration_status: str) -> bool:
    """Whether a cancellation has nothing to do (it is idempotent: the second one answers as the first)."""
    return registration_status == RegistrationStatus.CANCELLED


def frees_a_place(registration_status: str, meeting_status: str) -> bool:
    """Whether cancelling a registration with ``registration_status`` gives its place to the next person
    waiting: only a confirmed place, in a meeting whose places still move (published or registration
    closed). Source: DESIGN.md §7 ("cancel (promotes the next waitlisted)")."""
    return registration_status == RegistrationStatus.CONFIRMED and meeting_status in PLACES_MOVE_IN


def cancelled_by_erasure(registration_status: str, meeting_status: str) -> bool:
    """Whether erasing the participant cancels this registration: a live place in a meeting whose places
    still move; past and cancelled meetings keep the (anonymous) row for the counts. Source: DESIGN.md
    §10 ("erasure leaves nothing"), the erasure route in §7."""
    return is_live(registration_status) and meeting_status in PLACES_MOVE_IN


def attendance_problem(registration_status: str, meeting_status: str, clock: MeetingClock, now: datetime) -> str | None:
    """Why attendance (``attended`` / ``no_show``) cannot be recorded now, or None: from the meeting's
    start (``time_problem("attendance")``), not for a cancelled meeting, and only for a confirmed place
    (or one already recorded, which may be corrected). Source: DESIGN.md §2 (``attended`` / ``no_show``
    follow ``confirmed``), issue 17."""
    problem = time_problem("attendance", clock, now)
    if problem:
        return problem
    if meeting_status == MeetingStatus.CANCELLED:
        return "the meeting was cancelled"
    if registration_status not in ATTENDANCE_FROM:
        return f"only confirmed participants attend; this registration is {registration_status}"
    return None


def feedback_problem(registration_status: str, meeting_status: str, clock: MeetingClock, now: datetime) -> str | None:
    """Why the participant cannot give feedback now, or None: not for a cancelled meeting, from the
    meeting's end (``time_problem("feedback")``), and only by those who took part (confirmed or
    attended; a recorded no-show is told to ask the coordinator). Source: DESIGN.md §1 ("organisers
    collect feedback") and §3, issue 17."""
    if meeting_status == MeetingStatus.CANCELLED:
        return "the meeting was cancelled; there is nothing to give feedback on"
    problem = time_problem("feedback", clock, now)
    if problem:
        return problem
    if registration_status == RegistrationStatus.NO_SHOW:
        return (
            "this registration is recorded as a no-show; feedback is for those who took part"
            " (if you were there, ask the coordinator to record your attendance)"
        )
    if registration_status not in FEEDBACK_FROM:
        return f"this registration is {registration_status}; feedback is for those who took part"
    return None


def pairs_change_problem(meeting_status: str, clock: MeetingClock, now: datetime) -> str | None:
    """Why the coordinator cannot swap, lock or publish pairs now, or None: matching proposes them when
    registration closes, so only in a ``registration_closed`` meeting that has not ended
    (``time_problem("change_pairs")``). Source: DESIGN.md §1 ("the coordinator can adjust before the pairs
    are announced"), issue 17."""
    if meeting_status != MeetingStatus.REGISTRATION_CLOSED:
        return f"the meeting is {meeting_status}; pairs can be changed after registration closes"
    return time_problem("change_pairs", clock, now)


# Where each seated registration sits in a plan: registration id -> (pair number, group).
Seats = Mapping[uuid.UUID, tuple[int, str]]


def swap_problem(seats: Seats, a: uuid.UUID, b: uuid.UUID, version: int) -> str | None:
    """Why registrations ``a`` and ``b`` cannot change places in version ``version`` of the plan, or None:
    both must be seated, of one group (every pair keeps a newcomer and a resident) and in two pairs.
    Source: DESIGN.md §1 (one newcomer with one resident; the coordinator can adjust the pairs)."""
    code = swap_problem_code(seats, a, b)
    if code == "not_seated":
        registration_id = a if a not in seats else b
        return f"registration {registration_id} is not seated in version {version} of the plan"
    if code == "two_groups":
        return "swap two newcomers or two residents, so every pair keeps one of each"
    if code == "same_pair":
        return "the two people sit in the same pair already"
    return None


def swap_problem_code(seats: Seats, a: uuid.UUID, b: uuid.UUID) -> str | None:
    """``swap_problem`` as a code a page words: ``not_seated``, ``two_groups``, ``same_pair``, or None."""
    if a not in seats or b not in seats:
        return "not_seated"
    if seats[a][1] != seats[b][1]:
        return "two_groups"
    if seats[a][0] == seats[b][0]:
        return "same_pair"
    return None


def lock_problem(seats: Seats, registration_id: uuid.UUID, version: int) -> str | None:
    """Why the pair of ``registration_id`` cannot be locked or unlocked in version ``version``, or None: the
    person must be seated in it. Source: DESIGN.md §1 (the coordinator can adjust before announcing)."""
    if registration_id not in seats:
        return f"registration {registration_id} is not seated in version {version}"
    return None


def publish_pairs_problem(requested: int, current: int, current_status: str) -> str | None:
    """Why version ``requested`` of the plan cannot be announced, or None: it must be the ``current``
    version (the one the coordinator reviewed) and not published already (``current_status``).
    Source: DESIGN.md §1 ("the coordinator can adjust before the pairs are announced")."""
    code = publish_pairs_problem_code(requested, current, current_status)
    if code == "old_version":
        return f"the current plan is version {current}; review it and publish that version"
    if code == "published_already":
        return f"version {current} is published already"
    return None


def publish_pairs_problem_code(requested: int, current: int, current_status: str) -> str | None:
    """``publish_pairs_problem`` as a code a page words: ``old_version``, ``published_already``, or None."""
    if requested != current:
        return "old_version"
    if current_status == "published":
        return "published_already"
    return None


def proven_contact(email: str | None, phone: str | None) -> tuple[str | None, str | None]:
    """The contact the confirmation goes to, so the one a confirmed sign-up proves: the e-mail when there
    is one, else the phone. Returns (email, None) or (None, phone). Source: DESIGN.md §10 (double opt-in:
    only a proven contact may join a known participant)."""
    return (email, None) if email else (None, phone)


def confirmation_link_problem(signup_status: str, expires_at: datetime, now: datetime) -> str | None:
    """Why a (valid) confirmation link of a sign-up with ``signup_status`` (``pending``, ``confirmed``,
    ``repeated``, ``expired``) and ``expires_at`` cannot be used at ``now``, or None. Source: DESIGN.md §10
    ("unconfirmed sign-ups hold no place and expire")."""
    if signup_status in ("confirmed", "repeated"):
        return "this sign-up is confirmed already; the link to your place is in the message we sent you"
    if signup_status == "expired" or expires_at <= now:
        return "this confirmation link has expired; please sign up again"
    return None


def erasure_link_problem(
    participant_erased: bool, closed_at: datetime | None, expires_at: datetime, now: datetime
) -> str | None:
    """Why a (valid) erasure link cannot be used at ``now``, or None: the person is erased already, or
    the request was closed or has expired. Source: DESIGN.md §10 (erasure, confirmed from one's own
    contact)."""
    if participant_erased:
        return "your data has been erased already"
    if closed_at is not None or expires_at <= now:
        return "this link has expired; ask again from your page for the meeting"
    return None


CEFR = ("A1", "A2", "B1", "B2", "C1", "C2")


def level_problem(level: str | None, minimum: str) -> str | None:
    """Why a newcomer's oral-Norwegian level (a CEFR level, A1 … C2) does not meet the format's minimum,
    or None. Source: DESIGN.md §1 ("a functional oral Norwegian level so conversation flows")."""
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
    """What the participant's own page offers: ``cancel``, ``feedback`` and ``contact`` exactly when the use
    cases would accept them (status and clock), ``erase`` always (the right to erasure outlives a cancelled
    place). Source: issue 17 ("pages must not offer what the rules refuse")."""
    offers = {"erase"}
    if contact_change_problem(registration_status, meeting_status) is None:
        offers.add("contact")
    if (
        meeting_status in PLACES_MOVE_IN
        and cancellation_problem(registration_status, meeting_status, clock, now) is None
    ):
        offers.add("cancel")
    if not feedback_given and feedback_problem(registration_status, meeting_status, clock, now) is None:
        offers.add("feedback")
    return frozenset(offers)


def contact_change_problem(registration_status: str, meeting_status: str) -> str | None:
    """Why a participant may not change their e-mail or phone now, or None: only while their place is live
    (confirmed or waiting) and the meeting is still ahead (published or closed for sign-up). A cancelled
    place, a held or cancelled meeting needs no new contact; a stale manage link must not move a person's
    messages (and their erasure link) to another address."""
    if registration_status not in LIVE:
        return f"the registration is {registration_status}: contact details change only with a live place"
    if meeting_status not in PLACES_MOVE_IN:
        return f"the meeting is {meeting_status}: contact details change only before it"
    return None


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


# --- the participant pages: what a public page lists and says about places ------------------------------


@dataclass(frozen=True)
class Availability:
    """What the public page says about one group of a meeting: ``free`` places left (people), or, when
    none is free, ``waiting`` (how many wait already; a new sign-up joins the waiting list)."""

    free: int
    waiting: int

    @property
    def full(self) -> bool:
        """No free place: a new sign-up goes on the waiting list."""
        return self.free == 0


def availability(capacity: int, confirmed: int, waitlisted: int) -> Availability:
    """A group's places as the public page tells them: free places (``capacity`` minus ``confirmed``, never
    negative; all counts are people) and how many wait. Source: issue 12 («3 plasser igjen» /
    «venteliste»), DESIGN.md §8 (capacity and the waiting list)."""
    return Availability(
        free=free_places(capacity, confirmed), waiting=max(0, waitlisted) if confirmed >= capacity else 0
    )


def listed_publicly(tenant_status: str, meeting_status: str, clock: MeetingClock, now: datetime) -> bool:
    """Whether the tenant's public page lists the meeting at ``now``: an active tenant's published meeting
    that has not started yet (an aware datetime). Sign-up may have closed by the clock already; its page
    then says so. Source: issue 12 (the public page lists the upcoming published meetings)."""
    return tenant_status == "active" and meeting_status == MeetingStatus.PUBLISHED and now < clock.starts_at


def form_group(invitation_code: str | None) -> Group:
    """Which group the public sign-up form signs up: a newcomer when the page was opened with an invitation
    code (``?code=``), else a resident. Source: DESIGN.md §7 (newcomers sign up with the meeting's code)."""
    return "newcomer" if invitation_code else "resident"


def first_name(name: str | None) -> str | None:
    """The first word of a person's name, as a partner is shown to the other (None for an erased name).
    Source: issue 12 (the manage page shows the partner's first name once pairs are published)."""
    if not name or not name.strip():
        return None
    return name.split()[0]


@dataclass(frozen=True)
class Seat:
    """Where a participant sits once the pairs are published: the pair's ``number`` (the table's order),
    the person's own ``seat`` number, and the participant ids of the others in the pair."""

    pair_number: int
    seat: int
    partner_ids: tuple[uuid.UUID, ...]


def seat_of(plan: Mapping[str, object], registration_id: uuid.UUID) -> Seat | None:
    """The seat of ``registration_id`` in a seating plan (matching's ``Pairing`` as JSON), or None when the
    plan is not published or does not seat it. Source: DESIGN.md §5 (``matching.pairs_published``)."""
    if plan.get("status") != "published":
        return None
    pairs = plan.get("pairs")
    for pair in pairs if isinstance(pairs, list) else []:
        members = pair.get("members", [])
        mine = [m for m in members if str(m.get("registration_id")) == str(registration_id)]
        if mine:
            others = tuple(uuid.UUID(str(m["participant_id"])) for m in members if m is not mine[0])
            return Seat(pair_number=int(pair["number"]), seat=int(mine[0]["seat"]), partner_ids=others)
    return None
