"""The simulated venue's book in Redis, so that a venue-sim killed mid-burst comes
back with its working orders: one hash field per working order, the ids it has seen,
the liquidity caps, and the time of the last close (orders accepted before it that
arrive after a restart must still expire).

Matching never reads it: the venue matches on its own index by price level in memory
(`adapters/venue/book.py`), writes here only what a command changed, and rebuilds the
index from here once, when it starts.

A save that fails (Redis unreachable) is kept and merged into the next one, so the
book in Redis catches up once Redis answers; the venue keeps matching from memory
meanwhile. Through Sentinel, each save waits (WAIT, briefly) until the replica has it,
so a failover does not lose a working order the venue already acknowledged."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import redis.asyncio as aioredis

from tickerdesk.adapters.redis.client import through_sentinel
from tickerdesk.app.ports import VenueOrder
from tickerdesk.codec import dumps, loads, order_from_wire, order_to_wire, parse_time


class RedisSimState:
    """The simulator's book in Redis: one hash field per working order."""

    def __init__(self, redis: aioredis.Redis, prefix: str, *, replica_wait_ms: int = 1000):
        self.redis = redis
        self.orders, self.seen, self.liquidity, self.closed_at = (
            f"{prefix}:sim:{k}" for k in ("orders", "seen", "liquidity", "closed_at"))
        self._unsaved: dict[str, Any] | None = None
        self._wait_ms = replica_wait_ms if through_sentinel(redis) else 0

    async def save(self, changes: dict[str, Any]) -> None:
        if self._unsaved is not None:  # what an earlier save could not write, then this on top
            changes = {"orders": {**self._unsaved["orders"], **changes["orders"]},
                       "liquidity": changes["liquidity"],
                       "closedAt": changes.get("closedAt") or self._unsaved.get("closedAt")}
        self._unsaved = changes
        await self._write(changes)
        self._unsaved = None
        if self._wait_ms:
            await self.redis.execute_command("WAIT", 1, self._wait_ms)

    async def _write(self, changes: dict[str, Any]) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            for trade_id, working in changes["orders"].items():
                if working is None:
                    pipe.hdel(self.orders, trade_id)
                else:
                    pipe.hset(self.orders, trade_id, dumps(order_to_wire(working["order"], working["cumulative"])))
            if changes["orders"]:
                pipe.sadd(self.seen, *changes["orders"])
            pipe.delete(self.liquidity)
            if changes["liquidity"]:
                pipe.hset(self.liquidity, mapping={s: dumps(v) for s, v in changes["liquidity"].items()})
            if changes.get("closedAt") is not None:
                pipe.set(self.closed_at, dumps(changes["closedAt"]))
            await pipe.execute()

    async def load(
        self,
    ) -> tuple[list[tuple[VenueOrder, int]], set[str], dict[str, int | None], datetime | None]:
        orders = [loads(v) for v in (await self.redis.hgetall(self.orders)).values()]
        seen = {_text(s) for s in await self.redis.smembers(self.seen)}
        liquidity = {_text(k): loads(v) for k, v in (await self.redis.hgetall(self.liquidity)).items()}
        closed_at = await self.redis.get(self.closed_at)
        return ([(order_from_wire(o), int(o["cumulative"])) for o in orders], seen, liquidity,
                None if closed_at is None else parse_time(loads(closed_at)))


def _text(value: bytes | str) -> str:
    """A member or field name: bytes, as the client does not decode responses."""
    return value.decode() if isinstance(value, bytes) else value
