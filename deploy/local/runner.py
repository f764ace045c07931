"""``make up``: the whole platform on one machine, with embedded PostgreSQL and broker by default.

Set FMF_DATABASE_URL (any database on the server; each service gets its own database beside it) or
FMF_KAFKA_BOOTSTRAP to use an external PostgreSQL or Kafka instead; ``LocalSettings``
(``deploy/local/settings.py``) lists what it reads. Every ``FMF_`` setting reaches the services too.

While it runs, a part that stops (a service, the embedded PostgreSQL or broker, the mail or SMS sink) is
started again on the same port, after a pause that grows while it keeps stopping (``RESTART_BACKOFF``);
stdout says what happened. Ctrl-C or SIGTERM stops everything, in the reverse order of start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import signal
import socket
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from deploy.local.embedded import EmbeddedPostgres, TansuBroker, free_port
from deploy.local.platform import DEFAULT_PORTS, SERVICES, PlatformConfig, ServiceProcesses
from deploy.local.settings import LocalSettings
from deploy.local.smssink import PATH as SMS_PATH
from deploy.local.supervision import Backoff, Part, SinkProcess, Supervisor
from deploy.outbox_cli import MAKE_UP_SERVER
from shared.topics import ensure_topics

# A part that dies is started again after 0.5 s, then 1, 2, 4 ... up to 30 s while it keeps dying; after
# a minute up, the next death counts as the first again.
RESTART_BACKOFF = Backoff(first_s=0.5, longest_s=30.0, reset_after_s=60.0)
DEMO_TENANT = {"slug": "demo", "name": "Demo kommune", "municipality_number": "9999"}
DEMO_ZONE = ZoneInfo("Europe/Oslo")  # the demo tenant's clock (a tenant's default time zone)
DEMO_SIGN_IN_LINK_S = 12 * 3600  # how long make up's one-time console link works


def _port_or_free(preferred: int) -> int:
    with socket.socket() as s:
        return free_port() if s.connect_ex(("127.0.0.1", preferred)) == 0 else preferred


def _operator_token(settings: LocalSettings) -> str:
    if token := settings.operator_token.get_secret_value():
        return token
    path = settings.var / "operator-token"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _create_demo_tenant(config: PlatformConfig, var: Path) -> str:
    headers = {"Authorization": f"Bearer {config.operator_token}"}
    base = config.url("registration") + "/v1"
    with httpx.Client(headers=headers, timeout=10) as client:
        token = demo_coordinator_token(client, base, var / "demo-coordinator-token")
        demo_meeting(client, base, token)
        return token


def console_sign_in_link(client: httpx.Client, base: str, token: str, valid_for_s: int) -> str:
    """A one-time link that opens the console signed in as the holder of ``token``
    (``POST /v1/console/sign-in-links``), working for ``valid_for_s`` seconds. Raises
    ``httpx.HTTPStatusError`` when registration refuses."""
    made = client.post(
        f"{base}/console/sign-in-links",
        headers={"Authorization": f"Bearer {token}"},
        json={"valid_for_s": valid_for_s},
    )
    made.raise_for_status()
    return str(made.json()["url"])


def demo_meeting(client: httpx.Client, base: str, coordinator_token: str) -> str:
    """The id of the demo tenant's next published meeting, so that its public page is not empty: an
    upcoming one kept from an earlier start, else a new one (two weeks ahead, 10.00 on the tenant's clock,
    at the library), published. ``coordinator_token`` is the demo tenant's; raises ``httpx.HTTPStatusError``
    when registration refuses."""
    headers = {"Authorization": f"Bearer {coordinator_token}"}
    listed = client.get(f"{base}/tenants/{DEMO_TENANT['slug']}/meetings", headers=headers)
    listed.raise_for_status()
    now = datetime.now(UTC)
    for meeting in listed.json():
        if meeting["status"] == "published" and datetime.fromisoformat(meeting["starts_at"]) > now:
            return str(meeting["id"])
    starts = (now.astimezone(DEMO_ZONE) + timedelta(days=14)).replace(hour=10, minute=0, second=0, microsecond=0)
    created = client.post(
        f"{base}/tenants/{DEMO_TENANT['slug']}/meetings",
        headers=headers,
        json={
            "title": "Folk møter folk på biblioteket",
            "format": "standard",
            "starts_at": starts.isoformat(),
            "venue": {"name": "Biblioteket", "address": "Torvet 6", "kind": "library"},
        },
    )
    created.raise_for_status()
    meeting_id = str(created.json()["id"])
    client.post(f"{base}/meetings/{meeting_id}/publish", headers=headers).raise_for_status()
    return meeting_id


def demo_coordinator_token(client: httpx.Client, base: str, kept_at: Path) -> str:
    """The demo tenant (created if missing) and one coordinator token for it across restarts of ``make up``:
    the one kept at ``kept_at`` while it still works; else a new one, kept there, and the kept one revoked.

    ``client`` carries the operator's token. Before, every restart issued another token and the old ones
    stayed valid (issue 17, kind 4).
    """
    slug = DEMO_TENANT["slug"]
    created = client.post(f"{base}/tenants", json=DEMO_TENANT)
    if created.status_code not in (201, 409):
        created.raise_for_status()
    kept = json.loads(kept_at.read_text()) if kept_at.exists() else None
    if kept is not None:
        works = client.get(f"{base}/tenants/{slug}/meetings", headers={"Authorization": f"Bearer {kept['token']}"})
        if works.status_code == 200:
            return str(kept["token"])
        revoked = client.delete(f"{base}/tenants/{slug}/tokens/{kept['token_id']}")
        if revoked.status_code not in (204, 404):  # 404: a fresh database never knew it
            revoked.raise_for_status()
    issued = client.post(f"{base}/tenants/{slug}/tokens")
    issued.raise_for_status()
    body = issued.json()
    kept_at.write_text(json.dumps({"token": body["token"], "token_id": body["token_id"]}))
    kept_at.chmod(0o600)
    return str(body["token"])


def _say(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)


def main() -> int:
    """Start the platform, keep every part of it running, stop it all on Ctrl-C or SIGTERM."""
    settings = LocalSettings()
    var = settings.var
    var.mkdir(parents=True, exist_ok=True)
    (var / "log").mkdir(exist_ok=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    supervisor = Supervisor(RESTART_BACKOFF, log=_say)
    postgres: EmbeddedPostgres | None = None
    sms: SinkProcess | None = None
    ours: list[Part] = []  # the servers and sinks this runner started (not a PostgreSQL or Kafka of yours)
    # Everything started is stopped in the reverse order of its start: the services first, while the
    # broker and the database they use are still there; PostgreSQL last.
    stops = contextlib.ExitStack()
    stops.callback(print, "Stopped.", flush=True)
    try:
        server_dsn = settings.database_url
        if not server_dsn:
            postgres = EmbeddedPostgres(var / "postgres", _port_or_free(settings.pg_port))
            stops.callback(postgres.stop)
            postgres.start()
            supervisor.watch(postgres)
            ours.append(postgres)
            server_dsn = postgres.socket_dsn
        bootstrap = settings.kafka_bootstrap
        if not bootstrap:
            broker = TansuBroker(_port_or_free(9092), log_path=var / "log" / "tansu.log")
            stops.callback(broker.stop)
            broker.start()
            bootstrap = broker.bootstrap
            # In memory only: a restarted broker has no topics until they are created again.
            supervisor.watch(broker, after_start=partial(_create_topics, bootstrap, settings.topic_partitions))
            ours.append(broker)
        smtp_port = _port_or_free(settings.smtp_port)
        mail = SinkProcess("mail sink", "deploy.local.mailsink", var / "mail", smtp_port, var / "log" / "mail-sink.log")
        stops.callback(mail.stop)
        mail.start()
        supervisor.watch(mail)
        ours.append(mail)
        sms_gateway_url = settings.sms_gateway_url
        if not sms_gateway_url:
            sms_port = _port_or_free(settings.sms_sink_port)
            sms = SinkProcess("SMS sink", "deploy.local.smssink", var / "sms", sms_port, var / "log" / "sms-sink.log")
            stops.callback(sms.stop)
            sms.start()
            supervisor.watch(sms)
            ours.append(sms)
            sms_gateway_url = f"http://127.0.0.1:{sms_port}{SMS_PATH}"
        _create_topics(bootstrap, settings.topic_partitions)

        config = PlatformConfig(
            server_dsn=server_dsn,
            kafka_bootstrap=bootstrap,
            operator_token=_operator_token(settings),
            smtp_port=smtp_port,
            ports={name: _port_or_free(port) for name, port in DEFAULT_PORTS.items()},
            log_dir=var / "log",
            sms_gateway_url=sms_gateway_url,
        )
        # Where the services' databases are, for the operator's commands run from this folder (fmf outbox,
        # fmf rebuild): each service's database is fmf_<service> on this server.
        (var / MAKE_UP_SERVER).write_text(server_dsn)
        (var / MAKE_UP_SERVER).chmod(0o600)
        services = ServiceProcesses(config)
        stops.callback(services.stop)
        services.start()
        services.wait_ready()
        for name in SERVICES:
            service = services.part(name)
            supervisor.watch(service, ready=service.ready)
        coordinator_token = _create_demo_tenant(config, var)
        registration = config.url("registration")
        with httpx.Client(timeout=10) as client:
            sign_in_link = console_sign_in_link(client, registration + "/v1", coordinator_token, DEMO_SIGN_IN_LINK_S)

        print("\nFolk møter folk is up.\n")
        for name in SERVICES:
            print(f"  {name:<13} {config.url(name)}/docs   metrics: {config.url(name)}/metrics")
        print(f"\n  PostgreSQL    {postgres.dsn if postgres is not None else server_dsn}")
        print(f"  Kafka         {bootstrap}")
        print(f"  SMTP sink     127.0.0.1:{smtp_port} -> {var / 'mail'}/*.eml")
        if sms is not None:
            print(f"  SMS sink      {sms_gateway_url} -> {var / 'sms'}/*.txt")
        else:
            print(f"  SMS gateway   {sms_gateway_url}")
        print(f"  Logs          {var / 'log'}/")
        print(f"\n  Operator token:               {config.operator_token}")
        print(f"  Coordinator token (tenant '{DEMO_TENANT['slug']}'): {coordinator_token}")
        public_page = f"{registration}/t/{DEMO_TENANT['slug']}"
        print(f"  Public page (tenant '{DEMO_TENANT['slug']}'):       {public_page}")
        print(f"\n  Console:                      {registration}/console")
        print(f"  Console (tenant '{DEMO_TENANT['slug']}', one-time sign-in link): {sign_in_link}")
        print("\n  Running (a part that stops is started again):")
        for part in [*ours, *(services.part(name) for name in SERVICES)]:
            print(f"    {part.name:<13} pid {part.pid()}")
        print("\nPress Ctrl-C to stop.", flush=True)
        supervisor.run_until(stop)
        return 0
    finally:
        print("\nStopping ...", flush=True)
        stops.close()


def _create_topics(bootstrap: str, partitions: int) -> None:
    asyncio.run(ensure_topics(bootstrap, partitions))


if __name__ == "__main__":
    sys.exit(main())
