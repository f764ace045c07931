"""`make up`'s runner brings the platform up on embedded servers and Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_runner_starts_everything_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FMF_")}
    env.update(
        {
            "FMF_VAR_DIR": str(tmp_path / "var"),
            "FMF_KAFKA_SESSION_TIMEOUT_MS": "3000",
            "FMF_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        }
    )
    runner = subprocess.Popen(
        [sys.executable, "-m", "deploy.local.runner"],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    output: list[str] = []
    logs = tmp_path / "var" / "log"
    log_sizes: dict[Path, int] = {}
    try:
        assert runner.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = runner.stdout.readline()
            if not line:
                break
            output.append(line)
            if "Press Ctrl-C" in line:
                break
        text = "".join(output)
        assert "Press Ctrl-C to stop" in text, text
        services = dict(re.findall(r"^\s+(\w+)\s+(http://127\.0\.0\.1:\d+)/docs", text, re.M))
        assert sorted(services) == ["matching", "notification", "registration", "reporting"]
        operator = re.search(r"Operator token:\s+(\S+)", text).group(1)  # type: ignore[union-attr]
        coordinator = re.search(r"Coordinator token \(tenant 'demo'\):\s+(\S+)", text).group(1)  # type: ignore[union-attr]
        infra_ports = [int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", text)]
        sms_sink = re.search(r"SMS sink\s+(http://127\.0\.0\.1:\d+/sms) -> (\S+)/\*\.txt", text)
        assert sms_sink is not None, text
        assert Path(sms_sink.group(2)) == tmp_path / "var" / "sms"

        with httpx.Client(timeout=5) as http:
            for url in services.values():
                assert http.get(url + "/healthz").status_code == 200
            tenants = http.get(
                services["registration"] + "/v1/tenants", headers={"Authorization": f"Bearer {operator}"}
            )
            assert [t["slug"] for t in tenants.json()] == ["demo"]
            demo = http.get(
                services["registration"] + "/v1/tenants/demo/meetings",
                headers={"Authorization": f"Bearer {coordinator}"},
            )
            assert demo.status_code == 200

            # The demo tenant's public page, as printed, lists a published upcoming meeting that opens.
            public_page = re.search(r"Public page \(tenant 'demo'\):\s+(\S+)", text)
            assert public_page is not None, text
            assert public_page.group(1) == services["registration"] + "/t/demo"
            listing = http.get(public_page.group(1), headers={"Accept-Language": "nb"})
            assert listing.status_code == 200, listing.text
            meeting_links = re.findall(r'class="meeting".*?href="(/t/demo/meetings/[0-9a-f-]{36})"', listing.text, re.S)
            assert meeting_links, listing.text
            assert http.get(services["registration"] + meeting_links[0]).status_code == 200

            # The console, as printed; its one-time link signs the demo coordinator in and lands on the meetings
            # page, and works once.
            console = re.search(r"^\s+Console:\s+(\S+)$", text, re.M)
            assert console is not None and console.group(1) == services["registration"] + "/console", text
            link = re.search(r"Console \(tenant 'demo', one-time sign-in link\):\s+(\S+)", text)
            assert link is not None, text
            assert link.group(1).startswith(services["registration"] + "/console/sign-in/link/")
            with httpx.Client(timeout=5, follow_redirects=True) as browser:
                landed = browser.get(link.group(1), headers={"Accept-Language": "nb"})
                assert landed.status_code == 200, landed.text
                assert str(landed.url) == services["registration"] + "/console/meetings"
                assert "Demo kommune" in landed.text and 'action="/console/sign-out"' in landed.text
                assert "Folk møter folk på biblioteket" in landed.text, "the demo meeting is listed"
            with httpx.Client(timeout=5) as stranger:
                assert stranger.get(link.group(1)).status_code == 401, "the link works once"

            sms = {"to": "+4791234567", "from": "FolkMoter", "text": "Hei fra make up", "reference": "make-up-test"}
            assert http.post(sms_sink.group(1), json=sms, headers={"Idempotency-Key": "make-up-test"}).is_success
            [kept] = (tmp_path / "var" / "sms").glob("*-make-up-test.txt")
            assert "Hei fra make up" in kept.read_text(encoding="utf-8")

            def kafka_metrics(url: str) -> bool:
                """FastStream's consumer metrics are wired, and Kafka traffic has been counted: messages
                consumed, or (registration, which consumes only matching's events) outbox events published."""
                text = http.get(url + "/metrics").text
                wired = "# TYPE faststream_received_messages_total counter" in text
                return wired and ("\nfaststream_" in text or "\nfmf_outbox_published_total{" in text)

            deadline = time.monotonic() + 30
            while not all(kafka_metrics(u) for u in services.values()) and time.monotonic() < deadline:
                time.sleep(0.5)
            assert all(kafka_metrics(u) for u in services.values())

            # The operator's outbox command finds make up's registration database with nothing set but the
            # var directory (var/server-dsn), as it does run from the project folder.
            republish = subprocess.run(
                [sys.executable, "-m", "deploy.cli", "outbox", "republish", "registration"],
                cwd=ROOT,
                env={k: v for k, v in env.items() if k != "FMF_DATABASE_URL"},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert republish.returncode == 0, republish.stdout + republish.stderr
            assert re.search(r"registration: [1-9]\d* outbox rows kept will be published again", republish.stdout), (
                republish.stdout
            )
        log_sizes = {path: path.stat().st_size for path in logs.glob("*.log")}
    finally:
        # Ctrl-C in a terminal: SIGINT to the whole process group, not only to the runner.
        os.killpg(runner.pid, signal.SIGINT)
        rest, _ = runner.communicate(timeout=60)
    assert runner.returncode == 0, rest
    assert "Stopped." in rest
    # Stopped in the reverse order of start: no service lost its broker or database while stopping
    # (issue 17, kind 8: ~58 error lines on Ctrl-C, the broker had stopped first).
    for service in ("registration", "matching", "notification", "reporting"):
        path = logs / f"{service}.log"
        with path.open("rb") as log:
            log.seek(log_sizes.get(path, 0))
            stopping = log.read().decode("utf-8", "replace").splitlines()
        errors = [line for line in stopping if '"level": "error"' in line or "Traceback" in line]
        assert errors == [], (service, errors[:5])
    assert not [p for p in infra_ports if listening(p)]
    assert not (tmp_path / "var" / "postgres" / "postmaster.pid").exists()
    assert (tmp_path / "var" / "postgres" / "PG_VERSION").exists()  # data is kept for the next start
