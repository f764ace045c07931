"""E-mail delivery over SMTP, with failures sorted into temporary (retry) and permanent (give up).

A small pool of SMTP connections (``FMF_SMTP_POOL_SIZE``) carries every message of a replica: at most that
many are open, and each carries many messages, which saves the connect, EHLO, STARTTLS and AUTH of every
message. A connection is closed rather than reused when it has been idle for ``FMF_SMTP_IDLE_S`` (well
before servers drop idle clients; RFC 5321 suggests 5 minutes) or has carried
``FMF_SMTP_MESSAGES_PER_CONNECTION`` messages (servers limit that too). When a reused connection turns out
to be dropped, or the server answers 421 (closing), the message goes again at once on a new connection;
every other failure is the message's own (see ``domain.smtp_worth_a_new_connection``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.utils import formatdate
from typing import NoReturn

import aiosmtplib

from services.notification.domain import single_line, smtp_code_is_temporary, smtp_worth_a_new_connection
from services.notification.failures import PermanentFailure, TemporaryFailure
from services.notification.settings import NotificationSettings


class _Headers(HeaderRegistry):
    """The standard header registry, but each header's class made once: ``HeaderRegistry`` makes a new class
    for every header it parses, a third of the CPU a message costs to build."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        if key not in self._classes:
            self._classes[key] = super().__getitem__(name)
        return self._classes[key]


# email.policy.default (RFC 5322 headers through the header registry, \n line ends), with that registry.
POLICY = policy.default.clone(header_factory=_Headers())
CALENDAR_FILENAME = "folk-moter-folk.ics"
QUIT_TIMEOUT_S = 2.0


@dataclass
class _Connection:
    client: aiosmtplib.SMTP
    sent: int = 0  # messages this connection has carried
    idle_since: float = 0.0  # the mailer's clock when it was last given back


class Mailer:
    """Builds the e-mail of a notification and sends it over the pool of SMTP connections."""

    def __init__(self, settings: NotificationSettings, clock: Callable[[], float] = time.monotonic) -> None:
        """``clock`` (seconds, monotonic) tells how long a connection has been idle; tests pass their own."""
        self.settings = settings
        self.clock = clock
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(settings.smtp_pool_size)
        self.connections_opened = 0  # over the mailer's life, for tests and benchmarks

    def message(
        self,
        to: str,
        subject: str,
        body: str,
        notification_id: str,
        language: str = "nb",
        calendar: bytes | None = None,
    ) -> EmailMessage:
        """The e-mail of one notification. Text from data reaches a header only on one line and through the
        header registry of ``email.policy.default``; an address that is not exactly one plain address is a
        permanent failure, so nothing in it can add a recipient or a header. ``calendar``, the bytes of an
        .ics file, goes along as the attachment ``folk-moter-folk.ics`` (``text/calendar; method=PUBLISH``)."""
        msg = EmailMessage(policy=POLICY)
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
        if calendar is not None:
            msg.add_attachment(
                calendar,
                maintype="text",
                subtype="calendar",
                filename=CALENDAR_FILENAME,
                params={"charset": "utf-8", "method": "PUBLISH"},
            )
        msg["Content-Language"] = language  # after set_content, which replaces every Content-* header
        return msg

    async def send(self, msg: EmailMessage) -> None:
        """Send ``msg`` over a pooled connection; waits while all ``smtp_pool_size`` are busy. Raises
        TemporaryFailure or PermanentFailure; anything unexpected as it is."""
        async with self._slots:
            connection = await self._acquire()
            try:
                await connection.client.send_message(msg)
            except BaseException as exc:
                connection.client.close()
                if not smtp_worth_a_new_connection(
                    reused=connection.sent > 0,
                    code=exc.code if isinstance(exc, aiosmtplib.SMTPResponseException) else None,
                    disconnected=isinstance(exc, aiosmtplib.SMTPServerDisconnected | ConnectionError),
                ):
                    _raise_classified(exc)
                connection = await self._connect()
                try:
                    await connection.client.send_message(msg)
                except BaseException as again:
                    connection.client.close()
                    _raise_classified(again)
            connection.sent += 1
            await self._release(connection)

    async def prune(self) -> None:
        """Close the connections idle for longer than ``smtp_idle_s`` (the sender calls it when idle)."""
        now = self.clock()
        stale = [c for c in self._idle if now - c.idle_since >= self.settings.smtp_idle_s]
        self._idle = [c for c in self._idle if c not in stale]
        await asyncio.gather(*(_quit(c.client) for c in stale))

    async def close(self) -> None:
        """Say goodbye (QUIT) on every idle connection and close it."""
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quit(c.client) for c in idle))

    @property
    def open_connections(self) -> int:
        """Idle connections kept for the next message."""
        return len(self._idle)

    async def _acquire(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()  # the most recently used: the least likely to be stale
            fresh = self.clock() - connection.idle_since < self.settings.smtp_idle_s
            if fresh and connection.client.is_connected:
                return connection
            await _quit(connection.client)
        return await self._connect()

    async def _release(self, connection: _Connection) -> None:
        if connection.sent >= self.settings.smtp_messages_per_connection:
            await _quit(connection.client)
            return
        connection.idle_since = self.clock()
        self._idle.append(connection)

    async def _connect(self) -> _Connection:
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
        self.connections_opened += 1
        return _Connection(client)


async def _quit(client: aiosmtplib.SMTP) -> None:
    """End a session politely if the server still listens, and close the connection whatever happens."""
    try:
        if client.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await client.quit(timeout=QUIT_TIMEOUT_S)
    finally:
        client.close()


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
