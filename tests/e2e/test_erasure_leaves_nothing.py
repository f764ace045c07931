"""Erasure erases: a person signs up publicly, confirms from the mail, asks from their manage page to be
erased, confirms that from the second mail; then every service's database (every table, every column),
every service's log file and every topic on the broker is searched for their name, e-mail address, phone
number and every token they were sent. All four services, real PostgreSQL, the real broker, real SMTP.
"""

from __future__ import annotations

import re
import uuid
from email.header import decode_header, make_header
from pathlib import Path

import asyncpg
import httpx
import pytest

from deploy.local.platform import SERVICES, PlatformConfig
from shared import topics
from tests.factories import meeting_body
from tests.pages_support import submit
from tests.support import ReceivedMail, RecordingSmtpHandler, eventually, mail_text, read_all, wait_until_quiet

pytestmark = pytest.mark.asyncio(loop_scope="session")


def link_in(mail: ReceivedMail, pattern: str) -> re.Match[str] | None:
    return re.search(pattern, mail_text(mail.message))


async def mail_with(smtp: RecordingSmtpHandler, address: str, pattern: str) -> re.Match[str]:
    async def find() -> re.Match[str] | None:
        for mail in smtp.to_domain(address.split("@")[1]):
            if address in mail.to and (found := link_in(mail, pattern)):
                return found
        return None

    return await eventually(find, timeout_s=60, every_s=0.2)


async def every_text_in_database(dsn: str) -> str:
    """Every row of every table of the database, as text."""
    conn = await asyncpg.connect(dsn)
    try:
        tables = await conn.fetch(
            "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) AS t FROM pg_tables"
            " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        )
        texts = []
        for table in tables:
            rows = await conn.fetch(f"SELECT x::text AS row FROM {table['t']} x")
            texts += [f"{table['t']}: {r['row']}" for r in rows]
        return "\n".join(texts)
    finally:
        await conn.close()


async def test_after_erasure_nothing_of_the_person_remains_anywhere(
    platform: PlatformConfig, smtp: tuple[int, RecordingSmtpHandler]
) -> None:
    handler = smtp[1]
    registration = platform.url("registration")
    api = registration + "/v1"
    marker = uuid.uuid4().hex[:8]
    tag = marker.translate(str.maketrans("0123456789", "ghijklmnop"))  # a name holds no run of digits
    name = f"Solveig Erasmussen {tag}"
    email = f"solveig.{marker}@erase.example.no"
    phone_national = f"41{int(marker, 16) % 1_000_000:06d}"  # a Norwegian mobile number: 41xxxxxx
    person = {
        "group": "resident",
        "name": name,
        "email": email,
        "phone": f"+47 {phone_national}",
        "language": "nn",
        "consent": True,
        "interests": ["hiking"],
    }
    async with httpx.AsyncClient(timeout=20) as http:
        operator = {"Authorization": f"Bearer {platform.operator_token}"}
        slug = f"erase-{marker}"
        created = await http.post(
            f"{api}/tenants",
            headers=operator,
            json={"slug": slug, "name": "Sletting kommune", "municipality_number": f"{int(marker, 16) % 10_000:04d}"},
        )
        assert created.status_code == 201, created.text
        token = (await http.post(f"{api}/tenants/{slug}/tokens", headers=operator)).json()["token"]
        coordinator = {"Authorization": f"Bearer {token}"}
        meeting = (await http.post(f"{api}/tenants/{slug}/meetings", headers=coordinator, json=meeting_body())).json()
        assert (await http.post(f"{api}/meetings/{meeting['id']}/publish", headers=coordinator)).status_code == 200

        # Sign up, and confirm from the mail.
        accepted = await http.post(f"{api}/meetings/{meeting['id']}/registrations", json=person)
        assert accepted.status_code == 202, accepted.text
        confirm = await mail_with(handler, email, r"/confirm/([0-9a-f-]{36})\?token=([\w-]+)")
        signup_id, confirm_token = confirm.group(1), confirm.group(2)
        confirm_page = f"{registration}/confirm/{signup_id}?token={confirm_token}"
        pressed = await submit(http, confirm_page, f"{registration}/confirm/{signup_id}", {"token": confirm_token})
        assert pressed.status_code == 303, pressed.text  # on to the result page, so a reload posts nothing
        placed = await http.get(f"{registration}{pressed.headers['location']}")
        assert placed.status_code == 200 and 'id="status"' in placed.text
        manage = await mail_with(handler, email, r"/manage/([0-9a-f-]{36})\?token=([\w-]+)")
        registration_id, manage_token = manage.group(1), manage.group(2)

        # The search below finds the person while they are there.
        assert name in await every_text_in_database(platform.database_url("registration"))
        assert email in await every_text_in_database(platform.database_url("notification"))

        # Ask to be erased from the manage page; confirm from the second mail.
        ask_page = f"{registration}/manage/{registration_id}/erase?token={manage_token}"
        asked = await submit(http, ask_page, f"{registration}/manage/{registration_id}/erase", {"token": manage_token})
        assert asked.status_code == 200
        erase = await mail_with(handler, email, r"/erase/([0-9a-f-]{36})\?token=([\w-]+)")
        request_id, erase_token = erase.group(1), erase.group(2)
        erase_page = f"{registration}/erase/{request_id}?token={erase_token}"
        erased = await submit(http, erase_page, f"{registration}/erase/{request_id}", {"token": erase_token})
        assert erased.status_code == 200

    await wait_until_quiet(platform)

    # One message tells of the erasure: its confirmation, not also a "cancelled" mail for the place the
    # erasure cancelled (issue 17: that one went out 16 ms before the confirmation).
    def subjects() -> list[str]:
        mails = [m for m in handler.to_domain(email.split("@")[1]) if email in m.to]
        return [str(make_header(decode_header(str(m.message["Subject"])))) for m in mails]

    async def confirmed() -> list[str] | None:
        said = subjects()
        return said if any(s.startswith("Opplysningane dine er sletta") for s in said) else None

    said = await eventually(confirmed, timeout_s=60, every_s=0.2)
    assert not [s for s in said if s.startswith("Du er meld av")], said

    secrets = {
        "name": name,
        "surname": f"Erasmussen {tag}",
        "email": email,
        "email local part": f"solveig.{marker}",
        "phone": f"+47{phone_national}",
        "national phone": phone_national,
        "confirmation token": confirm_token,
        "manage token": manage_token,
        "erasure token": erase_token,
    }

    async def nothing_in_databases() -> bool:
        for service in SERVICES:
            text = await every_text_in_database(platform.database_url(service))
            if [label for label, value in secrets.items() if value in text]:
                return False
        return True

    try:
        await eventually(nothing_in_databases, timeout_s=30, every_s=0.5)
    except AssertionError:
        for service in SERVICES:
            text = await every_text_in_database(platform.database_url(service))
            found = {
                label: [line[:200] for line in text.splitlines() if value in line] for label, value in secrets.items()
            }
            found = {k: v for k, v in found.items() if v}
            assert not found, f"{service} still holds {found}"
        raise

    logs = {log.name: log.read_text(errors="replace") for log in Path(platform.log_dir).glob("*.log")}  # noqa: ASYNC240
    assert set(logs) >= {f"{service}.log" for service in SERVICES}
    for log_name, text in logs.items():
        assert not [label for label, value in secrets.items() if value in text], f"{log_name} holds personal data"

    records = await read_all(platform.kafka_bootstrap, [*topics.ALL, *(topics.dlq(t) for t in topics.ALL)])
    latest: dict[tuple[str, bytes | None], bytes | None] = {}
    for record in records:
        value = record.value or b""
        text = value.decode(errors="replace")
        carries = [label for label, secret in secrets.items() if secret in text]
        if record.topic != topics.CONTACTS:
            assert not carries, f"{record.topic} offset {record.offset} carries {carries}"
        latest[(record.topic, record.key)] = record.value
    # The contacts topic is compacted: what stays for each key is its last value. Every key that ever carried
    # the person ends in a tombstone, so a compacting broker drops all of it (the embedded broker keeps
    # superseded values in memory until it stops; it does not compact).
    carried_keys = {
        (r.topic, r.key)
        for r in records
        if r.topic == topics.CONTACTS
        and r.value
        and any(s in r.value.decode(errors="replace") for s in secrets.values())
    }
    assert carried_keys, "the contacts topic should have carried the person before the erasure"
    assert all(latest[key] is None for key in carried_keys), "a contacts key keeps a value after erasure"
