"""Email over SMTP (aiosmtplib): one connection per message, STARTTLS or implicit TLS
and authentication as configured (TICKERDESK_SMTP_*).

Each message has a plain-text and an HTML part, and, when it is a notification, the
unsubscribe link as `List-Unsubscribe` with RFC 8058 one-click (`List-Unsubscribe-Post`),
so a mail client's own "unsubscribe" button turns that email off. A 5xx answer (an
address or message the server will never take) fails the delivery for good; anything
else (4xx, a refused connection, a timeout) is retried.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Literal

import aiosmtplib

from tickerdesk.app.ports import DeliveryFailed, OutgoingEmail

Security = Literal["starttls", "tls", "none"]


def build_message(email: OutgoingEmail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    if email.unsubscribe_url:
        message["List-Unsubscribe"] = f"<{email.unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    return message


class SmtpEmail:
    def __init__(self, host: str, port: int, *, sender: str, security: Security = "starttls",
                 username: str | None = None, password: str | None = None, timeout_seconds: float = 10.0):
        self.host, self.port = host, port
        self.sender = sender
        self.security = security
        self.username, self.password = username, password
        self.timeout_seconds = timeout_seconds

    async def send(self, email: OutgoingEmail) -> None:
        message = build_message(email, self.sender)
        try:
            await aiosmtplib.send(
                message, hostname=self.host, port=self.port, username=self.username, password=self.password,
                use_tls=self.security == "tls", start_tls=self.security == "starttls",
                timeout=self.timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as refused:
            first = refused.recipients[0]
            raise DeliveryFailed(f"the mail server refused {email.to}: SMTP {first.code} {first.message}",
                                 permanent=all(500 <= r.code < 600 for r in refused.recipients)) from None
        except aiosmtplib.SMTPResponseException as error:
            raise DeliveryFailed(f"SMTP {error.code}: {error.message}", permanent=500 <= error.code < 600) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise DeliveryFailed(f"{type(error).__name__}: {error}" if str(error) else type(error).__name__) from None
