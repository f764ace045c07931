"""The SMS gateway adapter's request and how both channels sort failures (no network: httpx's mock
transport; the real SMTP server and a real HTTP gateway are in the integration tests)."""

from __future__ import annotations

import email
import json
from email import policy
from email.message import EmailMessage

import aiosmtplib
import httpx
import pytest

from services.notification.failures import PermanentFailure, TemporaryFailure
from services.notification.mailer import Mailer, _raise_classified
from services.notification.settings import NotificationSettings
from services.notification.sms import SmsGateway

SETTINGS = NotificationSettings(
    sms_gateway_url="https://sms.example.no/v1/messages", sms_gateway_key="k3y", sms_sender="FolkMoter"
)


def gateway(handler: httpx.MockTransport) -> SmsGateway:
    return SmsGateway(SETTINGS, httpx.AsyncClient(transport=handler))


async def test_an_sms_is_a_json_post_with_the_bearer_key_and_an_idempotency_key() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json={"id": "abc"})

    await gateway(httpx.MockTransport(answer)).send("+4791234567", "Hei Kari!", "n-1")
    [request] = seen
    assert request.method == "POST" and str(request.url) == SETTINGS.sms_gateway_url
    assert request.headers["authorization"] == "Bearer k3y"
    assert request.headers["idempotency-key"] == "n-1"
    assert json.loads(request.content) == {
        "to": "+4791234567",
        "from": "FolkMoter",
        "text": "Hei Kari!",
        "reference": "n-1",
    }


@pytest.mark.parametrize(
    ("status", "failure"),
    [(500, TemporaryFailure), (503, TemporaryFailure), (429, TemporaryFailure), (400, PermanentFailure)],
)
async def test_gateway_answers_are_sorted(status: int, failure: type[Exception]) -> None:
    sms = gateway(httpx.MockTransport(lambda _: httpx.Response(status, json={"error": "x"})))
    with pytest.raises(failure, match=str(status)):
        await sms.send("+4791234567", "Hei", "n-2")


async def test_a_gateway_timeout_is_temporary() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(TemporaryFailure, match="ReadTimeout"):
        await gateway(httpx.MockTransport(slow)).send("+4791234567", "Hei", "n-3")


def test_sms_is_disabled_without_a_gateway_url() -> None:
    assert not SmsGateway(NotificationSettings(sms_gateway_url="")).enabled
    assert SmsGateway(SETTINGS).enabled


@pytest.mark.parametrize(
    ("error", "failure"),
    [
        (aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(451, "later", "a@b.no")]), TemporaryFailure),
        (
            aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(550, "unknown", "a@b.no")]),
            PermanentFailure,
        ),
        (aiosmtplib.SMTPDataError(452, "full"), TemporaryFailure),
        (aiosmtplib.SMTPDataError(554, "rejected"), PermanentFailure),
        (aiosmtplib.SMTPAuthenticationError(535, "bad credentials"), TemporaryFailure),
        (aiosmtplib.SMTPServerDisconnected("gone"), TemporaryFailure),
        (aiosmtplib.SMTPConnectError("refused"), TemporaryFailure),
        (TimeoutError(), TemporaryFailure),
    ],
)
def test_smtp_failures_are_sorted(error: BaseException, failure: type[Exception]) -> None:
    with pytest.raises(failure):
        _raise_classified(error)


def test_an_unexpected_error_is_not_disguised() -> None:
    with pytest.raises(KeyError):
        _raise_classified(KeyError("bug"))


def test_the_mail_carries_language_and_notification_id() -> None:
    msg = Mailer(NotificationSettings()).message(
        "kari@example.no", "Du er påmeldt", "Hei Kari! Velkommen.\n", "n-4", "nn"
    )
    parsed = email.message_from_bytes(msg.as_bytes(), _class=EmailMessage, policy=policy.default)
    assert parsed["Subject"] == "Du er påmeldt" and parsed["From"] == "Folk møter folk <noreply@folkmoterfolk.no>"
    assert parsed["Content-Language"] == "nn" and parsed["X-FMF-Notification-Id"] == "n-4"
    assert parsed["Auto-Submitted"] == "auto-generated" and parsed["Message-ID"] and parsed["Date"]
    assert parsed.get_content() == "Hei Kari! Velkommen.\n"
    plain = Mailer(NotificationSettings()).message("kari@example.no", "You are signed up", "Hello!\n", "n-5", "en")
    assert plain["Subject"] == "You are signed up"  # readable as it is where it can be
    long_subject = "Påminnelse: Kaffe og prat på biblioteket med en lang tittel, tirsdag 2. mars"
    folded = Mailer(NotificationSettings()).message("kari@example.no", long_subject, "Hei!\n", "n-6", "nb")
    assert email.message_from_bytes(folded.as_bytes(), policy=policy.default)["Subject"] == long_subject
