"""Mail by SMTP: the one place that talks to the mail server.

Settings (service config): ``SMTP_HOST`` (default 127.0.0.1), ``SMTP_PORT`` (default 1025),
``MAIL_FROM`` (default shop@example.com), ``SMTP_TIMEOUT`` (seconds, default 5).
"""

from __future__ import annotations

import smtplib
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from nameko.extensions import DependencyProvider

from chassis.config import setting
from notifications.domain import message_id


class MailError(Exception):
    """A message was not handed to the mail server."""


class MailUnavailable(MailError):
    """The mail server could not be reached or dropped the connection: nothing gets through."""


class MailRejected(MailError):
    """The mail server refused this message; others may still go through."""


class MailClient:
    """What a worker sees: ``send`` hands one message to the SMTP server, or raises."""

    def __init__(self, host: str, port: int, sender: str, timeout: float) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.timeout = timeout

    def send(
        self, to: str, subject: str, body: str, *, name: str = "", reference: str | None = None
    ) -> None:
        """``reference`` (the event's id) fixes the Message-ID, so a message sent again after
        a crash is recognisably the same message."""
        message = EmailMessage()
        message["From"] = self.sender
        username, _, domain = to.rpartition("@")
        message["To"] = Address(display_name=name, username=username, domain=domain)
        message["Subject"] = subject
        message["Date"] = formatdate(usegmt=True)
        if reference:
            message["Message-ID"] = message_id(reference, self.sender)
        message.set_content(body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.send_message(message)
        except (
            smtplib.SMTPRecipientsRefused,
            smtplib.SMTPSenderRefused,
            smtplib.SMTPDataError,
            smtplib.SMTPNotSupportedError,
        ) as exc:
            raise MailRejected(f"{type(exc).__name__}: {exc}") from exc
        except OSError as exc:  # refused, timed out, disconnected (SMTPException is an OSError)
            raise MailUnavailable(f"{self.host}:{self.port}: {type(exc).__name__}: {exc}") from exc


class Mailer(DependencyProvider):
    def setup(self) -> None:
        config = self.container.config
        self.host = str(config.get("SMTP_HOST") or "127.0.0.1")
        self.port = setting(config, "SMTP_PORT", 1025)
        self.sender = str(config.get("MAIL_FROM") or "shop@example.com")
        self.timeout = setting(config, "SMTP_TIMEOUT", 5.0)

    def get_dependency(self, worker_ctx: Any) -> MailClient:
        return MailClient(self.host, self.port, self.sender, self.timeout)
