"""SMS through an HTTP provider with Twilio's message-create request:

    POST {base}/2010-04-01/Accounts/{account sid}/Messages.json
    Authorization: Basic base64(account sid:auth token)
    Content-Type: application/x-www-form-urlencoded

    To=%2B14155550123&From=%2B14155550100&Body=...

Any provider that speaks this shape works (TICKERDESK_SMS_BASE_URL). A 4xx answer (a
number the provider refuses, bad credentials) fails the delivery for good, except 429;
a 429, a 5xx, a timeout or a refused connection is retried.
"""

from __future__ import annotations

from urllib.parse import quote

import aiohttp

from tickerdesk.app.ports import DeliveryFailed

USER_AGENT = "tickerdesk-sms/1"


class TwilioSms:
    def __init__(self, base_url: str, account_sid: str, auth_token: str, sender: str, *,
                 timeout_seconds: float = 10.0):
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{quote(account_sid, safe='')}/Messages.json"
        self.authorization = aiohttp.encode_basic_auth(account_sid, auth_token)
        self.sender = sender
        self.timeout_seconds = timeout_seconds
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(trust_env=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def send(self, to: str, body: str) -> None:
        try:
            async with self._client().post(
                self.url, data={"To": to, "From": self.sender, "Body": body},
                headers={"Authorization": self.authorization, "User-Agent": USER_AGENT, "Accept": "application/json"},
                timeout=aiohttp.ClientTimeout(total=self.timeout_seconds), allow_redirects=False,
            ) as response:
                if 200 <= response.status < 300:
                    return
                detail = (await response.text())[:200]
                permanent = 400 <= response.status < 500 and response.status != 429
                raise DeliveryFailed(f"SMS provider answered HTTP {response.status}: {detail}", permanent=permanent)
        except TimeoutError:
            raise DeliveryFailed(f"SMS provider timed out after {self.timeout_seconds:g}s") from None
        except aiohttp.ClientError as error:
            raise DeliveryFailed(f"{type(error).__name__}: {error}" if str(error) else type(error).__name__) from None
