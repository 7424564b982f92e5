"""Email and SMS for development: each message is written to the log instead of sent
(the default until TICKERDESK_SMTP_HOST or TICKERDESK_SMS_PROVIDER say otherwise), so
`tickerdesk up` shows verification codes and notifications without a mail server."""

from __future__ import annotations

import structlog

from tickerdesk.app.ports import OutgoingEmail

log = structlog.get_logger(__name__)


class LogEmail:
    async def send(self, email: OutgoingEmail) -> None:
        log.info("email (not sent: no TICKERDESK_SMTP_HOST)", to=email.to, subject=email.subject, text=email.text)


class LogSms:
    async def send(self, to: str, body: str) -> None:
        log.info("sms (not sent: TICKERDESK_SMS_PROVIDER=log)", to=to, body=body)
