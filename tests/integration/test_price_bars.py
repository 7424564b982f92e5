"""The price feed is recorded, and charts read it back as OHLC bars.

Every price change (the simulated venue's walk, a price set through the sim route) is a
tick in `price_ticks`, written by the statement that saves the last prices; old ticks are
pruned by the writer. `GET /stocks/{symbol}/bars` is public, limited per address like
`/stocks`, and refuses what it cannot answer with 404 or 422 problems.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.conftest import exact, fresh_database, set_price
from tickerdesk.adapters.postgres.reads import PgQueries
from tickerdesk.app.rate_limits import RateLimit
from tickerdesk.bootstrap import open_up
from tickerdesk.entrypoints.http.app import create_app

PROBLEM = "application/problem+json"


async def eventually(check: Callable[[], Awaitable[Any]], seconds: float = 5.0) -> Any:
    """The first truthy answer of `check`: the feed's writes land after the request that made them."""
    deadline = time.monotonic() + seconds
    while True:
        if answer := await check():
            return answer
        assert time.monotonic() < deadline, "the ticks never landed"
        await asyncio.sleep(0.02)


async def ticks_of(pool, symbol: str) -> list[tuple[datetime, Decimal]]:
    rows = await pool.fetch("SELECT at, price FROM price_ticks WHERE symbol = $1 ORDER BY at", symbol)
    return [(r["at"], r["price"]) for r in rows]


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def bars(client: httpx.AsyncClient, symbol: str, **params: str) -> dict[str, Any]:
    response = await client.get(f"/stocks/{symbol}/bars", params=params)
    assert response.status_code == 200, response.text
    return exact(response)


# -- recording ----------------------------------------------------------------------------


async def test_a_price_set_through_the_sim_route_is_a_tick_and_the_default_window_shows_it(client, runtime, symbol):
    stock = await symbol("100")
    before = datetime.now(UTC)
    await set_price(client, stock, "101.25")
    await eventually(lambda: ticks_of(runtime.pool, stock))
    await set_price(client, stock, "99.5")
    ticks = await eventually(lambda: _at_least(runtime.pool, stock, 2))
    assert [price for _, price in ticks] == [Decimal("101.25"), Decimal("99.5")]
    assert all(before <= at <= datetime.now(UTC) for at, _ in ticks)
    # The same statement saved the last price, stamped like the tick.
    last = await runtime.pool.fetchrow("SELECT last_price, price_updated_at FROM instruments WHERE symbol = $1", stock)
    assert (last["price_updated_at"], last["last_price"]) == ticks[-1]

    body = await bars(client, stock.lower())  # the symbol in any case, as /stocks/{symbol} takes it
    assert body["symbol"] == stock and body["interval"] == "1m"
    shown = body["bars"]  # one bar, or two if a minute ended between the prices
    assert sum(bar["ticks"] for bar in shown) == 2
    assert shown[0]["open"] == Decimal("101.25") and shown[-1]["close"] == Decimal("99.5")
    assert max(bar["high"] for bar in shown) == Decimal("101.25")
    assert min(bar["low"] for bar in shown) == Decimal("99.5")


async def _at_least(pool, symbol: str, count: int) -> list[tuple[datetime, Decimal]] | None:
    ticks = await ticks_of(pool, symbol)
    return ticks if len(ticks) >= count else None


async def test_the_walk_records_every_change_it_makes(settings):
    """`tickerdesk up`'s own wiring: the walk's changes reach price_ticks and the last prices together."""
    async with fresh_database("tickerdesk_walk") as url:
        runtime = await open_up(settings.model_copy(update={"price_walk_seconds": 0.02}), url)
        try:
            queries = runtime.services.queries
            assert isinstance(queries, PgQueries) and queries.ticks.days == settings.price_tick_retention_days == 7
            await runtime.start()
            assert runtime.venue is not None
            await eventually(lambda: runtime.pool.fetchval(
                "SELECT count(DISTINCT at) >= 5 FROM price_ticks WHERE symbol = 'AAPL'"))
            walk = next(task for task in runtime.tasks if task.get_name() == "price-walk")
            walk.cancel()
            await asyncio.gather(walk, return_exceptions=True)
            walked = runtime.venue.prices.snapshot()

            async def saved() -> bool:
                rows = await runtime.pool.fetch("SELECT symbol, last_price FROM instruments")
                return {r["symbol"]: r["last_price"] for r in rows} == walked

            await eventually(saved)
            # Each symbol's newest tick is its last price, and no tick is for a price never set.
            latest = await runtime.pool.fetch(
                "SELECT DISTINCT ON (symbol) symbol, price FROM price_ticks ORDER BY symbol, at DESC")
            assert {r["symbol"]: r["price"] for r in latest} == {
                s: p for s, p in walked.items() if s in {r["symbol"] for r in latest}}
            assert len(latest) > len(walked) / 2  # a walk moves (nearly) every symbol

            ticks = await ticks_of(runtime.pool, "AAPL")
            app = create_app(settings, services=runtime.services)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
                shown = (await bars(client, "AAPL"))["bars"]
            assert sum(bar["ticks"] for bar in shown) == len(ticks)
            assert shown[-1]["close"] == ticks[-1][1] and shown[0]["open"] == ticks[0][1]
            assert min(bar["low"] for bar in shown) == min(price for _, price in ticks)
            assert max(bar["high"] for bar in shown) == max(price for _, price in ticks)
        finally:
            await runtime.close()


# -- bars ---------------------------------------------------------------------------------


async def test_bars_are_ohlc_of_the_ticks_in_each_interval_by_time(client, runtime, symbol):
    stock = await symbol("10")
    base = (datetime.now(UTC) - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)

    def at(minute: int, second: int = 0, microsecond: int = 0) -> datetime:
        return base + timedelta(minutes=minute, seconds=second, microseconds=microsecond)

    # Saved out of time order on purpose: open and close follow `at`, not the writes.
    for moment, price in [
        (at(0, 10), "10"), (at(0, 40), "9.75"), (at(0, 20), "12.5"), (at(0, 59, 999_999), "11"),
        (at(1), "20"),  # on the line: the next minute's
        (at(3, 30), "30"), (at(3, 10), "31.0001"),
        # nothing in minute 2: no bar
    ]:
        await runtime.services.queries.save_prices({stock: Decimal(price)}, moment)

    window = {"from": stamp(base), "to": stamp(at(5))}
    minutes = await bars(client, stock, interval="1m", **window)
    assert minutes == {"symbol": stock, "interval": "1m", "bars": [
        {"start": stamp(at(0)), "open": 10, "high": Decimal("12.5"), "low": Decimal("9.75"),
         "close": 11, "ticks": 4},
        {"start": stamp(at(1)), "open": 20, "high": 20, "low": 20, "close": 20, "ticks": 1},
        {"start": stamp(at(3)), "open": Decimal("31.0001"), "high": Decimal("31.0001"), "low": 30, "close": 30,
         "ticks": 2},
    ]}
    raw = (await client.get(f"/stocks/{stock}/bars", params={"interval": "1m", **window})).text
    assert f'"start":"{base:%Y-%m-%dT%H:%M:%S}Z"' in raw.replace(" ", "")  # RFC 3339, whole seconds
    assert '"open":31.0001' in raw.replace(" ", "")  # an exact JSON number, as every price of the API

    whole = {"open": 10, "high": Decimal("31.0001"), "low": Decimal("9.75"), "close": 30, "ticks": 7}
    for interval in ("5m", "15m", "1h"):
        assert (await bars(client, stock, interval=interval, **window))["bars"] == [{"start": stamp(base), **whole}]
    day = base.replace(hour=0)
    assert (await bars(client, stock, interval="1d", **{"from": stamp(day)}))["bars"] == [
        {"start": stamp(day), **whole}]

    # The bars whose start lies in [from, to), each with all of its ticks.
    inside = await bars(client, stock, interval="1m", **{"from": stamp(at(0, 30)), "to": stamp(at(3, 15))})
    assert [(bar["start"], bar["ticks"]) for bar in inside["bars"]] == [(stamp(at(1)), 1), (stamp(at(3)), 2)]
    assert (await bars(client, stock, interval="1m", **{"from": stamp(at(1)), "to": stamp(at(3))}))["bars"] == [
        {"start": stamp(at(1)), "open": 20, "high": 20, "low": 20, "close": 20, "ticks": 1}]
    within_a_minute = {"from": stamp(at(0, 10)), "to": stamp(at(0, 50))}
    assert (await bars(client, stock, interval="1m", **within_a_minute))["bars"] == []
    # A time without an offset is UTC; an offset is honoured.
    naive = {"from": base.replace(tzinfo=None).isoformat(),
             "to": at(5).astimezone(timezone(timedelta(hours=-2))).isoformat()}
    assert len((await bars(client, stock, interval="1m", **naive))["bars"]) == 3


async def test_the_default_window_is_the_last_60_intervals(client, runtime, symbol):
    stock = await symbol("50")
    now = datetime.now(UTC)
    await runtime.services.queries.save_prices({stock: Decimal("51")}, now - timedelta(minutes=80))
    await runtime.services.queries.save_prices({stock: Decimal("52")}, now - timedelta(seconds=5))
    assert [bar["close"] for bar in (await bars(client, stock))["bars"]] == [52]
    assert [bar["close"] for bar in (await bars(client, stock, interval="5m"))["bars"]] == [51, 52]
    ago = stamp(now - timedelta(minutes=30))
    assert [bar["close"] for bar in (await bars(client, stock, to=ago))["bars"]] == [51]
    assert (await bars(client, "KO", interval="1d"))["symbol"] == "KO"


# -- refusals -----------------------------------------------------------------------------


async def refused(client: httpx.AsyncClient, path: str, status: int, **params: str) -> dict[str, Any]:
    response = await client.get(path, params=params)
    assert response.status_code == status, (params, response.text)
    assert response.headers["content-type"] == PROBLEM
    return response.json()


async def test_an_unknown_symbol_is_404(client):
    problem = await refused(client, "/stocks/NOPE/bars", 404)
    assert problem["code"] == "not_found" and "NOPE" in problem["detail"]


@pytest.mark.parametrize("params, says", [
    ({"interval": "2m"}, "interval must be one of 1m, 5m, 15m, 1h, 1d"),
    ({"interval": "1M"}, "interval must be one of"),
    ({"interval": ""}, "interval must be one of"),
    ({"from": "yesterday"}, "query.from: must be an RFC 3339 time"),
    ({"to": "2026-13-01T00:00:00Z"}, "query.to: must be an RFC 3339 time"),
    ({"to": "10000-01-01T00:00:00Z"}, "query.to: must be an RFC 3339 time"),
    ({"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from must be before to"),
    ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from must be before to"),
    ({"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T16:41:00Z"}, "at most 1000 intervals apart"),
    ({"interval": "1d", "from": "2020-01-01T00:00:00Z", "to": "2022-09-28T00:00:00Z"}, "at most 1000 intervals"),
    ({"interval": "1h", "from": "2001-01-01T00:00:00Z"}, "at most 1000 intervals apart"),  # to: now
])
async def test_what_the_bars_cannot_answer_is_422(client, params, says):
    problem = await refused(client, "/stocks/AAPL/bars", 422, **params)
    assert problem["code"] == "invalid_request" and says in problem["detail"], problem


async def test_the_widest_window_and_the_ends_of_time_are_answered(client):
    assert (await bars(client, "AAPL", **{"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T16:40:00Z"}))["bars"] == []
    assert (await bars(client, "AAPL", interval="1d", **{"from": "2020-01-01T00:00:00Z",
                                                          "to": "2022-09-27T00:00:00Z"}))["bars"] == []
    assert (await bars(client, "AAPL", to="0001-01-01T00:10:00Z"))["bars"] == []  # `from` would be before year 1
    assert (await bars(client, "AAPL", interval="1h", **{"from": "9999-12-31T00:00:00Z",
                                                          "to": "9999-12-31T23:59:59Z"}))["bars"] == []


async def test_bars_share_the_public_per_address_limit(settings, runtime):
    saved = dict(runtime.services.limits)
    runtime.services.limits["public"] = RateLimit(rate=0.001, burst=2)
    address = f"203.0.113.{uuid.uuid4().int % 250 + 1}"
    app = create_app(settings, services=runtime.services)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)),
                                     base_url="http://t") as client:
            answers = [await client.get(path) for path in ("/stocks", "/stocks/AAPL/bars", "/stocks/AAPL/bars")]
    finally:
        runtime.services.limits.clear()
        runtime.services.limits.update(saved)
    assert [r.status_code for r in answers] == [200, 200, 429]
    assert answers[2].json()["code"] == "rate_limited" and int(answers[2].headers["retry-after"]) >= 1


# -- retention ----------------------------------------------------------------------------


async def test_the_writer_prunes_expired_ticks_now_and_then_in_bounded_batches(scratch_database):
    _, pool = scratch_database
    await pool.execute("""INSERT INTO instruments (symbol, name, reference_price, last_price)
                          VALUES ('OLD', 'Old', 1, 1), ('NEW', 'New', 1, 1)""")
    now = datetime.now(UTC)
    kept = now - timedelta(days=6, hours=23)

    async def expire(count: int) -> None:  # ticks older than the 7 days kept
        await pool.executemany("INSERT INTO price_ticks (symbol, at, price) VALUES ('OLD', $1, 1)",
                               [(now - timedelta(days=8, seconds=s),) for s in range(count)])

    async def count(where: str) -> int:
        return await pool.fetchval(f"SELECT count(*) FROM price_ticks WHERE at {where} $1", kept)

    await pool.execute("INSERT INTO price_ticks (symbol, at, price) VALUES ('OLD', $1, 1)", kept)
    await expire(5)
    queries = PgQueries(pool, tick_retention_days=7)
    queries.ticks.every_seconds, queries.ticks.batch = 3600, 3
    await queries.save_prices({"NEW": Decimal(2)})  # the first write prunes: a batch of 3
    assert await count("<") == 2
    await queries.save_prices({"NEW": Decimal(3)})  # the batch was full: due again at once
    assert await count("<") == 0
    await expire(5)
    await queries.save_prices({"NEW": Decimal(4)})  # the last batch was not full: not due for an hour
    assert await count("<") == 5
    assert await count(">=") == 1 + 3  # the tick inside the retention, and the three writes

    eager = PgQueries(pool, tick_retention_days=7)
    eager.ticks.every_seconds = 0
    await eager.save_prices({"NEW": Decimal(5)})
    assert (await count("<"), await count(">=")) == (0, 5)
    # The pruning statement does not see the ticks it writes, however old.
    await eager.save_prices({"OLD": Decimal("1.5")}, now - timedelta(days=9))
    assert await count("<") == 1


async def test_no_retention_keeps_every_tick(scratch_database):
    _, pool = scratch_database
    await pool.execute("INSERT INTO instruments (symbol, name, reference_price, last_price) VALUES ('X', 'X', 1, 1)")
    queries = PgQueries(pool, tick_retention_days=0)
    await queries.save_prices({"X": Decimal(2)}, datetime(2001, 1, 1, tzinfo=UTC))
    await queries.save_prices({"X": Decimal(3), "UNKNOWN": Decimal(4)})
    assert [r["symbol"] for r in await pool.fetch("SELECT symbol FROM price_ticks ORDER BY at")] == ["X", "X"]
