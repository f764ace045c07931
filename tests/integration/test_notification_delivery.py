"""Notification through the real broker, real PostgreSQL, a real SMTP server (aiosmtpd) and a fake SMS
gateway that the test starts. The service runs in-process with a clock the test can move, so
reminders, feedback requests and quiet hours can be reached without waiting for them (the harness is
``tests/notification_support.py``).

Each test starts the service with its own database and consumer group, whose offsets are first
moved to the end of the topics: it sees only the events the test publishes.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from services.notification import templates
from services.notification.domain import WITH_CALENDAR
from shared.events import RegistrationChanged, make_event
from tests.notification_support import (
    OSLO,
    ControlledSmtp,
    Events,
    FakeSmsGateway,
    MovableClock,
    Person,
    at_least,
    group_of,
    kinds_by_id,
    local,
    notification_service,
    outcome_events,
    rows,
    service_settings,
    settled,
    start_at_the_end,
)
from tests.support import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


# --- the tests -------------------------------------------------------------------------------------------------

SUBJECTS = {  # (kind, language) -> the start of the subject
    ("registration_confirmed", "nb"): "Du er påmeldt: Kaffe og prat",
    ("registration_confirmed", "nn"): "Du er påmeld: Kaffe og prat",
    ("registration_confirmed", "en"): "You are signed up: Kaffe og prat",
    ("registration_waitlisted", "nn"): "Du står på venteliste",
    ("registration_promoted", "nn"): "Du har fått plass",
    ("registration_cancelled", "en"): "You are no longer signed up",
    ("meeting_changed", "nb"): "Endring i møtet",
    ("meeting_changed", "en"): "Change to the meeting",
    ("meeting_changed", "nn"): "Endring i møtet",
    ("pairs_published", "nb"): "Din plass ved bordet",
    ("pairs_published", "en"): "Your seat at the table",
    ("pairs_published", "nn"): "Plassen din ved bordet",
    ("seat_changed", "nn"): "Ny plass ved bordet",
    ("reminder_24h", "nb"): "Påminnelse: Kaffe og prat",
    ("reminder_24h", "en"): "Reminder: Kaffe og prat",
    ("reminder_24h", "nn"): "Påminning: Kaffe og prat",
    ("feedback_request", "nb"): "Hvordan var møtet?",
    ("feedback_request", "nn"): "Korleis var møtet?",
    ("erasure_confirmed", "nb"): "Opplysningene dine er slettet",
    ("meeting_cancelled", "en"): "The meeting is cancelled",
}


async def test_every_kind_of_message_once_in_the_right_language_with_the_right_content(
    database: str,
    kafka_bootstrap: str,
    mailserver: ControlledSmtp,
    gateway: FakeSmsGateway,
    producer: AIOKafkaProducer,
) -> None:
    domain = f"{uuid.uuid4().hex[:8]}.example.no"
    clock = MovableClock()
    settings = service_settings(database, kafka_bootstrap, mailserver, gateway)
    await start_at_the_end(kafka_bootstrap, group_of(settings))
    ev = Events(producer)
    amina = Person("Amina", "nb", domain, phone="+4791000001", group="newcomer")
    bjorn = Person("Bjorn", "nn", domain)
    chris = Person("Chris", "en", domain, phone="+4791000003")
    dawit = Person("Dawit", "ar", domain, email=False, phone="+4791000004", group="newcomer")  # SMS only, bokmål
    eva = Person("Eva", "nn", domain)
    frida = Person("Frida", "en", domain)
    people = [amina, bjorn, chris, dawit, eva, frida]
    meeting, other = uuid.uuid4(), uuid.uuid4()
    starts = local(datetime.now(UTC) + timedelta(days=3), 12)  # 12:00 in Oslo, three days ahead
    other_starts = starts + timedelta(days=7)

    async with notification_service(settings, clock):
        await ev.tenant_created()
        await ev.meeting("meeting.published", meeting, starts)
        await ev.meeting("meeting.published", other, other_starts)
        for p in people:
            await ev.contact(p, other if p is frida else meeting)
        for p in (amina, bjorn, chris, dawit):
            await ev.registration("registration.confirmed", p, meeting)
        await ev.registration("registration.waitlisted", eva, meeting)
        await ev.registration("registration.confirmed", frida, other)
        await settled(settings, clock)
        # Bjørn cancels; Eva gets his place. Then the meeting moves one hour later.
        await ev.registration("registration.cancelled", bjorn, meeting, promoted=eva)
        await ev.registration("registration.promoted", eva, meeting)
        await settled(settings, clock)
        starts += timedelta(hours=1)
        await ev.meeting("meeting.changed", meeting, starts)
        await ev.meeting("meeting.cancelled", other, other_starts, status="cancelled")
        # The pairs are published; then a re-match swaps the seats of the second pair.
        await ev.pairs(meeting, 1, [(amina, 1, chris, 2), (dawit, 3, eva, 4)], [])
        await ev.pairs(meeting, 2, [(amina, 1, chris, 2), (dawit, 4, eva, 3)], [])
        await settled(settings, clock)

        reminders = {(r["kind"], r["participant_id"]): r for r in await rows(settings, "kind LIKE 'reminder%'")}
        assert reminders[("reminder_24h", amina.participant_id)]["due_at"] == starts - timedelta(hours=24)
        assert reminders[("reminder_2h", amina.participant_id)]["status"] == "pending"
        assert not [
            r for r in reminders.values() if r["participant_id"] in (bjorn.participant_id, frida.participant_id)
        ]

        clock.move_to(starts - timedelta(hours=24) + timedelta(seconds=1))
        await settled(settings, clock)
        clock.move_to(starts - timedelta(hours=2) + timedelta(seconds=1))
        await settled(settings, clock)
        await ev.registration("registration.attended", amina, meeting)
        await ev.registration("registration.no_show", chris, meeting)
        await settled(settings, clock)
        clock.move_to(starts + timedelta(minutes=105, seconds=1))
        await settled(settings, clock)
        await ev.erased(amina)
        await ev.erased(frida, reason="retention")  # erased when the retention period ended: no message
        await settled(settings, clock)

        record = await kinds_by_id(settings)
        mails = mailserver.to(domain)
        texts = gateway.to({p.phone for p in people if p.phone})
        got = Counter((m.to.split("@")[0], record[m.notification_id]) for m in mails)
        got.update((next(p.name.lower() for p in people if p.phone == s.to), record[s.reference]) for s in texts)
        assert got == Counter(
            {
                ("amina", "registration_confirmed"): 1,
                ("bjorn", "registration_confirmed"): 1,
                ("chris", "registration_confirmed"): 1,
                ("dawit", "registration_confirmed"): 1,  # SMS: no e-mail address
                ("eva", "registration_waitlisted"): 1,
                ("frida", "registration_confirmed"): 1,
                ("bjorn", "registration_cancelled"): 1,
                ("eva", "registration_promoted"): 1,
                ("amina", "meeting_changed"): 1,
                ("chris", "meeting_changed"): 1,
                ("dawit", "meeting_changed"): 1,
                ("eva", "meeting_changed"): 1,
                ("frida", "meeting_cancelled"): 1,
                ("amina", "pairs_published"): 1,
                ("chris", "pairs_published"): 1,
                ("dawit", "pairs_published"): 1,
                ("eva", "pairs_published"): 1,
                ("dawit", "seat_changed"): 1,  # only the two whose seats changed
                ("eva", "seat_changed"): 1,
                ("amina", "reminder_24h"): 1,
                ("chris", "reminder_24h"): 1,
                ("dawit", "reminder_24h"): 1,
                ("eva", "reminder_24h"): 1,
                ("amina", "reminder_2h"): 1,  # SMS, to those with a phone number
                ("chris", "reminder_2h"): 1,
                ("dawit", "reminder_2h"): 1,
                ("amina", "feedback_request"): 1,  # attended
                ("dawit", "feedback_request"): 1,
                ("eva", "feedback_request"): 1,  # not Chris: he did not come
                ("amina", "erasure_confirmed"): 1,
            }
        )
        for m in mails:
            who = next(p for p in people if p.address == m.to)
            kind = record[m.notification_id]
            expected = SUBJECTS.get((kind, who.language))
            if expected:
                assert str(m.message["Subject"]).startswith(expected), (who.name, kind, m.message["Subject"])
            assert m.message["Content-Language"] == who.language
            assert f"{who.name}!" in m.body
            if kind in ("registration_confirmed", "registration_promoted", "reminder_24h", "pairs_published"):
                assert who.manage_url in m.body, (who.name, kind)
                promise = {
                    "nb": ["på dagtid", "1 time og 45 minutter", "ingen plikt til å holde kontakt"],
                    "nn": ["på dagtid", "1 time og 45 minutt", "inga plikt til å halde kontakt"],
                    "en": ["in the daytime", "1 hour and 45 minutes", "no obligation to keep in touch"],
                }[who.language]
                assert all(phrase in m.body for phrase in promise), (who.name, kind)
        by_kind = {(m.to.split("@")[0], record[m.notification_id]): m for m in mails}
        # The place, its change and the day-before reminder carry the meeting as a calendar file; each file
        # about one registration has the same UID, so the calendar updates its entry rather than adding one.
        uids: dict[str, set[bytes]] = {}
        for m in mails:
            kind = record[m.notification_id]
            attached = m.calendar
            assert (attached is not None) == (kind in WITH_CALENDAR), (m.to, kind)
            if attached is not None:
                content_type, ics = attached
                assert content_type.startswith("text/calendar") and "PUBLISH" in content_type
                uid = next(line for line in ics.splitlines() if line.startswith(b"UID:"))
                uids.setdefault(m.to, set()).add(uid)
                assert b"DTSTART;TZID=Europe/Oslo:" in ics, (m.to, kind)
        assert all(len(found) == 1 for found in uids.values()) and len(uids) == 5, uids
        amina_ics = by_kind[("amina", "reminder_24h")].calendar
        assert amina_ics is not None and f"DTSTART;TZID=Europe/Oslo:{starts:%Y%m%dT}13".encode() in amina_ics[1]
        day = templates.long_date(starts.astimezone(OSLO), "nb")
        assert f"Når: {day} kl. 13.00–14.45" in by_kind[("amina", "reminder_24h")].body
        assert "13:00–14:45" in by_kind[("chris", "meeting_changed")].body
        assert "The meeting has a new time." in by_kind[("chris", "meeting_changed")].body
        # From what to what: the old time as well as the new (issue 17, kind 7).
        assert "The time has moved from " in by_kind[("chris", "meeting_changed")].body
        assert "12:00–13:45," in by_kind[("chris", "meeting_changed")].body  # the old time, one hour earlier
        seat = by_kind[("amina", "pairs_published")].body
        assert "På møtet sitter du på plass 1." in seat and "Dere har felles interesser: Fotball, Matlaging." in seat
        assert "Chris" not in seat and "chris@" not in seat and "+4791000003" not in seat  # never the partner
        assert "At the meeting you sit at seat 2." in by_kind[("chris", "pairs_published")].body
        assert "Football, Cooking" in by_kind[("chris", "pairs_published")].body
        assert "På møtet sit du på plass 3." in by_kind[("eva", "seat_changed")].body
        assert eva.manage_url in by_kind[("eva", "feedback_request")].body
        texts_by = {(s.to, record[s.reference]): s for s in texts}
        dawit_confirmed = texts_by[(dawit.phone, "registration_confirmed")].text  # type: ignore[index]
        assert dawit_confirmed.startswith("Hei Dawit! Du er påmeldt Kaffe og prat")  # Arabic -> bokmål
        assert "Dagtid, 1 t 45 min. Ingen plikt til kontakt etterpå." in dawit_confirmed
        assert dawit.manage_url in dawit_confirmed
        assert dawit.manage_url.replace("?token=", "/calendar.ics?token=") in dawit_confirmed
        assert "plass 4" in texts_by[(dawit.phone, "seat_changed")].text  # type: ignore[index]
        two_hours = texts_by[(chris.phone, "reminder_2h")].text  # type: ignore[index]
        assert two_hours.startswith("Hi Chris! Today 13:00-14:45: Kaffe og prat, Arendal bibliotek")
        assert all(s.sender == "FolkMoter" for s in texts)
        # Reminders of the cancelled meeting are gone; the erased participant's details too.
        assert not await rows(settings, "meeting_id = $1 AND status = 'pending'", other)
        conn = await asyncpg.connect(settings.database_url)
        try:
            erased = [amina.participant_id, frida.participant_id]
            for table in ("contacts", "manage_links"):
                query = f"SELECT count(*) FROM {table} WHERE participant_id = ANY($1::uuid[])"
                assert await conn.fetchval(query, erased) == 0, table
            assert await conn.fetchval("SELECT count(*) FROM contacts WHERE participant_id = $1", eva.participant_id)
        finally:
            await conn.close()
        skipped = {
            (r["participant_id"], r["kind"]): r["last_error"] for r in await rows(settings, "status = 'skipped'")
        }
        assert skipped[(eva.participant_id, "reminder_2h")] == "no phone number"
        assert skipped[(chris.participant_id, "feedback_request")] == "the participant did not take part"

        # Kafka delivers at least once: every event again changes nothing and sends nothing.
        sent_before = (len(mailserver.mails), len(gateway.received))
        record_before = [dict(r) for r in await rows(settings)]
        await ev.replay()
        await settled(settings, clock)  # every replayed event consumed; nothing left that could go out
        assert (len(mailserver.mails), len(gateway.received)) == sent_before
        assert [dict(r) for r in await rows(settings)] == record_before
        sent_ids = {str(r["id"]) for r in record_before if r["status"] == "sent"}
        assert len(await outcome_events(kafka_bootstrap, sent_ids)) == len(sent_ids)


async def test_a_duplicated_event_sends_nothing_twice_and_a_late_manage_link_is_waited_for(
    database: str, kafka_bootstrap: str, mailserver: ControlledSmtp, gateway: FakeSmsGateway, producer: AIOKafkaProducer
) -> None:
    domain = f"{uuid.uuid4().hex[:8]}.example.no"
    settings = service_settings(database, kafka_bootstrap, mailserver, gateway)
    await start_at_the_end(kafka_bootstrap, group_of(settings))
    ev = Events(producer)
    kari, ola = Person("Kari", "nb", domain), Person("Ola", "en", domain)
    meeting = uuid.uuid4()
    async with notification_service(settings):
        await ev.meeting("meeting.published", meeting, local(datetime.now(UTC) + timedelta(days=5), 11))
        await ev.contact(kari, meeting, link=False)
        await ev.contact(ola, meeting)
        confirmed = make_event(
            "registration.confirmed",
            ev.tenant,
            RegistrationChanged(
                registration_id=kari.registration_id,
                participant_id=kari.participant_id,
                meeting_id=meeting,
                tenant_id=ev.tenant,
                group="resident",
                status="confirmed",
                language="nb",
            ),
        )
        for _ in range(3):  # the same event three times, as a producer retry or a rebalance delivers it
            await ev.send(confirmed, str(meeting))
        await ev.registration("registration.confirmed", ola, meeting)
        await eventually(lambda: at_least(mailserver.to(domain), 1), timeout_s=20)
        await settled(settings)  # all three copies consumed; nothing the sender could send is left
        assert [m.to for m in mailserver.to(domain)] == [ola.address]  # Kari's message waits for her manage link
        [waiting] = await rows(settings, "participant_id = $1 AND kind = 'registration_confirmed'", kari.participant_id)
        assert waiting["kind"] == "registration_confirmed" and waiting["status"] == "pending"
        assert waiting["due_at"] <= datetime.now(UTC)  # due: held back for the link alone
        await ev.manage_link(kari, meeting)
        await settled(settings)
        mails = mailserver.to(domain)
        assert sorted(m.to for m in mails) == sorted([str(kari.address), str(ola.address)])
        kari_mail = next(m for m in mails if m.to == kari.address)
        assert kari.manage_url in kari_mail.body
        assert (
            len(await rows(settings, "participant_id = $1 AND kind = 'registration_confirmed'", kari.participant_id))
            == 1
        )


async def test_quiet_hours_defer_an_sms_to_the_morning_but_not_an_e_mail(
    database: str, kafka_bootstrap: str, mailserver: ControlledSmtp, gateway: FakeSmsGateway, producer: AIOKafkaProducer
) -> None:
    domain = f"{uuid.uuid4().hex[:8]}.example.no"
    clock = MovableClock()
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    clock.move_to(local(tomorrow, 22, 30))  # 22:30 in Oslo
    settings = service_settings(database, kafka_bootstrap, mailserver, gateway)
    await start_at_the_end(kafka_bootstrap, group_of(settings))
    ev = Events(producer)
    by_sms = Person("Sara", "nb", domain, email=False, phone="+4793000001")
    by_mail = Person("Mats", "nb", domain)
    meeting = uuid.uuid4()
    async with notification_service(settings, clock):
        await ev.meeting("meeting.published", meeting, local(tomorrow + timedelta(days=5), 11))
        for p in (by_sms, by_mail):
            await ev.contact(p, meeting)
            await ev.registration("registration.confirmed", p, meeting)
        await eventually(lambda: at_least(mailserver.to(domain), 1), timeout_s=20)
        await settled(settings, clock)  # both handled: the e-mail sent, the SMS deferred (nothing due at 22:30)
        assert gateway.to({str(by_sms.phone)}) == []
        [deferred] = await rows(
            settings, "participant_id = $1 AND kind = 'registration_confirmed'", by_sms.participant_id
        )
        morning = local(tomorrow + timedelta(days=1), 8)
        assert deferred["status"] == "pending" and deferred["due_at"] == morning and deferred["channel"] == "sms"
        clock.move_to(morning - timedelta(minutes=1))
        await settled(settings, clock)  # a minute before 08:00 the sender has nothing to send
        assert gateway.to({str(by_sms.phone)}) == []
        [still] = await rows(settings, "id = $1", deferred["id"])
        assert still["status"] == "pending" and still["due_at"] == morning > clock()
        clock.move_to(morning + timedelta(seconds=1))
        texts = await eventually(lambda: at_least(gateway.to({str(by_sms.phone)}), 1), timeout_s=10)
        await settled(settings, clock)
    assert len(gateway.to({str(by_sms.phone)})) == 1 and texts[0].text.startswith("Hei Sara!")


async def test_sign_ups_one_after_another_each_get_their_confirmation_once(
    database: str, kafka_bootstrap: str, mailserver: ControlledSmtp, gateway: FakeSmsGateway, producer: AIOKafkaProducer
) -> None:
    """Sixty sign-ups published one at a time: each gets one confirmation, recorded as sent after the event
    that caused it. (How long that takes is measured by ``python -m bench.notification_latency``.)"""
    domain = f"{uuid.uuid4().hex[:8]}.example.no"
    settings = service_settings(database, kafka_bootstrap, mailserver, gateway)
    await start_at_the_end(kafka_bootstrap, group_of(settings))
    ev = Events(producer)
    people = [Person(f"l{i}", "nb", domain) for i in range(60)]
    meeting = uuid.uuid4()
    async with notification_service(settings):
        await ev.meeting("meeting.published", meeting, local(datetime.now(UTC) + timedelta(days=5), 11))
        for p in people:
            await ev.contact(p, meeting)
        await settled(settings)
        for p in people:  # one sign-up at a time, as people sign up
            await ev.registration("registration.confirmed", p, meeting)
        await eventually(lambda: at_least(mailserver.to(domain), len(people)), timeout_s=30)
        await settled(settings)
        record = await rows(settings, "kind = 'registration_confirmed'")
    assert Counter(m.to for m in mailserver.to(domain)) == Counter({str(p.address): 1 for p in people})
    assert len(record) == len(people) and all(r["status"] == "sent" and r["attempts"] == 1 for r in record)
    assert {str(r["id"]) for r in record} == {m.notification_id for m in mailserver.to(domain)}
    assert all(r["sent_at"] is not None and r["cause_occurred_at"] <= r["created_at"] for r in record)


async def test_every_message_names_the_municipality_and_whom_to_contact_there(
    database: str, kafka_bootstrap: str, mailserver: ControlledSmtp, gateway: FakeSmsGateway, producer: AIOKafkaProducer
) -> None:
    """Issue 17, kind 7: no mail named the municipality, and "Kontakt arrangøren" gave no contact. The
    contact is a tenant setting that travels on tenant.created / tenant.updated."""
    domain = f"{uuid.uuid4().hex[:8]}.example.no"
    settings = service_settings(database, kafka_bootstrap, mailserver, gateway)
    await start_at_the_end(kafka_bootstrap, group_of(settings))
    ev = Events(producer)
    kari = Person("Kari", "nb", domain)
    meeting = uuid.uuid4()
    async with notification_service(settings):
        await ev.tenant_created()
        await ev.tenant_created("tenant.updated", contact_email="fmf@kommune.example.no", contact_phone="+4737013000")
        await settled(settings)
        await ev.meeting("meeting.published", meeting, local(datetime.now(UTC) + timedelta(days=5), 11))
        await ev.contact(kari, meeting)
        await ev.registration("registration.confirmed", kari, meeting)
        await settled(settings)  # sent before the cancellation, which would make it stale
        await ev.registration("registration.cancelled", kari, meeting)
        await settled(settings)
        mails = mailserver.to(domain)
    assert len(mails) == 2
    for mail in mails:
        assert "T – Folk møter folk" in mail.body
        assert "Kontakt arrangøren: fmf@kommune.example.no, tlf. +4737013000" in mail.body


async def test_those_still_waiting_hear_once_that_they_did_not_get_a_place(
    database: str, kafka_bootstrap: str, mailserver: ControlledSmtp, gateway: FakeSmsGateway, producer: AIOKafkaProducer
) -> None:
    """Issue 17, kind 7: people on the waiting list were never told they did not get a place. They hear it
    once: when registration closes, or, when their waiting place reaches notification after the close (the
    topics are not ordered with each other), as soon as it arrives; never again when the meeting is over."""
    domain = f"{uuid.uuid4().hex[:8]}.example.no"
    settings = service_settings(database, kafka_bootstrap, mailserver, gateway)
    await start_at_the_end(kafka_bootstrap, group_of(settings))
    ev = Events(producer)
    placed, waiting, late = Person("Kari", "nb", domain), Person("Ola", "en", domain), Person("Siv", "nn", domain)
    meeting = uuid.uuid4()
    starts = local(datetime.now(UTC) + timedelta(days=5), 11)
    async with notification_service(settings):
        await ev.meeting("meeting.published", meeting, starts)
        for p in (placed, waiting, late):
            await ev.contact(p, meeting)
        await ev.registration("registration.confirmed", placed, meeting)
        await ev.registration("registration.waitlisted", waiting, meeting)
        await settled(settings)
        await ev.meeting("meeting.registration_closed", meeting, starts, status="registration_closed")
        await ev.meeting("meeting.registration_closed", meeting, starts, status="registration_closed")  # again
        await settled(settings)
        await ev.registration("registration.waitlisted", late, meeting)  # arrives after the close
        await settled(settings)
        await ev.meeting("meeting.completed", meeting, starts, status="completed")
        await settled(settings)
        record = await kinds_by_id(settings)
        ended = [m for m in mailserver.to(domain) if record[m.notification_id] == "waitlist_ended"]
    assert sorted(m.to for m in ended) == sorted([str(waiting.address), str(late.address)])
    by_to = {m.to: m for m in ended}
    closed = by_to[str(waiting.address)]
    assert str(closed.message["Subject"]).startswith("Registration has closed: Kaffe og prat")
    assert "you did not get a place" in closed.body and "If someone cancels before the meeting starts" in closed.body
    late_news = by_to[str(late.address)]
    assert str(late_news.message["Subject"]).startswith("Påmeldinga er stengd: Kaffe og prat")
    assert "fekk dessverre ikkje plass" in late_news.body
