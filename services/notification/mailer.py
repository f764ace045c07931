"""E-mail delivery over SMTP, with failures sorted into temporary (retry) and permanent (give up).

Connections are kept open between messages (one per concurrent sender at most), which saves the
connect, EHLO, STARTTLS and AUTH of every message. A connection idle for longer than ``MAX_IDLE_S``
is closed rather than reused, well before servers drop idle clients (RFC 5321 suggests 5 minutes).
"""

from __future__ import annotations

import time
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from typing import NoReturn

import aiosmtplib

from services.notification.domain import single_line, smtp_code_is_temporary
from services.notification.failures import PermanentFailure, TemporaryFailure
from services.notification.settings import NotificationSettings

MAX_IDLE_S = 10.0


class Mailer:
    def __init__(self, settings: NotificationSettings) -> None:
        self.settings = settings
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []

    def message(self, to: str, subject: str, body: str, notification_id: str, language: str = "nb") -> EmailMessage:
        """The e-mail of one notification. Text from data reaches a header only on one line and through the
        header registry of ``email.policy.default``; an address that is not exactly one plain address is a
        permanent failure, so nothing in it can add a recipient or a header."""
        msg = EmailMessage()
        msg["From"] = self.settings.mail_from
        msg["To"] = recipient(to)
        msg["Subject"] = single_line(subject)
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        # The same notification always has the same Message-ID: if a crash between the server's accept and
        # our commit makes it go out twice, mail systems see one message.
        msg["Message-ID"] = f"<{notification_id}@folkmoterfolk.no>"
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
        msg["X-FMF-Notification-Id"] = notification_id
        msg.set_content(body)
        msg["Content-Language"] = language  # after set_content, which replaces every Content-* header
        return msg

    async def send(self, msg: EmailMessage) -> None:
        client = await self._client()
        try:
            await client.send_message(msg)
        except BaseException as exc:
            client.close()
            _raise_classified(exc)
        self._idle.append((client, time.monotonic()))

    async def close(self) -> None:
        while self._idle:
            client, _ = self._idle.pop()
            client.close()

    async def _client(self) -> aiosmtplib.SMTP:
        while self._idle:
            client, since = self._idle.pop()
            if client.is_connected and time.monotonic() - since < MAX_IDLE_S:
                return client
            client.close()
        s = self.settings
        client = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username or None,
            password=s.smtp_password.get_secret_value() or None,
            start_tls=s.smtp_starttls,
            timeout=s.smtp_timeout_s,
        )
        try:
            await client.connect()
        except BaseException as exc:
            client.close()
            _raise_classified(exc)
        return client


def recipient(address: str) -> Address:
    """``address`` as one mailbox, or PermanentFailure (whose text never quotes the address)."""
    try:
        if single_line(address) != address or not address:
            raise ValueError("control characters or spaces")
        mailbox = Address(addr_spec=address)
        if mailbox.addr_spec != address or not mailbox.domain:
            raise ValueError("not a single plain address")
    except Exception as exc:  # ValueError, HeaderParseError, the defects email raises
        raise PermanentFailure("the e-mail address cannot be used") from exc
    return mailbox


def _raise_classified(exc: BaseException) -> NoReturn:
    """Raise the failure as TemporaryFailure or PermanentFailure; anything unexpected as it is."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        temporary = all(smtp_code_is_temporary(r.code) for r in exc.recipients)
        message = "; ".join(f"SMTP {r.code} {r.message}" for r in exc.recipients)
        raise (TemporaryFailure if temporary else PermanentFailure)(message) from exc
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        # Our credentials, not the message: keep it for when the configuration is fixed.
        raise TemporaryFailure(f"SMTP authentication failed: {exc.code} {exc.message}") from exc
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        temporary = smtp_code_is_temporary(exc.code)
        raise (TemporaryFailure if temporary else PermanentFailure)(f"SMTP {exc.code} {exc.message}") from exc
    if isinstance(exc, aiosmtplib.SMTPException | OSError | TimeoutError):
        raise TemporaryFailure(f"{type(exc).__name__}: {exc}") from exc
    raise exc
