"""The transaction history in one DynamoDB table (docs/history-store.md has the design).

Items of a user share one partition, `pk = USER#<user id>`:

- `sk = TRADE#<trade id>`: a trade of the history (one that left `pending`), as its view
  (`trade`, a map with exact numbers) and the attributes a query filters on. Trade ids are
  UUIDv7, so the sort key orders by time: "newest first" is a descending Query.
- `sk = CHANGE#<trade id>#<event id>`: each status change of each trade (placed, every
  fill, the close), appended once and never changed: the high-velocity stream.

The index `by_symbol` (key `by_symbol` = the user and the symbol, sort key `sk`; only trade
items carry it) serves `stockSymbol=`, so one symbol's history is a keyed Query too. Status,
side and time filters are a FilterExpression: the Query goes on until the page is full or
the partition ends, so a page is short only at the end, as with PostgreSQL.

Writes are conditional. A change item is put only if absent; a trade item is replaced only
by a later event (`last_event_id`) that has come no less far (`orders.progress`), so a
redelivered or reordered event never rolls it back; a rebuild writes PostgreSQL's state
unless the item has come further, keeping the item's event id.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tickerdesk.adapters.dynamodb.client import DynamoClient, error_code, from_wire, to_wire
from tickerdesk.app.views import rfc3339, trade_view
from tickerdesk.domain.events import Event, TradeCancelRequested, TradeEvent, TradeFilled
from tickerdesk.domain.orders import HISTORY_STATUSES, Order, Status, progress

TRADE, CHANGE = "TRADE#", "CHANGE#"
BY_SYMBOL = "by_symbol"
NO_EVENT = "00000000-0000-0000-0000-000000000000"  # a rebuilt item no event has touched yet
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A Query that filters reads more than a page at a time: fewer round trips for sparse matches.
FILTERED_READ = 200


def table_definition(name: str) -> dict[str, Any]:
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", BY_SYMBOL)],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "GlobalSecondaryIndexes": [{
            "IndexName": BY_SYMBOL,
            "KeySchema": [{"AttributeName": BY_SYMBOL, "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }],
    }


def partition(user_id: str) -> str:
    return "USER#" + user_id


def symbol_partition(user_id: str, symbol: str) -> str:
    """JSON, so no user id or symbol, whatever its characters, can make another pair's key."""
    return json.dumps([user_id, symbol], ensure_ascii=False, separators=(",", ":"))


def micros(moment: datetime) -> int:
    """Microseconds since the epoch: created_at as a number, so a range is compared exactly."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(microseconds=1)


def S(text: str) -> dict[str, str]:
    return {"S": text}


def N(value: int) -> dict[str, str]:
    return {"N": str(value)}


class DynamoHistory:
    def __init__(self, dynamo: DynamoClient, table: str, *, concurrency: int = 16):
        self.dynamo, self.table = dynamo, table
        self._writes = asyncio.Semaphore(concurrency)

    async def ensure_table(self) -> None:
        await self.dynamo.ensure_table(table_definition(self.table))

    # -- writes ------------------------------------------------------------------------

    async def project(self, events: Sequence[Event]) -> None:
        changes = [e for e in events if isinstance(e, TradeEvent) and not isinstance(e, TradeCancelRequested)]
        if not changes:
            return
        newest: dict[tuple[str, str], TradeEvent] = {}
        for event in changes:
            key = (event.user_id, event.order.trade_id)
            if key not in newest or newest[key].id < event.id:
                newest[key] = event
        writes = [self._append_change(e) for e in changes]
        writes += [self._put_trade(e.order, e.id.lower()) for e in newest.values()
                   if e.order.status is not Status.PENDING]
        await self._all(writes)

    async def restore(self, orders: Sequence[Order]) -> None:
        await self._all([self._restore_trade(o) for o in orders if o.status is not Status.PENDING])

    async def _all(self, writes: Sequence[Awaitable[None]]) -> None:
        async def bounded(write: Awaitable[None]) -> None:
            async with self._writes:
                await write

        await asyncio.gather(*(bounded(w) for w in writes))

    async def _append_change(self, event: TradeEvent) -> None:
        order = event.order
        item = {
            "pk": S(partition(order.user_id)),
            "sk": S(f"{CHANGE}{order.trade_id}#{event.id.lower()}"),
            "kind": S("change"),
            "trade_id": S(order.trade_id),
            "event_id": S(event.id.lower()),
            "event_type": S(str(event.type)),
            "status": S(str(order.status)),
            "filled": N(order.filled_quantity),
            "occurred_at": S(rfc3339(event.occurred_at)),
        }
        if isinstance(event, TradeFilled):
            item["last_quantity"] = N(event.last_quantity)
            item["last_price"] = to_wire(event.last_price)
        await self._conditional("put_item", Item=item, ConditionExpression="attribute_not_exists(pk)")

    def _trade_attributes(self, order: Order) -> dict[str, dict[str, Any]]:
        return {
            "kind": S("trade"),
            "trade_id": S(order.trade_id),
            "status": S(str(order.status)),
            "symbol": S(order.symbol),
            "side": S(str(order.side)),
            BY_SYMBOL: S(symbol_partition(order.user_id, order.symbol)),
            "created_us": N(micros(order.created_at)),
            "filled": N(order.filled_quantity),
            "progress": N(progress(order.status, order.filled_quantity)),
            "projected_us": N(time.time_ns() // 1000),
            "trade": to_wire(trade_view(order)),
        }

    async def _put_trade(self, order: Order, event_id: str) -> None:
        item = {"pk": S(partition(order.user_id)), "sk": S(TRADE + order.trade_id),
                **self._trade_attributes(order), "last_event_id": S(event_id)}
        await self._conditional(
            "put_item", Item=item,
            ConditionExpression="attribute_not_exists(pk) OR (#event < :event AND #progress <= :progress)",
            ExpressionAttributeNames={"#event": "last_event_id", "#progress": "progress"},
            ExpressionAttributeValues={":event": S(event_id), ":progress": item["progress"]})

    async def _restore_trade(self, order: Order) -> None:
        attributes = self._trade_attributes(order)
        names = {f"#a{i}": name for i, name in enumerate(attributes)}
        values = {f":a{i}": value for i, value in enumerate(attributes.values())}
        assignments = [f"#a{i} = :a{i}" for i in range(len(attributes))]
        await self._conditional(
            "update_item", Key={"pk": S(partition(order.user_id)), "sk": S(TRADE + order.trade_id)},
            UpdateExpression="SET " + ", ".join([*assignments, "#event = if_not_exists(#event, :none)"]),
            ConditionExpression="attribute_not_exists(pk) OR #progress <= :progress",
            ExpressionAttributeNames={**names, "#event": "last_event_id", "#progress": "progress"},
            ExpressionAttributeValues={**values, ":none": S(NO_EVENT), ":progress": attributes["progress"]})

    async def _conditional(self, operation: str, **params: Any) -> None:
        """A write that its condition may refuse: then the item already holds this state or a
        later one, which is what the caller wanted."""
        try:
            await self.dynamo.call(operation, TableName=self.table, **params)
        except Exception as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise

    # -- reads -------------------------------------------------------------------------

    async def trades(self, user_id: str, *, statuses: list[str], symbol: str | None, since: datetime | None,
                     until: datetime | None, cursor: str | None, limit: int,
                     side: str | None = None) -> list[dict[str, Any]]:
        if not statuses or limit <= 0:
            return []
        names: dict[str, str] = {}
        values: dict[str, dict[str, Any]] = {}
        filters: list[str] = []
        if not set(HISTORY_STATUSES) <= set(statuses):  # trade items are never pending
            names["#status"] = "status"
            values.update({f":s{i}": S(s) for i, s in enumerate(statuses)})
            filters.append(f"#status IN ({', '.join(f':s{i}' for i in range(len(statuses)))})")
        if side is not None:
            names["#side"], values[":side"] = "side", S(side)
            filters.append("#side = :side")
        if since is not None:
            names["#created"], values[":since"] = "created_us", N(micros(since))
            filters.append("#created >= :since")
        if until is not None:
            names["#created"], values[":until"] = "created_us", N(micros(until))
            filters.append("#created < :until")
        query: dict[str, Any] = {"TableName": self.table, "ScanIndexForward": False}
        start: dict[str, Any] | None = None
        if symbol is not None:
            key = symbol_partition(user_id, symbol)
            query.update(IndexName=BY_SYMBOL, KeyConditionExpression="#by = :by")
            names["#by"], values[":by"] = BY_SYMBOL, S(key)
            if cursor:
                start = {"pk": S(partition(user_id)), "sk": S(TRADE + cursor.lower()), BY_SYMBOL: S(key)}
        else:
            query["KeyConditionExpression"] = "pk = :pk AND begins_with(sk, :trade)"
            values.update({":pk": S(partition(user_id)), ":trade": S(TRADE)})
            if cursor:
                start = {"pk": S(partition(user_id)), "sk": S(TRADE + cursor.lower())}
        if filters:
            query["FilterExpression"] = " AND ".join(filters)
        if names:
            query["ExpressionAttributeNames"] = names
        query["ExpressionAttributeValues"] = values
        found: list[dict[str, Any]] = []
        while True:
            read = limit - len(found)
            page = await self.dynamo.call("query", **query, Limit=max(read, FILTERED_READ) if filters else read,
                                          **({"ExclusiveStartKey": start} if start else {}))
            for item in page["Items"]:
                found.append(from_wire(item["trade"]))
                if len(found) == limit:  # the next page starts after this item, not after the read
                    return found
            start = page.get("LastEvaluatedKey")
            if not start:
                return found

    async def summary(self, user_id: str) -> dict[str, tuple[str, int]]:
        trades: dict[str, tuple[str, int]] = {}
        start: dict[str, Any] | None = None
        while True:
            page = await self.dynamo.call(
                "query", TableName=self.table, KeyConditionExpression="pk = :pk AND begins_with(sk, :trade)",
                ProjectionExpression="#trade, #status, #filled",
                ExpressionAttributeNames={"#trade": "trade_id", "#status": "status", "#filled": "filled"},
                ExpressionAttributeValues={":pk": S(partition(user_id)), ":trade": S(TRADE)},
                **({"ExclusiveStartKey": start} if start else {}))
            for item in page["Items"]:
                trades[item["trade_id"]["S"]] = (item["status"]["S"], int(item["filled"]["N"]))
            start = page.get("LastEvaluatedKey")
            if not start:
                return trades

    async def changes(self, user_id: str, trade_id: str) -> list[dict[str, Any]]:
        """A trade's status changes, oldest first (for operators and tests: no route reads them yet)."""
        items: list[dict[str, Any]] = []
        start: dict[str, Any] | None = None
        while True:
            page = await self.dynamo.call(
                "query", TableName=self.table, KeyConditionExpression="pk = :pk AND begins_with(sk, :trade)",
                ExpressionAttributeValues={":pk": S(partition(user_id)), ":trade": S(f"{CHANGE}{trade_id}#")},
                **({"ExclusiveStartKey": start} if start else {}))
            for item in page["Items"]:
                change = {k: from_wire(v) for k, v in item.items() if k not in ("pk", "sk", "kind")}
                if "last_price" in item:  # money: a Decimal even when whole
                    change["last_price"] = Decimal(item["last_price"]["N"])
                items.append(change)
            start = page.get("LastEvaluatedKey")
            if not start:
                return items
