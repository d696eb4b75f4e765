"""Mail by SMTP: the one place that talks to the mail server.

Settings (service config): ``SMTP_HOST`` (default 127.0.0.1), ``SMTP_PORT`` (default 1025),
``MAIL_FROM`` (default shop@example.com), ``SMTP_TIMEOUT`` (seconds, default 5).
"""

from __future__ import annotations

import smtplib
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.mime.text import MIMEText
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
    """The mail server refused this message; others may still go through.

    ``code`` is the SMTP reply code, when the server gave one. A ``permanent`` refusal (a 5xx
    reply) would be refused again, so the message is not worth another try; a transient one
    (4xx) may go through later.
    """

    def __init__(self, message: str, code: int | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent


REFUSALS = (
    smtplib.SMTPRecipientsRefused,
    smtplib.SMTPSenderRefused,
    smtplib.SMTPDataError,
    smtplib.SMTPNotSupportedError,
)


def rejection(exc: smtplib.SMTPException) -> MailRejected:
    """The ``MailRejected`` for one of the ``REFUSALS``, permanent when its code is 5xx."""
    message = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        # What the server lacks (SMTPUTF8 for an international address) it will still lack.
        return MailRejected(message, permanent=True)
    code: int | None = None
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        # Every recipient was refused, each with its own code: one transient refusal is
        # enough for the message to be worth another try, and the lowest code says which.
        code = min((reply[0] for reply in exc.recipients.values()), default=None)
    elif isinstance(exc, smtplib.SMTPResponseException):  # sender refused, data refused
        code = exc.smtp_code
    return MailRejected(message, code, permanent=code is not None and code >= 500)


class Connections:
    """A few open SMTP sessions, reused from one message to the next: connecting and greeting
    cost more than a message does. A session is used by one green thread at a time."""

    def __init__(self, host: str, port: int, timeout: float, keep: int = 4) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.keep = keep
        self._idle: list[smtplib.SMTP] = []

    def take(self) -> tuple[smtplib.SMTP, bool]:
        """An open session, and whether it was used before (it may have gone stale)."""
        if self._idle:
            return self._idle.pop(), True
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout), False

    def give_back(self, smtp: smtplib.SMTP) -> None:
        if len(self._idle) < self.keep:
            self._idle.append(smtp)
        else:
            self.discard(smtp, polite=True)

    @staticmethod
    def discard(smtp: smtplib.SMTP, polite: bool = False) -> None:
        try:
            smtp.quit() if polite else smtp.close()
        except (OSError, smtplib.SMTPException):
            smtp.close()

    def close(self) -> None:
        while self._idle:
            self.discard(self._idle.pop(), polite=True)


def compose(sender: str, to: str, subject: str, body: str) -> Message:
    """The message, from ``sender`` to the address ``to`` alone: a display name would be text
    the registrant chose, shown by the recipient's mail client as if the shop had written it.

    A message all in ASCII, with no line break in a header, is built from plain strings
    (``email``'s compat32 API): a quarter of the CPU of the modern API, which parses every
    header it is given. Anything else (an international address, text beyond ASCII) takes the
    modern API, which encodes it and refuses a header that would break a line.
    """
    headers = (sender, to, subject)
    if all(text.isascii() and "\r" not in text and "\n" not in text for text in headers) and (
        body.isascii()
    ):
        plain = MIMEText(body, "plain", "us-ascii")
        plain["From"], plain["To"], plain["Subject"] = sender, to, subject
        return plain
    message = EmailMessage()
    message["From"] = sender
    username, _, domain = to.rpartition("@")
    message["To"] = Address(username=username, domain=domain)
    message["Subject"] = subject
    message.set_content(body)
    return message


class MailClient:
    """What a worker sees: ``send`` hands one message to the SMTP server, or raises."""

    def __init__(self, connections: Connections, sender: str) -> None:
        self.connections = connections
        self.host = connections.host
        self.port = connections.port
        self.sender = sender

    def send(self, to: str, subject: str, body: str, *, reference: str | None = None) -> None:
        """``reference`` (the event's id) fixes the Message-ID, so a message sent again after
        a crash is recognisably the same message."""
        message = compose(self.sender, to, subject, body)
        message["Date"] = formatdate(usegmt=True)
        if reference:
            message["Message-ID"] = message_id(reference, self.sender)
        for _ in range(2):  # a session kept open may have been closed by the server meanwhile
            try:
                smtp, reused = self.connections.take()
            except OSError as exc:
                raise MailUnavailable(f"{self.host}:{self.port}: {exc}") from exc
            try:
                smtp.send_message(message)
            except REFUSALS as exc:
                self.connections.discard(smtp)
                raise rejection(exc) from exc
            except OSError as exc:  # disconnected, timed out (SMTPException is an OSError)
                self.connections.discard(smtp)
                if reused:  # the others kept open are likely stale too: start afresh
                    self.connections.close()
                    continue
                raise MailUnavailable(
                    f"{self.host}:{self.port}: {type(exc).__name__}: {exc}"
                ) from exc
            self.connections.give_back(smtp)
            return
        raise MailUnavailable(f"{self.host}:{self.port}: the connection keeps dropping")


class Mailer(DependencyProvider):
    def setup(self) -> None:
        config = self.container.config
        self.host = str(config.get("SMTP_HOST") or "127.0.0.1")
        self.port = setting(config, "SMTP_PORT", 1025)
        self.sender = str(config.get("MAIL_FROM") or "shop@example.com")
        self.timeout = setting(config, "SMTP_TIMEOUT", 5.0)
        self.connections = Connections(self.host, self.port, self.timeout)

    def stop(self) -> None:
        self.connections.close()

    def kill(self) -> None:
        self.connections.close()

    def get_dependency(self, worker_ctx: Any) -> MailClient:
        return MailClient(self.connections, self.sender)
