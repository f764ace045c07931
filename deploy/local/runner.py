"""``make up``: the whole platform on one machine, with embedded PostgreSQL and broker by default.

Set FMF_DATABASE_URL (any database on the server; each service gets its own database beside it) or
FMF_KAFKA_BOOTSTRAP to use an external PostgreSQL or Kafka instead; ``LocalSettings``
(``deploy/local/settings.py``) lists what it reads. Ctrl-C stops everything.
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
from pathlib import Path

import httpx

from deploy.local.embedded import EmbeddedPostgres, TansuBroker, free_port
from deploy.local.mailsink import start_mail_sink
from deploy.local.platform import DEFAULT_PORTS, SERVICES, PlatformConfig, ServiceProcesses
from deploy.local.settings import LocalSettings
from deploy.local.smssink import SmsSink, start_sms_sink
from shared.topics import ensure_topics

DEMO_TENANT = {"slug": "demo", "name": "Demo kommune", "municipality_number": "9999"}


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
    with httpx.Client(headers=headers, timeout=10) as client:
        return demo_coordinator_token(client, config.url("registration") + "/v1", var / "demo-coordinator-token")


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


def main() -> int:
    settings = LocalSettings()
    var = settings.var
    var.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    postgres: EmbeddedPostgres | None = None
    sms: SmsSink | None = None
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
            server_dsn = postgres.socket_dsn
        bootstrap = settings.kafka_bootstrap
        if not bootstrap:
            (var / "log").mkdir(exist_ok=True)
            broker = TansuBroker(_port_or_free(9092), log_path=var / "log" / "tansu.log")
            stops.callback(broker.stop)
            broker.start()
            bootstrap = broker.bootstrap
        smtp_port = _port_or_free(settings.smtp_port)
        mail = start_mail_sink(var / "mail", smtp_port)
        stops.callback(mail.stop)
        sms_gateway_url = settings.sms_gateway_url
        if not sms_gateway_url:
            sms = start_sms_sink(var / "sms", _port_or_free(settings.sms_sink_port))
            stops.callback(sms.stop)
            sms_gateway_url = sms.url
        asyncio.run(ensure_topics(bootstrap, settings.topic_partitions))

        config = PlatformConfig(
            server_dsn=server_dsn,
            kafka_bootstrap=bootstrap,
            operator_token=_operator_token(settings),
            smtp_port=smtp_port,
            ports={name: _port_or_free(port) for name, port in DEFAULT_PORTS.items()},
            log_dir=var / "log",
            sms_gateway_url=sms_gateway_url,
        )
        services = ServiceProcesses(config)
        stops.callback(services.stop)
        services.start()
        services.wait_ready()
        coordinator_token = _create_demo_tenant(config, var)

        print("\nFolk møter folk is up.\n")
        for name in SERVICES:
            print(f"  {name:<13} {config.url(name)}/docs   metrics: {config.url(name)}/metrics")
        print(f"\n  PostgreSQL    {postgres.dsn if postgres is not None else server_dsn}")
        print(f"  Kafka         {bootstrap}")
        print(f"  SMTP sink     127.0.0.1:{smtp_port} -> {var / 'mail'}/*.eml")
        if sms is not None:
            print(f"  SMS sink      {sms.url} -> {var / 'sms'}/*.txt")
        else:
            print(f"  SMS gateway   {sms_gateway_url}")
        print(f"  Logs          {var / 'log'}/")
        print(f"\n  Operator token:               {config.operator_token}")
        print(f"  Coordinator token (tenant '{DEMO_TENANT['slug']}'): {coordinator_token}")
        print("\nPress Ctrl-C to stop.", flush=True)
        while not stop.wait(1.0):
            if dead := services.dead():
                print(f"stopped unexpectedly: {', '.join(dead)}; see {var / 'log'}", file=sys.stderr)
                return 1
        return 0
    finally:
        print("\nStopping ...", flush=True)
        stops.close()


if __name__ == "__main__":
    sys.exit(main())
