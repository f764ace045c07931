"""What each consumed event writes into reporting's read model (the writers are pure)."""

from __future__ import annotations

import uuid

from services.reporting import handlers
from shared.events import (
    FeedbackGiven,
    NotificationOutcome,
    Pair,
    Pairing,
    PairMember,
    Profile,
    RegistrationChanged,
    make_event,
)

TENANT, MEETING = uuid.uuid4(), uuid.uuid4()


def registration(type_: str, status: str, first_time: bool | None = True) -> list[tuple]:
    data = RegistrationChanged(
        registration_id=uuid.uuid4(),
        participant_id=uuid.uuid4(),
        meeting_id=MEETING,
        tenant_id=TENANT,
        group="resident",
        status=status,
        language="nb",
        profile=Profile(first_time=first_time, interests=["music"]),
    )
    return [args for _, args in handlers.WRITERS[type_](make_event(type_, TENANT, data))]


def test_a_promotion_is_remembered_and_the_profile_reduced_to_first_time() -> None:
    (args,) = registration("registration.promoted", "confirmed")
    assert args[3:] == ("resident", "confirmed", True, True)  # group, status, promoted, first time
    (args,) = registration("registration.no_show", "no_show", first_time=None)
    assert args[3:] == ("resident", "no_show", False, None)


def test_pairs_and_trios_of_a_plan() -> None:
    def member(group: str, seat: int) -> PairMember:
        return PairMember(
            participant_id=uuid.uuid4(), registration_id=uuid.uuid4(), group=group, seat=seat, side="left"
        )

    plan = Pairing(
        meeting_id=MEETING,
        tenant_id=TENANT,
        version=2,
        pairs=[
            Pair(number=1, members=[member("newcomer", 1), member("resident", 2)]),
            Pair(number=2, members=[member("newcomer", 3), member("resident", 4), member("resident", 5)]),
            Pair(number=3, members=[member("newcomer", 6), member("resident", 7)]),
        ],
    )
    ((_, args),) = handlers.WRITERS["matching.pairs_proposed"](make_event("matching.pairs_proposed", TENANT, plan))
    assert args == (MEETING, TENANT, 2, 2, 1)


def test_feedback_and_notification_outcomes_keep_no_text() -> None:
    answer = FeedbackGiven(
        registration_id=uuid.uuid4(),
        participant_id=uuid.uuid4(),
        meeting_id=MEETING,
        tenant_id=TENANT,
        group="newcomer",
        rating=4,
        new_connection=True,
        would_recommend=False,
    )
    ((_, args),) = handlers.WRITERS["feedback.given"](make_event("feedback.given", TENANT, answer))
    assert args[3:] == ("newcomer", 4, True, False)
    failed = make_event(
        "notification.failed",
        TENANT,
        NotificationOutcome(
            notification_id=uuid.uuid4(),
            tenant_id=TENANT,
            participant_id=uuid.uuid4(),
            kind="reminder_24h",
            channel="sms",
            error="invalid number +47 412 98 765",
        ),
    )
    ((_, args),) = handlers.WRITERS["notification.failed"](failed)
    assert args[2:5] == (None, "sms", "failed")
    assert not any("412 98 765" in str(a) or "invalid number" in str(a) for a in args)  # the error text is not kept
