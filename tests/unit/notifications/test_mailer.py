"""What the mail server's refusals mean for a message: worth another try (4xx), or not (5xx);
and the message itself, as its recipient reads it."""

import email
import smtplib
from email import policy
from unittest.mock import Mock

import pytest

from notifications.mailer import (
    Connections,
    MailClient,
    MailRejected,
    MailUnavailable,
    compose,
    rejection,
)

NO_SUCH_USER = (550, b"5.1.1 no such user")
TRY_LATER = (451, b"4.3.0 try later")


@pytest.mark.parametrize(
    ("error", "code", "permanent"),
    [
        (smtplib.SMTPRecipientsRefused({"a@example.com": NO_SUCH_USER}), 550, True),
        (smtplib.SMTPRecipientsRefused({"a@example.com": (553, b"bad address")}), 553, True),
        (smtplib.SMTPRecipientsRefused({"a@example.com": TRY_LATER}), 451, False),
        (smtplib.SMTPRecipientsRefused({"a@example.com": (421, b"closing")}), 421, False),
        (smtplib.SMTPSenderRefused(553, b"not our domain", "shop@example.com"), 553, True),
        (smtplib.SMTPSenderRefused(452, b"out of room", "shop@example.com"), 452, False),
        (smtplib.SMTPDataError(554, b"5.7.1 looks like spam"), 554, True),
        (smtplib.SMTPDataError(450, b"mailbox busy"), 450, False),
        (smtplib.SMTPNotSupportedError("SMTPUTF8 not supported"), None, True),
    ],
)
def test_a_refusal_is_permanent_only_with_a_5xx_code(error, code, permanent):
    rejected = rejection(error)
    assert (rejected.code, rejected.permanent) == (code, permanent)
    assert str(rejected).startswith(f"{type(error).__name__}: ")


def test_recipients_refused_is_permanent_only_when_every_one_was_refused_for_good():
    mixed = smtplib.SMTPRecipientsRefused({"a@example.com": NO_SUCH_USER, "b@x.org": TRY_LATER})
    every = smtplib.SMTPRecipientsRefused({"a@example.com": NO_SUCH_USER, "b@x.org": (554, b"")})
    assert (rejection(mixed).code, rejection(mixed).permanent) == (451, False)
    assert (rejection(every).code, rejection(every).permanent) == (550, True)


def test_a_rejection_made_without_a_code_is_worth_a_retry():
    assert (MailRejected("refused").code, MailRejected("refused").permanent) == (None, False)


def client_failing_with(error):
    smtp = Mock(spec=smtplib.SMTP)
    smtp.send_message.side_effect = error
    connections = Mock(spec=Connections, host="mail.test", port=25)
    connections.take.return_value = (smtp, False)
    return MailClient(connections, "shop@example.com"), connections, smtp


def test_send_raises_the_classified_refusal_and_drops_the_session():
    client, connections, smtp = client_failing_with(
        smtplib.SMTPRecipientsRefused({"ada@example.com": NO_SUCH_USER})
    )
    with pytest.raises(MailRejected) as caught:
        client.send("ada@example.com", "Hello", "Body")
    assert (caught.value.code, caught.value.permanent) == (550, True)
    assert isinstance(caught.value.__cause__, smtplib.SMTPRecipientsRefused)
    connections.discard.assert_called_once_with(smtp)
    assert not connections.give_back.called


def test_a_dropped_connection_is_still_unavailable_not_rejected():
    client, connections, smtp = client_failing_with(smtplib.SMTPServerDisconnected("gone"))
    with pytest.raises(MailUnavailable, match="mail.test:25: SMTPServerDisconnected: gone"):
        client.send("ada@example.com", "Hello", "Body")
    connections.discard.assert_called_once_with(smtp)


@pytest.mark.parametrize(
    "body",
    ["Total: 37.50\nThanks.\n", "Bienvenue, Zoë!\n"],  # all ASCII, then beyond it
)
def test_a_message_reads_back_as_written_whichever_way_it_was_built(body):
    subject = "Your order 1a2b3c4d is confirmed"
    message = compose("shop@example.com", "ada@example.com", subject, body)
    message["Message-ID"] = "<e-1@example.com>"
    parsed = email.message_from_bytes(message.as_bytes(), policy=policy.default)
    assert parsed["From"] == "shop@example.com"
    assert parsed["To"].addresses[0].addr_spec == "ada@example.com"
    assert parsed["To"].addresses[0].display_name == ""
    assert parsed["Subject"] == subject
    assert parsed["Message-ID"] == "<e-1@example.com>"
    assert parsed.get_content() == body


def test_an_international_address_is_left_to_the_modern_api_and_smtputf8():
    message = compose("shop@example.com", "zoë@exämple.com", "Welcome to the shop", "Hello\n")
    assert message["To"].addresses[0].addr_spec == "zoë@exämple.com"
    assert message["To"].addresses[0].display_name == ""


def test_a_header_with_a_line_break_is_refused_not_sent():
    with pytest.raises(ValueError):
        compose("shop@example.com", "ada@example.com", "Hi\r\nBcc: eve@example.com", "x")
