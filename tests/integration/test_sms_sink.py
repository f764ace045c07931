"""``make up``'s SMS sink takes notification's gateway requests over real HTTP and keeps each SMS as a file."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from deploy.local.smssink import start_sms_sink
from services.notification.settings import NotificationSettings
from services.notification.sms import SmsGateway

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_the_sink_keeps_each_sms_notification_sends_as_a_file(tmp_path: Path) -> None:
    sink = start_sms_sink(tmp_path / "sms")
    try:
        settings = NotificationSettings(sms_gateway_url=sink.url, sms_gateway_key="local-key", sms_sender="FolkMoter")
        gateway = SmsGateway(settings)
        try:
            await gateway.send("+4791234567", "Hei! Møtet starter kl. 10:00. Bibliotek, Torvet 6.", "notif-1")
            await gateway.send("+4791234567", "Hei! Møtet starter kl. 10:00. Bibliotek, Torvet 6.", "notif-1")
            await gateway.send("+4799887766", "Plassen din er bekreftet.", "notif-2")
        finally:
            await gateway.close()
        files = sorted((tmp_path / "sms").glob("*.txt"))
        assert len(files) == 2  # the repeat of notif-1 (same Idempotency-Key) is not a second SMS
        first = next(f for f in files if f.name.endswith("-notif-1.txt")).read_text(encoding="utf-8")
        assert "To: +4791234567" in first and "From: FolkMoter" in first and "Reference: notif-1" in first
        assert first.rstrip().endswith("Hei! Møtet starter kl. 10:00. Bibliotek, Torvet 6.")

        async with httpx.AsyncClient() as http:
            assert (await http.post(sink.url, content=b"{not json")).status_code == 400
            assert (await http.post(sink.url, json={"text": "no recipient"})).status_code == 422
        assert len(list((tmp_path / "sms").glob("*.txt"))) == 2
    finally:
        sink.stop()
