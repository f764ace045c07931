"""E-mail delivery over SMTP, with failures sorted into temporary (retry) and permanent (give up)."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from shared.settings import Settings


class TemporaryFailure(Exception):
    """Worth retrying later: SMTP 4xx, a timeout, a refused connection."""


class PermanentFailure(Exception):
    """Retrying cannot help: an unknown mailbox, a rejected address (SMTP 5xx)."""


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def message(self, to: str, subject: str, body: str, notification_id: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.settings.mail_from
        msg["To"] = to
        msg["Subject"] = subject
        msg["X-FMF-Notification-Id"] = notification_id
        msg.set_content(body)
        return msg

    async def send(self, msg: EmailMessage) -> None:
        s = self.settings
        try:
            await aiosmtplib.send(
                msg,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username or None,
                password=s.smtp_password or None,
                start_tls=s.smtp_starttls,
                timeout=s.smtp_timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise (TemporaryFailure if all(400 <= c < 500 for c in codes) else PermanentFailure)(str(exc)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise (TemporaryFailure if 400 <= exc.code < 500 else PermanentFailure)(str(exc)) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TemporaryFailure(f"{type(exc).__name__}: {exc}") from exc
