"""The public sign-up path, tried as an attacker would: each finding of the review, with the attacker's
request, against a real registration service (abuse limits on, as in production) and PostgreSQL.

The service trusts X-Forwarded-For from 127.0.0.1 here (FMF_TRUSTED_PROXIES, as behind the compose proxy),
so each test can play a client address of its own.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from limits import parse_many

from services.registration.domain import INVITATION_ALPHABET
from services.registration.settings import RegistrationSettings
from tests.conftest import platform_config
from tests.factories import person_body
from tests.pages_support import csrf_of, submit
from tests.registration_support import RegistrationApi, Tenant, registration_service
from tests.support import RecordingSmtpHandler

pytestmark = pytest.mark.asyncio(loop_scope="session")
PROBLEM = "application/problem+json"
DEFAULTS = RegistrationSettings()


def first_window(setting: str) -> int:
    """How many the first window of a limit setting (e.g. "40/10 minutes;200/day") lets through."""
    return min(item.amount for item in parse_many(setting))


@pytest.fixture(scope="module")
def guarded_api(
    postgres_dsn: str,
    kafka_bootstrap: str,
    smtp: tuple[int, RecordingSmtpHandler],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RegistrationApi]:
    log_dir = Path(tmp_path_factory.mktemp("guarded"))
    config = platform_config(
        postgres_dsn,
        kafka_bootstrap,
        smtp[0],
        log_dir,
        FMF_RATE_LIMITS_ENABLED="true",
        FMF_TRUSTED_PROXIES="127.0.0.1",
    )
    with registration_service(config) as api:
        yield api


def client(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def fresh_address() -> str:
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"


async def setup(api: RegistrationApi, http: httpx.AsyncClient, meetings: int = 1) -> tuple[Tenant, list[str]]:
    tenant = await api.tenant(http)
    return tenant, [await api.meeting(http, tenant) for _ in range(meetings)]


async def participant(api: RegistrationApi, participant_id: str) -> dict[str, Any]:
    rows = await api.sql("SELECT * FROM participants WHERE id = $1", uuid.UUID(participant_id))
    return dict(rows[0])


# --- 1. account takeover with only an e-mail or phone ---------------------------------------------------


async def test_a_stranger_with_someones_phone_cannot_take_over_their_participant(guarded_api: RegistrationApi) -> None:
    api = guarded_api
    async with httpx.AsyncClient(timeout=10) as http:
        tenant, (m1, m2) = await setup(api, http, 2)
        a = await api.sign_up(http, tenant, m1, "resident", 1, "victim.example.no", phone="+47 912 34 567")
        assert a.status_code == 201
        before = await participant(api, a.json()["participant_id"])
        attack = {
            "group": "resident",
            "name": "Someone Else",
            "email": "other@example.org",
            "phone": "+47 912 34 567",
            "consent": True,
        }
        r = await http.post(f"{api.base}/meetings/{m2}/registrations", json=attack, headers=client(fresh_address()))
        assert r.status_code == 202
        assert "participant_id" not in r.json() and "manage_token" not in r.json()
        assert await participant(api, a.json()["participant_id"]) == before  # nothing of A changed
        # The attacker confirms the link that went to their own address: a new participant, A untouched,
        # and the phone (A's, not proven by the attacker) is not stored with it.
        signup_id, token = await api.confirmation_link("other@example.org")
        confirmed = await http.post(f"{api.base}/signups/{signup_id}/confirm", json={"token": token})
        assert confirmed.status_code == 200, confirmed.text
        own = await api.sql(
            "SELECT p.* FROM registrations r JOIN participants p ON p.id = r.participant_id WHERE r.id = $1",
            uuid.UUID(confirmed.json()["registration_id"]),
        )
        assert str(own[0]["id"]) != a.json()["participant_id"]
        assert (own[0]["email"], own[0]["phone"]) == ("other@example.org", None)
        assert await participant(api, a.json()["participant_id"]) == before
        # A's messages still go to A: no contact event ever names A with the attacker's address.
        contacts = await api.sql(
            "SELECT body::text AS body FROM outbox WHERE event_type = 'contact.upserted' AND key = $1",
            a.json()["participant_id"],
        )
        assert contacts and not [c for c in contacts if "other@example.org" in c["body"]]
        # The attacker's own manage token does not reach A.
        erase_a = await http.delete(
            f"{api.base}/participants/{a.json()['participant_id']}",
            headers={"X-Manage-Token": confirmed.json()["manage_token"], **client(fresh_address())},
        )
        assert erase_a.status_code == 404
        assert (await participant(api, a.json()["participant_id"]))["erased_at"] is None


async def test_a_confirmed_sign_up_joins_the_known_person_without_changing_them(guarded_api: RegistrationApi) -> None:
    """Whoever confirms a link sent to A's own e-mail is A: the place joins A's participant, and what the
    sign-up typed (another name) changes nothing; details change only through A's manage link."""
    api = guarded_api
    async with httpx.AsyncClient(timeout=10) as http:
        tenant, (m1, m2) = await setup(api, http, 2)
        a = (await api.sign_up(http, tenant, m1, "resident", 2, "join.example.no")).json()
        before = await participant(api, a["participant_id"])
        body = person_body("resident", 2, "join.example.no", name="Not The Same Name")
        confirmed = await api.public_sign_up(http, m2, body)
        assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"
        joined = await api.sql(
            "SELECT participant_id FROM registrations WHERE id = $1", uuid.UUID(confirmed.json()["registration_id"])
        )
        assert str(joined[0]["participant_id"]) == a["participant_id"]
        assert await participant(api, a["participant_id"]) == before


# --- 2. enumeration ------------------------------------------------------------------------------------


async def test_a_public_sign_up_answers_the_same_whatever_the_contacts_history(guarded_api: RegistrationApi) -> None:
    api = guarded_api
    async with httpx.AsyncClient(timeout=10) as http:
        tenant, (meeting,) = await setup(api, http)
        known = await api.sign_up(http, tenant, meeting, "resident", 3, "known.example.no", phone="+47 952 00 111")
        assert known.status_code == 201
        url = f"{api.base}/meetings/{meeting}/registrations"
        base = {"group": "resident", "name": "Probe", "consent": True}
        probes = [
            {**base, "phone": "0047 95200111"},  # the known person, already signed up, in three spellings
            {**base, "phone": "95200111"},
            {**base, "phone": "+47-952-00-111"},
            {**base, "phone": "+47 952 00 112"},  # nobody
            {**base, "email": "resident3@known.example.no"},  # the known person by e-mail
            {**base, "email": "nobody@known.example.no"},  # nobody
        ]
        answers = [await http.post(url, json=p, headers=client(fresh_address())) for p in probes]
        assert {a.status_code for a in answers} == {202}
        assert len({a.content for a in answers}) == 1  # byte for byte the same body
        assert all("participant_id" not in a.text for a in answers)
        # The known person was reminded at their own contact instead; nobody else was asked anything new.
        repeated = await api.sql(
            "SELECT count(*) AS n FROM outbox WHERE event_type = 'registration.signup_repeated' AND key = $1", meeting
        )
        assert repeated[0]["n"] == 4


# --- 3. abuse limits -------------------------------------------------------------------------------------


async def test_300_scripted_sign_ups_are_stopped_and_hold_no_place(guarded_api: RegistrationApi) -> None:
    api = guarded_api
    per_client = first_window(DEFAULTS.limit_signup_per_client)
    async with httpx.AsyncClient(timeout=10) as http:
        _, (meeting,) = await setup(api, http)
        script = fresh_address()
        answers = [
            await http.post(
                f"{api.base}/meetings/{meeting}/registrations",
                json=person_body("resident", i, "script.example.org"),
                headers=client(script),
            )
            for i in range(300)
        ]
        codes = [a.status_code for a in answers]
        assert codes == [202] * per_client + [429] * (300 - per_client)
        refused = answers[-1]
        assert refused.headers["content-type"] == PROBLEM and int(refused.headers["retry-after"]) > 0
        assert "try again in" in refused.json()["detail"]
        places = await api.sql("SELECT count(*) AS n FROM registrations WHERE meeting_id = $1", uuid.UUID(meeting))
        assert places[0]["n"] == 0  # unconfirmed sign-ups hold no place: the meeting is not filled
        messages = await api.sql(
            "SELECT count(*) AS n FROM outbox WHERE event_type = 'contact.signup_requested'"
            " AND body::jsonb->'data'->>'meeting_id' = $1",
            meeting,
        )
        assert messages[0]["n"] == per_client
        # Spread over many addresses, the meeting's own limit holds.
        per_meeting = first_window(DEFAULTS.limit_signup_per_meeting)
        spread = await asyncio.gather(
            *(
                http.post(
                    f"{api.base}/meetings/{meeting}/registrations",
                    json=person_body("resident", 1000 + i, "spread.example.org"),
                    headers=client(fresh_address()),
                )
                for i in range(per_meeting)
            )
        )
        assert sum(a.status_code == 202 for a in spread) == per_meeting - per_client
        assert {a.status_code for a in spread} == {202, 429}


async def test_confirmation_messages_to_one_contact_are_limited(guarded_api: RegistrationApi) -> None:
    api = guarded_api
    per_contact = first_window(DEFAULTS.limit_signup_per_contact)
    async with httpx.AsyncClient(timeout=10) as http:
        _, (meeting,) = await setup(api, http)
        body = person_body("resident", 1, "target.example.org")
        answers = [
            await http.post(f"{api.base}/meetings/{meeting}/registrations", json=body, headers=client(fresh_address()))
            for _ in range(per_contact + 2)
        ]
        assert [a.status_code for a in answers] == [202] * per_contact + [429, 429]


async def test_invitation_codes_are_long_readable_rotatable_and_guessing_is_stopped(
    guarded_api: RegistrationApi,
) -> None:
    api = guarded_api
    async with httpx.AsyncClient(timeout=10) as http:
        tenant, (meeting,) = await setup(api, http)
        view = (await http.get(f"{api.base}/meetings/{meeting}", headers=tenant.headers)).json()
        code = view["invitation_code"]
        symbol = f"[{INVITATION_ALPHABET}]"
        assert re.fullmatch(f"{symbol}{{4}}-{symbol}{{4}}-{symbol}{{4}}", code)
        assert not set("01OIL") & set(code)
        url = f"{api.base}/meetings/{meeting}/registrations"
        guesser = fresh_address()
        allowed = first_window(DEFAULTS.limit_invitation_failures_per_client)
        guesses = [
            await http.post(
                url,
                json=person_body(
                    "newcomer",
                    i,
                    "guess.example.org",
                    invitation_code=f"{i:04d}".translate(str.maketrans("0123456789", "23456789AB")) + "-CDEF-GHJK",
                ),
                headers=client(guesser),
            )
            for i in range(allowed + 1)
        ]
        assert [g.status_code for g in guesses] == [403] * allowed + [429]
        right = person_body("newcomer", 99, "guess.example.org", invitation_code=code)
        assert (await http.post(url, json=right, headers=client(guesser))).status_code == 429  # this client is done
        assert (await http.post(url, json=right, headers=client(fresh_address()))).status_code == 202
        rotated = await http.post(f"{api.base}/meetings/{meeting}/invitation-code", headers=tenant.headers)
        assert rotated.status_code == 200 and rotated.json()["invitation_code"] != code
        old = person_body("newcomer", 98, "guess.example.org", invitation_code=code)
        assert (await http.post(url, json=old, headers=client(fresh_address()))).status_code == 403
        # Not a code at all (the review's "ÆØÅ"): 422 that says what a code looks like, never a 500.
        odd = await http.post(url, json={**old, "invitation_code": "ÆØÅ"}, headers=client(fresh_address()))
        assert odd.status_code == 422 and "invitation_code" in odd.json()["detail"]


async def test_guessing_manage_and_bearer_tokens_is_stopped(guarded_api: RegistrationApi) -> None:
    api = guarded_api
    async with httpx.AsyncClient(timeout=10) as http:
        tenant, (meeting,) = await setup(api, http)
        reg = (await api.sign_up(http, tenant, meeting, "resident", 1, "tokens.example.org")).json()
        guesser = fresh_address()
        per_target = first_window(DEFAULTS.limit_manage_failures_per_target)
        tries = [
            await http.get(
                f"{api.base}/registrations/{reg['registration_id']}",
                headers={"X-Manage-Token": f"guess-{i:040d}", **client(guesser)},
            )
            for i in range(per_target + 1)
        ]
        assert [t.status_code for t in tries] == [404] * per_target + [429]
        assert int(tries[-1].headers["retry-after"]) > 0
        bearer_guesser = fresh_address()
        per_client = first_window(DEFAULTS.limit_bearer_failures_per_client)
        tries = [
            await http.get(
                f"{api.base}/tenants/{tenant.slug}/meetings",
                headers={"Authorization": f"Bearer guess-{i:040d}", **client(bearer_guesser)},
            )
            for i in range(per_client + 1)
        ]
        assert [t.status_code for t in tries] == [401] * per_client + [429]
        # Someone else, with the real token, is not affected.
        ok = await http.get(
            f"{api.base}/tenants/{tenant.slug}/meetings", headers={**tenant.headers, **client(fresh_address())}
        )
        assert ok.status_code == 200


# --- 4., 5., 6. text that is not text, and no 5xx from input ----------------------------------------------


PHISHING_NAME = "Kari\n\nVIKTIG: Plassen din er ikke bekreftet. Bekreft med BankID her: https://evil.example/fmf"


@pytest.mark.parametrize(
    ("name", "fix"),
    [
        (PHISHING_NAME, "one line"),
        ("Kari https://evil.example/fmf", "web address"),
        ("Kari kari@example.org", "e-mail"),
        ("Kari\u202eanilroK", "one line"),
        ("Ka\x00ri", "one line"),
        ("Ka\u200bri", "one line"),  # a zero-width space
        ("Your account is locked Call 815 00 000 now", "without numbers"),
        ("ｅｖｉｌ．ｃｏｍ", "web address"),  # full-width letters
        ("evil。com", "web address"),  # an ideographic full stop
    ],
)
async def test_a_name_is_one_line_of_plain_text(guarded_api: RegistrationApi, name: str, fix: str) -> None:
    api = guarded_api
    async with httpx.AsyncClient(timeout=10) as http:
        tenant, (meeting,) = await setup(api, http)
        body = person_body("resident", 1, "name.example.org", name=name)
        for headers in ({}, tenant.headers):  # public and coordinator alike
            r = await http.post(
                f"{api.base}/meetings/{meeting}/registrations",
                json=body,
                headers={**headers, **client(fresh_address())},
            )
            assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
            assert r.json()["errors"][0]["field"] == "name" and fix in r.json()["detail"]
        nothing = await api.sql("SELECT count(*) AS n FROM signups WHERE meeting_id = $1", uuid.UUID(meeting))
        assert nothing[0]["n"] == 0


@pytest.mark.parametrize(
    "change",
    [
        {"title": "Kaffe\rBcc: x@example.org"},
        {"title": "Kaffe\x00"},
        {"title": "Kaffe\u2028og prat"},
        {"venue": {"name": "Bibliotek\x00", "address": "Torvet 6", "kind": "library"}},
        {"venue": {"name": "Biblioteket", "address": "Torvet 6\nBcc: x@example.org", "kind": "library"}},
    ],
)
async def test_titles_and_venues_are_one_line(guarded_api: RegistrationApi, change: dict[str, Any]) -> None:
    api = guarded_api
    async with httpx.AsyncClient(timeout=10) as http:
        tenant, (meeting,) = await setup(api, http)
        from tests.factories import meeting_body

        created = await http.post(
            f"{api.base}/tenants/{tenant.slug}/meetings", headers=tenant.headers, json=meeting_body(**change)
        )
        assert created.status_code == 422 and created.headers["content-type"] == PROBLEM
        edited = await http.patch(f"{api.base}/meetings/{meeting}", headers=tenant.headers, json=change)
        assert edited.status_code == 422 and "one line" in edited.json()["detail"]


async def test_phones_must_be_mobile_numbers(guarded_api: RegistrationApi) -> None:
    api = guarded_api
    async with httpx.AsyncClient(timeout=10) as http:
        _, (meeting,) = await setup(api, http)
        for phone in ("+47 820 00 000", "+47 22 00 00 00", "+47 800 12 345"):  # premium rate, landline, toll free
            body = {"group": "resident", "name": "Kari", "phone": phone, "consent": True}
            r = await http.post(
                f"{api.base}/meetings/{meeting}/registrations", json=body, headers=client(fresh_address())
            )
            assert r.status_code == 422 and "mobile" in r.json()["detail"], phone


async def test_sms_go_only_to_the_countries_the_platform_serves(guarded_api: RegistrationApi) -> None:
    api = guarded_api
    async with httpx.AsyncClient(timeout=10) as http:
        _, (meeting,) = await setup(api, http)
        for phone in ("+44 7911 123456", "+243 81 234 5678", "+7 912 345 67 89", "+46 70 123 45 67"):
            body = {"group": "resident", "name": "Kari", "phone": phone, "consent": True}
            r = await http.post(
                f"{api.base}/meetings/{meeting}/registrations", json=body, headers=client(fresh_address())
            )
            assert r.status_code == 422 and "another country" in r.json()["detail"], (phone, r.text)
        messages = await api.sql(
            "SELECT count(*) AS n FROM outbox WHERE event_type = 'contact.signup_requested'"
            " AND body::jsonb->'data'->>'meeting_id' = $1",
            meeting,
        )
        assert messages[0]["n"] == 0


async def test_refused_sign_ups_do_not_use_up_someone_elses_contact(guarded_api: RegistrationApi) -> None:
    """Sign-ups that send nothing (no such meeting) must not count against the contact's limit: else anyone
    could keep a person from signing up by naming their address."""
    api = guarded_api
    async with httpx.AsyncClient(timeout=10) as http:
        _, (meeting,) = await setup(api, http)
        victim = person_body("resident", 1, "blocked.example.org")
        for _ in range(first_window(DEFAULTS.limit_signup_per_contact) + 2):
            nowhere = await http.post(
                f"{api.base}/meetings/{uuid.uuid4()}/registrations", json=victim, headers=client(fresh_address())
            )
            assert nowhere.status_code == 404
        own = await http.post(
            f"{api.base}/meetings/{meeting}/registrations", json=victim, headers=client(fresh_address())
        )
        assert own.status_code == 202


async def test_odd_tokens_and_addresses_are_4xx_not_500(guarded_api: RegistrationApi) -> None:
    api = guarded_api
    root = api.config.url("registration")
    async with httpx.AsyncClient(timeout=10) as http:
        tenant, _ = await setup(api, http)
        for token in ("\xff\xfe".encode("latin-1"), "æø".encode()):
            r = await http.get(
                f"{api.base}/tenants/{tenant.slug}/meetings",
                headers=[(b"Authorization", b"Bearer " + token), (b"X-Forwarded-For", fresh_address().encode())],
            )
            assert r.status_code == 401 and r.headers["content-type"] == PROBLEM, r.text
        for path in ("/v1/tenants/%00/meetings", "/v1/tenants/a%0d%0aX/meetings", "/manage/x?token=%00"):
            r = await http.get(root + path, headers=tenant.headers)
            assert r.status_code == 400 and r.headers["content-type"] == PROBLEM, (path, r.text)
            assert "control character" in r.json()["detail"]
        r = await http.post(root + "/v1/tenants/%00/meetings", headers=tenant.headers, json={})
        assert r.status_code == 400


async def test_the_public_metrics_do_not_tell_a_known_contact_from_an_unknown_one(guarded_api: RegistrationApi) -> None:
    api = guarded_api
    root = api.config.url("registration")

    async def counts(http: httpx.AsyncClient) -> dict[str, float]:
        text = (await http.get(root + "/metrics")).text
        found = re.findall(r'^fmf_registrations_total\{outcome="(\w+)"\} ([\d.e+]+)$', text, re.MULTILINE)
        return {outcome: float(n) for outcome, n in found}

    async with httpx.AsyncClient(timeout=10) as http:
        tenant, (meeting,) = await setup(api, http)
        await api.sign_up(http, tenant, meeting, "resident", 1, "metrics.example.org")
        url = f"{api.base}/meetings/{meeting}/registrations"
        before = await counts(http)
        known = person_body("resident", 1, "metrics.example.org")
        assert (await http.post(url, json=known, headers=client(fresh_address()))).status_code == 202
        after_known = await counts(http)
        unknown = person_body("resident", 2, "metrics.example.org")
        assert (await http.post(url, json=unknown, headers=client(fresh_address()))).status_code == 202
        after_unknown = await counts(http)
    changed_by_known = {k for k in after_known if after_known[k] != before.get(k, 0)}
    changed_by_unknown = {k for k in after_unknown if after_unknown[k] != after_known.get(k, 0)}
    assert changed_by_known == changed_by_unknown == {"awaiting_confirmation"}


async def test_one_persons_email_with_another_persons_phone_is_not_a_500(guarded_api: RegistrationApi) -> None:
    api = guarded_api
    async with httpx.AsyncClient(timeout=10) as http:
        tenant, (m1, m2) = await setup(api, http, 2)
        await api.sign_up(http, tenant, m1, "resident", 1, "mix.example.org", phone="+47 912 00 001")
        await api.sign_up(http, tenant, m1, "resident", 2, "mix.example.org", phone="+47 912 00 002")
        mixed = person_body("resident", 1, "mix.example.org", phone="+47 912 00 002")  # 1's e-mail, 2's phone
        r = await http.post(f"{api.base}/meetings/{m2}/registrations", headers=tenant.headers, json=mixed)
        assert r.status_code == 409 and "another" in r.json()["detail"]
        places = await api.sql("SELECT count(*) AS n FROM registrations WHERE meeting_id = $1", uuid.UUID(m2))
        assert places[0]["n"] == 0  # nothing half-written
        public = await http.post(f"{api.base}/meetings/{m2}/registrations", json=mixed, headers=client(fresh_address()))
        assert public.status_code == 202


async def test_malformed_requests_get_problem_json(guarded_api: RegistrationApi) -> None:
    api = guarded_api
    root = api.config.url("registration")
    async with httpx.AsyncClient(timeout=10) as http:
        _, (meeting,) = await setup(api, http)
        url = f"{api.base}/meetings/{meeting}/registrations"
        broken = await http.post(url, content=b'{"group": "resident",', headers={"content-type": "application/json"})
        missing = await http.get(f"{root}/v1/no-such-route")
        method = await http.put(url, json={})
        for r, status in ((broken, 400), (missing, 404), (method, 405)):
            assert r.status_code == status and r.headers["content-type"] == PROBLEM, r.text
            assert r.json()["detail"]
    # A 200 MB body is refused from its Content-Length, before anything of it is read.
    host, port = root.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            f"POST /v1/meetings/{meeting}/registrations HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {200 * 1024 * 1024}\r\n\r\n".encode()
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 413") and PROBLEM.encode() in head


# --- 8. pages carry protective headers -------------------------------------------------------------------


async def test_the_link_pages_carry_protective_headers(guarded_api: RegistrationApi) -> None:
    api = guarded_api
    root = api.config.url("registration")
    async with httpx.AsyncClient(timeout=10) as http:
        tenant, (meeting,) = await setup(api, http)
        body = person_body("resident", 1, "pages.example.org")
        assert (await api.public_sign_up(http, meeting, body, confirm=False)).status_code == 202
        signup_id, token = await api.confirmation_link(body["email"])
        page = await http.get(f"{root}/confirm/{signup_id}", params={"token": token})
        assert page.status_code == 200 and "Bekreft" in page.text
        reg = (await api.sign_up(http, tenant, meeting, "resident", 2, "pages.example.org")).json()
        manage = await http.get(f"{root}/manage/{reg['registration_id']}", params={"token": reg["manage_token"]})
        assert manage.status_code == 200
        for r in (page, manage):
            csp = r.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp and "script-src 'self'" in csp
            assert r.headers["referrer-policy"] == "no-referrer"
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["cache-control"] == "no-store"
        # Using the link: the place is decided, and the page says which, with the link to the person's own page.
        confirm_page = f"{root}/confirm/{signup_id}?token={token}"
        pressed = await submit(http, confirm_page, f"{root}/confirm/{signup_id}", {"token": token})
        assert pressed.status_code == 303 and "confirmed=1" in pressed.headers["location"], pressed.text
        confirmed = await http.get(f"{root}{pressed.headers['location']}")
        assert confirmed.status_code == 200 and 'id="manage-link" href="/manage/' in confirmed.text
        assert confirmed.headers["cache-control"] == "no-store"
        again = await http.post(f"{root}/confirm/{signup_id}", data={"token": token, "csrf_token": csrf_of(page.text)})
        assert again.status_code == 409 and "bekreftet allerede" in again.text
