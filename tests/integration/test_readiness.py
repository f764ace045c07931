"""/readyz answers 503 while the database is down and 200 again when it is back; /healthz stays 200."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx

from deploy.local.embedded import EmbeddedPostgres
from deploy.local.platform import ServiceProcesses
from tests.conftest import platform_config, private_dir
from tests.support import RecordingSmtpHandler


def wait_for_status(url: str, status: int, timeout_s: float = 30.0) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    last: httpx.Response | None = None
    while time.monotonic() < deadline:
        try:
            last = httpx.get(url, timeout=5)
            if last.status_code == status:
                return last
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer {status}; last: {last and last.status_code} {last and last.text}")


def test_readyz_follows_the_database(kafka_bootstrap: str, smtp: tuple[int, RecordingSmtpHandler]) -> None:
    folder = private_dir("readyz")
    postgres = EmbeddedPostgres(folder / "data")  # its own server: this test stops it
    postgres.start()
    config = platform_config(postgres.dsn, kafka_bootstrap, smtp[0], Path(folder / "logs"))
    service = ServiceProcesses(config, services=("registration",))
    service.start()
    try:
        service.wait_ready()
        base = config.url("registration")
        assert httpx.get(base + "/readyz").json()["checks"] == {"database": "ok", "broker": "ok"}
        postgres.stop()
        down = wait_for_status(base + "/readyz", 503)
        assert down.headers["content-type"] == "application/problem+json"
        assert "database" in down.json()["detail"] and down.json()["checks"]["broker"] == "ok"
        assert httpx.get(base + "/healthz").status_code == 200  # alive, just not ready
        postgres.start()
        wait_for_status(base + "/readyz", 200)
        assert not service.dead()
    finally:
        service.stop()
        postgres.destroy()
        shutil.rmtree(folder, ignore_errors=True)
