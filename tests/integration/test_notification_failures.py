"""Notification when things go wrong: the SMTP server and the SMS gateway failing for a while, an
unknown mailbox and an invalid number, and the service being stopped while a reminder falls due.
Through the real broker, real PostgreSQL, aiosmtpd and the fake SMS gateway (the harness is
``tests/notification_support.py``)."""

from __future__ import annotations

import json
import math
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer

from tests.notification_support import (
    ControlledSmtp,
    Events,
    FakeSmsGateway,
    MovableClock,
    Person,
    at_least,
    at_least_events,
    daytime_clock,
    group_of,
    local,
    notification_service,
    rows,
    service_settings,
    settled,
    start_at_the_end,
)
from tests.support import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_smtp_down_for_a_while_then_every_message_is_delivered_exactly_once(
    database: str, kafka_bootstrap: str, mailserver: ControlledSmtp, gateway: FakeSmsGateway, producer: AIOKafkaProducer
) -> None:
    domain = f"{uuid.uuid4().hex[:8]}.example.no"
    clock = daytime_clock()  # SMS wait for the morning at night; this test is not about that
    settings = service_settings(database, kafka_bootstrap, mailserver, gateway)
    await start_at_the_end(kafka_bootstrap, group_of(settings))
    ev = Events(producer)
    people = [Person(f"p{i}", "nb", domain) for i in range(12)]
    texted = [Person(f"s{i}", "en", domain, email=False, phone=f"+479200000{i}") for i in range(4)]
    meeting = uuid.uuid4()
    async with notification_service(settings, clock):
        await ev.meeting("meeting.published", meeting, local(datetime.now(UTC) + timedelta(days=5), 11))
        for p in people + texted:
            await ev.contact(p, meeting)
        mailserver.down_until = gateway.down_until = math.inf  # down until each message was refused once
        for p in people + texted:
            await ev.registration("registration.confirmed", p, meeting)
        await eventually(lambda: all_refused(mailserver, gateway, people, texted), timeout_s=30)
        mailserver.down_until = gateway.down_until = 0.0
        await eventually(lambda: at_least(mailserver.to(domain), len(people)), timeout_s=30)
        await eventually(lambda: at_least(gateway.to({p.phone for p in texted if p.phone}), len(texted)), timeout_s=30)
        await settled(settings, clock)  # nothing left to retry: every message is sent, none is due again
    assert Counter(m.to for m in mailserver.to(domain)) == Counter({p.address: 1 for p in people})
    assert Counter(s.to for s in gateway.to({p.phone for p in texted if p.phone})) == Counter(
        {p.phone: 1 for p in texted}
    )
    assert all(mailserver.rcpt_attempts[str(p.address)] > 1 for p in people)  # each was refused with 451 at least once
    assert all(gateway.requests[p.phone] > 1 for p in texted)  # type: ignore[index]
    record = await rows(settings)
    assert {r["status"] for r in record} == {"sent", "pending"}  # pending: the reminders, not yet due
    confirmations = [r for r in record if r["kind"] == "registration_confirmed"]
    assert len(confirmations) == len(people) + len(texted) and all(r["status"] == "sent" for r in confirmations)
    assert all(r["attempts"] > 1 and r["last_error"] is None for r in confirmations)


async def test_a_permanent_failure_is_recorded_published_and_not_retried(
    database: str, kafka_bootstrap: str, mailserver: ControlledSmtp, gateway: FakeSmsGateway, producer: AIOKafkaProducer
) -> None:
    domain = f"{uuid.uuid4().hex[:8]}.example.no"
    clock = daytime_clock()
    settings = service_settings(database, kafka_bootstrap, mailserver, gateway)
    await start_at_the_end(kafka_bootstrap, group_of(settings))
    ev = Events(producer)
    unknown = Person("Nobody", "nb", domain)
    invalid = Person("Wrong", "nb", domain, email=False, phone="+4700000000")
    fine = Person("Fine", "nb", domain)
    mailserver.unknown.add(str(unknown.address))
    gateway.invalid.add(str(invalid.phone))
    meeting = uuid.uuid4()
    async with notification_service(settings, clock):
        await ev.meeting("meeting.published", meeting, local(datetime.now(UTC) + timedelta(days=5), 11))
        for p in (unknown, invalid, fine):
            await ev.contact(p, meeting)
            await ev.registration("registration.confirmed", p, meeting)
        await settled(settings, clock)  # every event consumed, nothing due or being sent, outcomes published
        failed = {r["participant_id"]: r for r in await rows(settings, "status = 'failed'")}
        # Failed is final: the sender claims pending rows only, so no retry is scheduled for either.
        assert not await rows(settings, "status = 'pending' AND kind = 'registration_confirmed'")
        events = await eventually(
            lambda: at_least_events(kafka_bootstrap, {str(r["id"]) for r in failed.values()}, 2), timeout_s=15
        )
    assert [m.to for m in mailserver.to(domain)] == [fine.address]
    assert mailserver.rcpt_attempts[str(unknown.address)] == 1
    assert gateway.requests[str(invalid.phone)] == 1
    assert set(failed) == {unknown.participant_id, invalid.participant_id}
    assert failed[unknown.participant_id]["attempts"] == 1 and "550" in failed[unknown.participant_id]["last_error"]
    assert failed[invalid.participant_id]["attempts"] == 1 and "400" in failed[invalid.participant_id]["last_error"]
    assert str(unknown.address) not in failed[unknown.participant_id]["last_error"]  # no contact details kept
    assert {e["type"] for e in events} == {"notification.failed"}
    assert {e["data"]["channel"] for e in events} == {"email", "sms"}
    assert all(str(unknown.address) not in json.dumps(e) for e in events)


async def test_after_the_last_attempt_a_notification_is_failed_and_published(
    database: str, kafka_bootstrap: str, mailserver: ControlledSmtp, gateway: FakeSmsGateway, producer: AIOKafkaProducer
) -> None:
    domain = f"{uuid.uuid4().hex[:8]}.example.no"
    settings = service_settings(database, kafka_bootstrap, mailserver, gateway, sender_max_attempts=4)
    await start_at_the_end(kafka_bootstrap, group_of(settings))
    ev = Events(producer)
    stuck = Person("Stuck", "en", domain)
    mailserver.busy.add(str(stuck.address))  # 451, every time
    meeting = uuid.uuid4()
    async with notification_service(settings):
        await ev.meeting("meeting.published", meeting, local(datetime.now(UTC) + timedelta(days=5), 11))
        await ev.contact(stuck, meeting)
        await ev.registration("registration.confirmed", stuck, meeting)
        [failed] = await eventually(lambda: rows(settings, "status = 'failed'"), timeout_s=20)
        [event] = await eventually(lambda: at_least_events(kafka_bootstrap, {str(failed["id"])}, 1), timeout_s=15)
        await settled(settings)  # failed is final: nothing of Stuck's is due or being sent any more
        [failed] = await rows(settings, "id = $1", failed["id"])
    assert failed["status"] == "failed"
    assert mailserver.rcpt_attempts[str(stuck.address)] == 4 and failed["attempts"] == 4
    assert failed["kind"] == "registration_confirmed" and "451" in failed["last_error"]
    assert event["type"] == "notification.failed" and event["data"]["kind"] == "registration_confirmed"
    assert "451" in event["data"]["error"] and event["causation_id"]
    assert mailserver.to(domain) == []


async def test_a_reminder_due_while_the_service_is_stopped_is_sent_after_restart(
    database: str, kafka_bootstrap: str, mailserver: ControlledSmtp, gateway: FakeSmsGateway, producer: AIOKafkaProducer
) -> None:
    domain = f"{uuid.uuid4().hex[:8]}.example.no"
    settings = service_settings(database, kafka_bootstrap, mailserver, gateway)
    await start_at_the_end(kafka_bootstrap, group_of(settings))
    ev = Events(producer)
    lise = Person("Lise", "nn", domain)
    meeting = uuid.uuid4()
    clock = MovableClock()  # the service's time: real time, until the test moves it while the service is stopped
    starts = local(datetime.now(UTC) + timedelta(days=3), 12)
    async with notification_service(settings, clock):
        await ev.meeting("meeting.published", meeting, starts)
        await ev.contact(lise, meeting)
        await ev.registration("registration.confirmed", lise, meeting)
        await eventually(lambda: at_least(mailserver.to(domain), 1), timeout_s=20)
        await settled(settings, clock)
    [reminder] = await rows(settings, "kind = 'reminder_24h'")
    assert reminder["status"] == "pending" and reminder["due_at"] == starts - timedelta(hours=24) > clock()
    stopped_at = time.time()
    clock.move_to(reminder["due_at"] + timedelta(seconds=1))  # it falls due while the service is stopped
    assert len(mailserver.to(domain)) == 1
    async with notification_service(settings, clock):
        mails = await eventually(lambda: at_least(mailserver.to(domain), 2), timeout_s=20)
        await settled(settings, clock)  # nothing else due: the 2-hour reminder and the feedback request wait
    assert len(mailserver.to(domain)) == 2
    assert str(mails[1].message["Subject"]).startswith("Påminning: Kaffe og prat")
    assert mails[1].received_at > stopped_at
    [reminder] = await rows(settings, "kind = 'reminder_24h'")
    assert reminder["status"] == "sent" and reminder["attempts"] == 1


async def all_refused(
    mailserver: ControlledSmtp, gateway: FakeSmsGateway, mailed: list[Person], texted: list[Person]
) -> bool:
    """Every address was tried (and, while down, refused) at least once, and every phone number."""
    return all(mailserver.rcpt_attempts[str(p.address)] >= 1 for p in mailed) and all(
        gateway.requests[str(p.phone)] >= 1 for p in texted
    )
