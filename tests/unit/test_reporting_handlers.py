"""What each consumed event writes into reporting's read model (the writers are pure)."""

from __future__ import annotations

import uuid

from services.reporting import handlers, store
from shared.events import (
    Envelope,
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


def written(event: Envelope) -> list[store.Write]:
    """The writes of one event, its payload decoded as the service's consumer decodes it."""
    return handlers.WRITERS[event.type](event, handlers.HANDLERS[event.type].decode(event))


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
    return [args for _, args in written(make_event(type_, TENANT, data))]


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
    ((_, args),) = written(make_event("matching.pairs_proposed", TENANT, plan))
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
    ((_, args),) = written(make_event("feedback.given", TENANT, answer))
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
    ((_, args),) = written(failed)
    assert args[2:5] == (None, "sms", "failed")
    assert not any("412 98 765" in str(a) or "invalid number" in str(a) for a in args)  # the error text is not kept


def test_a_writer_takes_the_typed_payload_and_writes_what_the_event_says() -> None:
    answer = FeedbackGiven(
        registration_id=uuid.uuid4(),
        participant_id=uuid.uuid4(),
        meeting_id=MEETING,
        tenant_id=TENANT,
        group="resident",
        rating=5,
        new_connection=False,
        would_recommend=True,
    )
    event = make_event("feedback.given", TENANT, answer)
    ((_, args),) = handlers.feedback_given(event, answer)
    assert args == (answer.registration_id, TENANT, MEETING, "resident", 5, False, True)


def test_every_writer_is_applied_by_the_service_and_only_tenants_and_tokens_have_other_handlers() -> None:
    assert set(handlers.WRITERS) <= set(handlers.HANDLERS)
    assert {t for t in handlers.HANDLERS if t not in handlers.WRITERS} == {
        "tenant.created",
        "tenant.updated",
        "tenant.suspended",
        "tenant.reactivated",
        "tenant.token_issued",
        "tenant.token_revoked",
    }
