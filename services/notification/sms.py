"""SMS delivery through an HTTP gateway: a JSON POST with a bearer key.

The request is ``{"to": "+4791234567", "from": "<sender>", "text": "...", "reference": "<id>"}`` with
``Authorization: Bearer <key>`` and ``Idempotency-Key: <notification id>``, so a gateway that
supports it can drop the repeat of a request whose answer was lost to a timeout.
"""

from __future__ import annotations

import httpx

from services.notification.domain import gateway_status_is_temporary
from services.notification.failures import PermanentFailure, TemporaryFailure
from services.notification.settings import NotificationSettings


class SmsGateway:
    def __init__(self, settings: NotificationSettings, client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.client = client or httpx.AsyncClient(timeout=settings.sms_timeout_s)

    @property
    def enabled(self) -> bool:
        return bool(self.settings.sms_gateway_url)

    async def send(self, to: str, text: str, reference: str) -> None:
        s = self.settings
        headers = {"Idempotency-Key": reference}
        if key := s.sms_gateway_key.get_secret_value():
            headers["Authorization"] = f"Bearer {key}"
        try:
            response = await self.client.post(
                s.sms_gateway_url,
                json={"to": to, "from": s.sms_sender, "text": text, "reference": reference},
                headers=headers,
                timeout=s.sms_timeout_s,
            )
        except httpx.HTTPError as exc:  # timeouts, refused connections, broken responses
            raise TemporaryFailure(f"SMS gateway: {type(exc).__name__}: {exc}") from exc
        if response.is_success:
            return
        error = f"SMS gateway {response.status_code}: {response.text[:200]}"
        raise (TemporaryFailure if gateway_status_is_temporary(response.status_code) else PermanentFailure)(error)

    async def close(self) -> None:
        await self.client.aclose()
