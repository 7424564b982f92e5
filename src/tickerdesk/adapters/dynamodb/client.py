"""One connection to a DynamoDB-API server (aiobotocore's low-level client).

- Throttling (`ProvisionedThroughputExceededException`, `ThrottlingException`, ...), a
  server's 5xx and a dropped connection are retried here with capped, fully jittered
  exponential back-off; botocore's own retries are off, so there is one policy and a
  unit test holds it (tests/unit/test_dynamodb_client.py).
- Tables are created when missing and awaited until they and their indexes are ACTIVE,
  as the real service needs (dynalite also keeps a new table CREATING for a while).
- Numbers travel as text on the wire (`{"N": "189.5"}`): `to_wire` writes a Decimal's
  exact digits (a float is refused), `from_wire` reads them back as int or Decimal, never
  float. DynamoDB keeps 38 significant digits: far more than money here needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

import structlog
from aiobotocore.config import AioConfig  # type: ignore[import-untyped]
from aiobotocore.session import get_session  # type: ignore[import-untyped]
from botocore.exceptions import ClientError, HTTPClientError  # type: ignore[import-untyped]
from botocore.exceptions import ConnectionError as BotoConnectionError

log = structlog.get_logger(__name__)

# Worth another try after a pause: the table's or account's throughput is spent for now, or
# the server failed this once.
RETRIED_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "InternalServerError", "ServiceUnavailable", "LimitExceededException",
})


def error_code(error: BaseException) -> str | None:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "")) or None
    return None


def retried(error: BaseException) -> bool:
    return error_code(error) in RETRIED_CODES or isinstance(error, BotoConnectionError | HTTPClientError)


class Backoff:
    """Capped exponential back-off with full jitter: before retry n (0-based) it waits a
    uniform random time in [0, min(cap, base * 2**n)], so throttled clients spread out."""

    def __init__(self, *, attempts: int = 10, base: float = 0.025, cap: float = 2.0,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 jitter: Callable[[], float] = random.random):
        self.attempts, self.base, self.cap, self.sleep, self.jitter = attempts, base, cap, sleep, jitter

    def delay(self, retry: int) -> float:
        return self.jitter() * min(self.cap, self.base * 2**retry)

    async def run(self, operation: str, call: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        for retry in range(self.attempts):
            try:
                return await call()
            except Exception as error:
                if not retried(error) or retry == self.attempts - 1:
                    raise
                log.info("dynamodb retry", operation=operation, reason=error_code(error) or type(error).__name__,
                         retry=retry + 1)
                await self.sleep(self.delay(retry))
        raise AssertionError("unreachable")


class DynamoClient:
    """`call("query", TableName=..., ...)`: an operation of the DynamoDB API, retried by `backoff`."""

    def __init__(self, client: Any, backoff: Backoff | None = None, closer: contextlib.AsyncExitStack | None = None):
        self.client = client
        self.backoff = backoff or Backoff()
        self._closer = closer

    @classmethod
    async def open(cls, *, endpoint: str | None, region: str, pool_size: int = 32,
                   backoff: Backoff | None = None) -> DynamoClient:
        """A client of AWS in `region`, or of the server at `endpoint` (dynalite, Alternator).
        Credentials come from the usual chain (environment, profile, instance role); a local
        endpoint with none configured gets placeholders, which dynalite accepts."""
        session = get_session()
        credentials: dict[str, str] = {}
        if endpoint and await session.get_credentials() is None:
            credentials = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
        config = AioConfig(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=20,
                           max_pool_connections=pool_size)
        stack = contextlib.AsyncExitStack()
        client = await stack.enter_async_context(session.create_client(
            "dynamodb", endpoint_url=endpoint, region_name=region, config=config, **credentials))
        return cls(client, backoff, stack)

    async def call(self, operation: str, **params: Any) -> dict[str, Any]:
        method = getattr(self.client, operation)
        return await self.backoff.run(operation, lambda: method(**params))

    async def ensure_table(self, definition: Mapping[str, Any], *, timeout: float = 120.0) -> None:
        """Create the table unless it exists (another process may be creating it at the
        same moment), then wait until it and each of its indexes is ACTIVE."""
        name = definition["TableName"]
        try:
            await self.call("describe_table", TableName=name)
        except ClientError as error:
            if error_code(error) != "ResourceNotFoundException":
                raise
            try:
                await self.call("create_table", **definition)
                log.info("dynamodb table created", table=name)
            except ClientError as again:
                if error_code(again) != "ResourceInUseException":
                    raise
        deadline = time.monotonic() + timeout
        while True:
            table = (await self.call("describe_table", TableName=name))["Table"]
            indexes = table.get("GlobalSecondaryIndexes", [])
            if table["TableStatus"] == "ACTIVE" and all(i.get("IndexStatus") == "ACTIVE" for i in indexes):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"DynamoDB table {name} is still {table['TableStatus']} after {timeout:.0f}s")
            await asyncio.sleep(0.2)

    async def delete_table(self, name: str) -> None:
        with contextlib.suppress(ClientError):
            await self.call("delete_table", TableName=name)

    async def close(self) -> None:
        if self._closer is not None:
            await self._closer.aclose()


# -- values on the wire ------------------------------------------------------------------


def to_wire(value: Any) -> dict[str, Any]:
    """A JSON-like value (the views' dicts) as a DynamoDB attribute value."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise TypeError(f"{value} is not a DynamoDB number")
        return {"N": format(value, "f")}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, Mapping):
        return {"M": {str(k): to_wire(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_wire(v) for v in value]}
    raise TypeError(f"{type(value).__name__} is not stored in DynamoDB (a float never is: money is exact)")


def number(text: str) -> int | Decimal:
    """A DynamoDB number's text: an int when it is whole as written, else an exact Decimal
    (as JSON reads back from PostgreSQL: 190 and 189.5, never 189.49999...)."""
    if "." in text or "e" in text or "E" in text:
        return Decimal(text)
    return int(text)


def from_wire(attribute: Mapping[str, Any]) -> Any:
    (kind, value), = attribute.items()
    if kind == "S":
        return value
    if kind == "N":
        return number(value)
    if kind == "NULL":
        return None
    if kind == "BOOL":
        return bool(value)
    if kind == "M":
        return {k: from_wire(v) for k, v in value.items()}
    if kind == "L":
        return [from_wire(v) for v in value]
    raise TypeError(f"DynamoDB attribute type {kind} is not one tickerdesk writes")
