"""Double opt-in and confirmed erasure through notification, and messages that cannot be built: with the
real broker, real PostgreSQL, a real SMTP server (aiosmtpd) and the fake SMS gateway (the harness is
``tests/notification_support.py``).

Each test also reads every log record the service wrote while it ran: none may hold an address, a phone
number, a name or a token.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from shared import topics
from shared.events import (
    ContactUpserted,
    ErasureRequestClosed,
    ErasureRequested,
    ManageLink,
    MeetingSnapshot,
    ParticipantErased,
    RegistrationChanged,
    SignupClosed,
    SignupRepeated,
    SignupRequested,
)
from shared.settings import Settings
from tests.notification_support import (
    BASE_URL,
    VENUE,
    ControlledSmtp,
    Events,
    FakeSmsGateway,
    Mail,
    at_least,
    consumed,
    daytime_clock,
    group_of,
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

BCC_TITLE = "Kaffe\rBcc: x@example.org"
PHISHING_NAME = "Kari\n\nVIKTIG: Plassen din er ikke bekreftet. Bekreft med BankID her: https://evil.example/fmf"


def token() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex[:11]


async def meeting(ev: Events, title: str = "Kaffe og prat", timezone: str = "Europe/Oslo") -> uuid.UUID:
    meeting_id = uuid.uuid4()
    data = MeetingSnapshot(
        meeting_id=meeting_id,
        tenant_id=ev.tenant,
        title=title,
        format="standard",
        status="published",
        starts_at=local(datetime.now(UTC) + timedelta(days=5), 11),
        duration_minutes=105,
        timezone=timezone,
        venue=VENUE,
        capacity={"newcomer": 10, "resident": 10},
    )
    await ev.publish("meeting.published", data, meeting_id)
    return meeting_id


async def participant(
    ev: Events, meeting_id: uuid.UUID, name: str, email: str | None, phone: str | None = None
) -> tuple[uuid.UUID, uuid.UUID, str]:
    """A participant with a contact, a manage link and a confirmed place: (participant, registration, token)."""
    pid, rid, manage_token = uuid.uuid4(), uuid.uuid4(), token()
    await ev.publish(
        "contact.upserted",
        ContactUpserted(participant_id=pid, tenant_id=ev.tenant, name=name, email=email, phone=phone),
        pid,
    )
    link = ManageLink(
        participant_id=pid, registration_id=rid, meeting_id=meeting_id, tenant_id=ev.tenant, manage_token=manage_token
    )
    await ev.publish("contact.manage_link", link, f"{pid}/{rid}")
    data = RegistrationChanged(
        registration_id=rid,
        participant_id=pid,
        meeting_id=meeting_id,
        tenant_id=ev.tenant,
        group="resident",
        status="confirmed",
        language="nb",
    )
    await ev.publish("registration.confirmed", data, meeting_id)
    return pid, rid, manage_token


async def tombstone(producer: AIOKafkaProducer, key: str) -> None:
    await producer.send_and_wait(topics.CONTACTS, None, key=key.encode())


async def database_text(settings: Settings) -> str:
    """Every row of every table of notification's database, as text."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        tables = [
            r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        out = []
        for table in tables:
            out += [r["row"] for r in await conn.fetch(f'SELECT t::text AS row FROM "{table}" t')]
        return "\n".join(out)
    finally:
        await conn.close()


def log_text(caplog: pytest.LogCaptureFixture) -> str:
    """Every record logged while the service ran, except those of the test's own SMTP server (``mail.log``)."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(f"{formatter.format(r)} {r.__dict__!r}" for r in caplog.records if r.name != "mail.log")


def assert_nowhere(text: str, secrets: list[str], where: str) -> None:
    leaked = [s for s in secrets if s in text]
    assert not leaked, f"{where} holds {leaked}"


async def test_a_sign_up_is_asked_to_confirm_by_email_or_sms_and_closing_it_scrubs_every_copy(
    database: str,
    kafka_bootstrap: str,
    mailserver: ControlledSmtp,
    gateway: FakeSmsGateway,
    producer: AIOKafkaProducer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    domain = f"{uuid.uuid4().hex[:8]}.example.no"
    clock = daytime_clock()
    settings = service_settings(database, kafka_bootstrap, mailserver, gateway)
    await start_at_the_end(kafka_bootstrap, group_of(settings))
    ev = Events(producer)
    expires = local(datetime.now(UTC) + timedelta(days=2), 18, 30)
    by_mail = SignupRequested(
        signup_id=uuid.uuid4(),
        tenant_id=ev.tenant,
        meeting_id=uuid.uuid4(),
        name="Zelmira Opt-In",
        email=f"zelmira@{domain}",
        phone="+4791110001",
        language="nb",
        confirm_token=token(),
        expires_at=expires,
    )
    by_sms = by_mail.model_copy(
        update={
            "signup_id": uuid.uuid4(),
            "name": "Yusra Textonly",
            "email": None,
            "phone": "+4791110002",
            "language": "en",
            "confirm_token": token(),
        }
    )
    # For a meeting notification does not know yet: it waits, and then its sign-up closes.
    waiting = by_mail.model_copy(
        update={
            "signup_id": uuid.uuid4(),
            "meeting_id": uuid.uuid4(),
            "name": "Wilhelmina Waiting",
            "email": f"wilhelmina@{domain}",
            "confirm_token": token(),
        }
    )
    secrets = [
        x
        for s in (by_mail, by_sms, waiting)
        for x in (s.name, s.email, s.phone, s.confirm_token, s.name.split()[0])
        if x
    ]
    async with notification_service(settings, clock):
        meeting_id = await meeting(ev)
        by_mail.meeting_id = by_sms.meeting_id = meeting_id
        for s in (by_mail, by_sms, waiting):
            await ev.publish("contact.signup_requested", s, f"signup/{s.signup_id}")
        [mail] = await eventually(lambda: at_least(mailserver.to(domain), 1), timeout_s=30)
        [sms] = await eventually(lambda: at_least(gateway.to({"+4791110002"}), 1), timeout_s=30)
        for s in (by_mail, by_sms, waiting):
            closed = SignupClosed(signup_id=s.signup_id, tenant_id=ev.tenant, outcome="confirmed")
            await ev.publish("contact.signup_closed", closed, f"signup/{s.signup_id}")
            await tombstone(producer, f"signup/{s.signup_id}")
        await consumed(settings)
        # The meeting of the closed sign-up arrives: its confirmation is not sent.
        late = MeetingSnapshot.model_validate({**(ev.published[0][0].data), "meeting_id": str(waiting.meeting_id)})
        await ev.publish("meeting.published", late, waiting.meeting_id)
        await settled(settings, clock)  # the late meeting consumed, and nothing the sender could still send
        record = {r["signup_id"]: r for r in await rows(settings)}
        events = await eventually(
            lambda: _outcomes(
                kafka_bootstrap, {str(record[by_mail.signup_id]["id"]), str(record[by_sms.signup_id]["id"])}, 2
            ),
            timeout_s=15,
        )
        db_text = await database_text(settings)

    link = f"{BASE_URL}/confirm/{by_mail.signup_id}?token={by_mail.confirm_token}"
    assert mail.to == by_mail.email and str(mail.message["Subject"]) == "Bekreft påmeldingen: Kaffe og prat"
    assert link in mail.body.splitlines() and "Hei Zelmira Opt-In!" in mail.body
    assert "Plassen blir avgjort først når du åpner lenken" in mail.body
    assert f"kl. {expires:%H.%M}." in mail.body and "se bort fra denne meldingen" in mail.body
    assert sms.text.startswith("Hi Yusra Textonly! Confirm your sign-up for Kaffe og prat")
    assert sms.text.endswith(f"{BASE_URL}/confirm/{by_sms.signup_id}?token={by_sms.confirm_token}")
    assert [m.to for m in mailserver.to(domain)] == [by_mail.email]  # the waiting one never went
    assert record[by_mail.signup_id]["status"] == "sent" and record[by_sms.signup_id]["status"] == "sent"
    assert record[by_mail.signup_id]["participant_id"] is None
    assert record[waiting.signup_id]["status"] == "skipped"
    assert {(e["type"], e["data"]["signup_id"], e["data"]["participant_id"]) for e in events} == {
        ("notification.sent", str(by_mail.signup_id), None),
        ("notification.sent", str(by_sms.signup_id), None),
    }
    assert_nowhere(db_text, secrets, "notification's database")
    assert_nowhere(log_text(caplog), secrets, "the log")


async def test_already_signed_up_and_erasure_links_go_to_the_participants_own_contact_and_are_scrubbed(
    database: str,
    kafka_bootstrap: str,
    mailserver: ControlledSmtp,
    gateway: FakeSmsGateway,
    producer: AIOKafkaProducer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    domain = f"{uuid.uuid4().hex[:8]}.example.no"
    clock = daytime_clock()
    settings = service_settings(database, kafka_bootstrap, mailserver, gateway)
    await start_at_the_end(kafka_bootstrap, group_of(settings))
    ev = Events(producer)
    address = f"xanthippe@{domain}"
    first, second = token(), token()
    async with notification_service(settings, clock):
        meeting_id = await meeting(ev)
        pid, rid, manage_token = await participant(ev, meeting_id, "Xanthippe Owner", address)
        await eventually(lambda: at_least(mailserver.to(domain), 1), timeout_s=30)  # registration_confirmed
        repeated = SignupRepeated(registration_id=rid, participant_id=pid, meeting_id=meeting_id, tenant_id=ev.tenant)
        await ev.publish("registration.signup_repeated", repeated, meeting_id)
        request = ErasureRequested(
            request_id=uuid.uuid4(),
            participant_id=pid,
            tenant_id=ev.tenant,
            confirm_token=first,
            expires_at=clock() + timedelta(hours=1),  # the service's clock is at noon tomorrow
        )
        await ev.publish("contact.erasure_requested", request, f"erasure/{request.request_id}")
        mails = await eventually(lambda: at_least(mailserver.to(domain), 3), timeout_s=30)
        closed = ErasureRequestClosed(request_id=request.request_id, tenant_id=ev.tenant, outcome="expired")
        await ev.publish("contact.erasure_request_closed", closed, f"erasure/{request.request_id}")
        await tombstone(producer, f"erasure/{request.request_id}")
        await consumed(settings)
        after_close = await database_text(settings)
        # A second request, then the erasure itself (say, by the coordinator) before that link was used.
        again = request.model_copy(update={"request_id": uuid.uuid4(), "confirm_token": second})
        await ev.publish("contact.erasure_requested", again, f"erasure/{again.request_id}")
        await eventually(lambda: at_least(mailserver.to(domain), 4), timeout_s=30)
        erased = ParticipantErased(participant_id=pid, tenant_id=ev.tenant, registration_ids=[rid])
        await ev.publish("participant.erased", erased, pid)
        await eventually(lambda: at_least(mailserver.to(domain), 5), timeout_s=30)  # erasure_confirmed
        await settled(settings, clock)  # erasure_confirmed sent, and the contact deleted with it
        after_erasure = await database_text(settings)

    by_subject = {str(m.message["Subject"]): m for m in mails}
    already = by_subject["Du er allerede påmeldt: Kaffe og prat"]
    assert f"{BASE_URL}/manage/{rid}?token={manage_token}" in already.body and already.to == address
    erase = by_subject["Bekreft at opplysningene dine skal slettes"]
    assert f"{BASE_URL}/erase/{request.request_id}?token={first}" in erase.body.splitlines()
    assert "plassene dine på møter blir meldt av" in erase.body
    assert first not in after_close
    assert_nowhere(after_erasure, [first, second, manage_token, address, "Xanthippe"], "notification's database")
    assert_nowhere(log_text(caplog), [first, second, manage_token, address, "Xanthippe"], "the log")


async def test_a_message_that_cannot_be_built_fails_once_and_the_sender_goes_on(
    database: str,
    kafka_bootstrap: str,
    mailserver: ControlledSmtp,
    gateway: FakeSmsGateway,
    producer: AIOKafkaProducer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    domain = f"{uuid.uuid4().hex[:8]}.example.no"
    clock = daytime_clock()
    settings = service_settings(database, kafka_bootstrap, mailserver, gateway)
    await start_at_the_end(kafka_bootstrap, group_of(settings))
    ev = Events(producer)
    bad_address = f"vladimir@{domain}\r\nBcc: x@example.org"
    async with notification_service(settings, clock):
        bcc_meeting = await meeting(ev, title=BCC_TITLE)
        nowhere = await meeting(ev, timezone="Mars/Olympus_Mons")  # a time zone no message can be built in
        ulrike = await participant(ev, bcc_meeting, "Ulrike Bcc", f"ulrike@{domain}")
        vladimir = await participant(ev, bcc_meeting, "Vladimir Badaddress", bad_address)
        tove = await participant(ev, nowhere, "Tove Nozone", f"tove@{domain}")
        sms_tove = await participant(ev, nowhere, "Svea Nozone", None, phone="+4791110003")
        kari = await participant(ev, bcc_meeting, PHISHING_NAME, f"kari@{domain}")
        await settled(settings, clock)  # the messages that cannot be built are dealt with (failed) ...
        broken = await rows(settings, "kind = 'registration_confirmed' AND status = 'failed'")
        assert len(broken) == 3
        after = await participant(ev, bcc_meeting, "Agathe After", f"agathe@{domain}")  # ... then the next message
        await eventually(lambda: at_least(mailserver.to(domain), 3), timeout_s=30)
        # Everything consumed, nothing claimable or being sent, every outcome published: a crash loop or a
        # second outcome would show as a message due again or an outcome still to come.
        await settled(settings, clock)
        record = {r["participant_id"]: r for r in await rows(settings, "kind = 'registration_confirmed'")}
        ids = {str(r["id"]) for r in record.values()}
        events = await eventually(lambda: _outcomes(kafka_bootstrap, ids, 6), timeout_s=15)
        await settled(settings, clock)
        events = await outcome_events(kafka_bootstrap, ids)

    failed = {p[0] for p in (vladimir, tove, sms_tove)}
    sent = {p[0] for p in (ulrike, kari, after)}
    assert {pid: r["status"] for pid, r in record.items()} == {
        **dict.fromkeys(failed, "failed"),
        **dict.fromkeys(sent, "sent"),
    }
    assert record[vladimir[0]]["last_error"] == "the e-mail address cannot be used"
    assert "ZoneInfoNotFoundError" in record[tove[0]]["last_error"]
    assert "ZoneInfoNotFoundError" in record[sms_tove[0]]["last_error"]
    # Exactly one outcome per message: one notification.failed for each that failed.
    per_id: dict[str, list[str]] = {}
    for e in events:
        per_id.setdefault(e["data"]["notification_id"], []).append(e["type"])
    assert sorted(per_id.values()) == sorted(
        [["notification.failed"]] * len(failed) + [["notification.sent"]] * len(sent)
    )
    mails: dict[str, Mail] = {m.to: m for m in mailserver.to(domain)}
    assert set(mails) == {f"ulrike@{domain}", f"kari@{domain}", f"agathe@{domain}"}
    assert mailserver.to("example.org") == [] and mailserver.rcpt_attempts["x@example.org"] == 0
    for m in mails.values():
        assert str(m.message["Subject"]) == "Du er påmeldt: Kaffe Bcc: x@example.org"
        assert m.message["Bcc"] is None and m.message.get_all("To") == [m.to]
    lines = mails[f"kari@{domain}"].body.splitlines()
    assert "Hei Kari VIKTIG: Plassen din er ikke bekreftet. Bekreft med BankID her: https://evil.example/fmf!" in lines
    assert not any(line.startswith(("VIKTIG", "https://evil")) for line in lines)
    assert gateway.to({"+4791110003"}) == []
    secrets = [bad_address, "vladimir@", "ulrike@", "kari@", "+4791110003", "Vladimir", "Ulrike", "VIKTIG", "Svea"]
    secrets += [p[2] for p in (ulrike, vladimir, tove, sms_tove, kari, after)]
    assert_nowhere(log_text(caplog), secrets, "the log")


async def _outcomes(bootstrap: str, ids: set[str], n: int) -> list[dict[str, Any]] | None:
    found = await outcome_events(bootstrap, ids)
    return found if len(found) >= n else None
