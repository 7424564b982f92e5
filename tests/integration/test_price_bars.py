"""The price feed is recorded, and charts read it back as OHLC bars.

Every price change (the simulated venue's walk, a price set through the sim route) is a
tick, folded into its symbol's one-minute bar in `price_bars_1m` by the statement that
saves the last prices; old bars are pruned by the writer. Longer intervals aggregate the
one-minute bars. `GET /stocks/{symbol}/bars` is public, limited per address like
`/stocks`, and refuses what it cannot answer with 404 or 422 problems.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import exact, fresh_database, new_address, set_price
from tickerdesk.adapters.postgres.db import ALEMBIC_INI, asyncpg_dsn, sqlalchemy_url
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


async def minutes_of(pool, symbol: str) -> list[asyncpg.Record]:
    """The stored one-minute bars of `symbol`, oldest first."""
    return await pool.fetch("SELECT * FROM price_bars_1m WHERE symbol = $1 ORDER BY minute", symbol)


async def ticked(pool, symbol: str, count: int) -> list[asyncpg.Record] | None:
    """The bars of `symbol` once they hold `count` ticks or more."""
    minutes = await minutes_of(pool, symbol)
    return minutes if sum(m["ticks"] for m in minutes) >= count else None


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
    await eventually(lambda: ticked(runtime.pool, stock, 1))
    await set_price(client, stock, "99.5")
    minutes = await eventually(lambda: ticked(runtime.pool, stock, 2))
    assert sum(m["ticks"] for m in minutes) == 2  # one bar, or two if a minute ended between the prices
    assert (minutes[0]["open"], minutes[-1]["close"]) == (Decimal("101.25"), Decimal("99.5"))
    assert all(before <= m["first_at"] <= m["last_at"] <= datetime.now(UTC) for m in minutes)
    assert all(m["minute"] <= m["first_at"] < m["minute"] + timedelta(minutes=1) for m in minutes)
    # The same statement saved the last price, stamped like the tick.
    last = await runtime.pool.fetchrow("SELECT last_price, price_updated_at FROM instruments WHERE symbol = $1", stock)
    assert (last["price_updated_at"], last["last_price"]) == (minutes[-1]["last_at"], minutes[-1]["close"])

    body = await bars(client, stock.lower())  # the symbol in any case, as /stocks/{symbol} takes it
    assert body["symbol"] == stock and body["interval"] == "1m"
    shown = body["bars"]  # one bar, or two if a minute ended between the prices
    assert sum(bar["ticks"] for bar in shown) == 2
    assert shown[0]["open"] == Decimal("101.25") and shown[-1]["close"] == Decimal("99.5")
    assert max(bar["high"] for bar in shown) == Decimal("101.25")
    assert min(bar["low"] for bar in shown) == Decimal("99.5")


async def test_the_walk_records_every_change_it_makes(settings):
    """`tickerdesk up`'s own wiring: the walk's changes reach the bars and the last prices together."""
    async with fresh_database("tickerdesk_walk") as url:
        runtime = await open_up(settings.model_copy(update={"price_walk_seconds": 0.02}), url)
        try:
            queries = runtime.services.queries
            assert isinstance(queries, PgQueries) and queries.retention.days == settings.price_bar_retention_days == 30
            await runtime.start()
            assert runtime.venue is not None
            await eventually(lambda: ticked(runtime.pool, "AAPL", 5))
            walk = next(task for task in runtime.tasks if task.get_name() == "price-walk")
            walk.cancel()
            await asyncio.gather(walk, return_exceptions=True)
            walked = runtime.venue.prices.snapshot()

            async def saved() -> bool:
                rows = await runtime.pool.fetch("SELECT symbol, last_price FROM instruments")
                return {r["symbol"]: r["last_price"] for r in rows} == walked

            await eventually(saved)
            # Each symbol's newest close is its last price, and no bar is for a symbol never moved.
            latest = await runtime.pool.fetch(
                "SELECT DISTINCT ON (symbol) symbol, close FROM price_bars_1m ORDER BY symbol, minute DESC")
            assert {r["symbol"]: r["close"] for r in latest} == {
                s: p for s, p in walked.items() if s in {r["symbol"] for r in latest}}
            assert len(latest) > len(walked) / 2  # a walk moves (nearly) every symbol

            minutes = await minutes_of(runtime.pool, "AAPL")
            app = create_app(settings, services=runtime.services)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
                shown = (await bars(client, "AAPL"))["bars"]
            assert [{k: bar[k] for k in ("open", "high", "low", "close", "ticks")} for bar in shown] == [
                {k: m[k] for k in ("open", "high", "low", "close", "ticks")} for m in minutes]
        finally:
            await runtime.close()


# -- bars ---------------------------------------------------------------------------------


async def test_bars_are_ohlc_of_the_ticks_in_each_interval_by_time(client, runtime, symbol):
    stock = await symbol("10")
    base = (datetime.now(UTC) - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)

    def at(minute: int, second: int = 0, microsecond: int = 0) -> datetime:
        return base + timedelta(minutes=minute, seconds=second, microseconds=microsecond)

    # Saved out of time order on purpose: open and close follow `at`, not the writes (a late
    # earlier tick takes a minute's open, never its close), within a minute and across them.
    for moment, price in [
        (at(9, 59), "9"), (at(7, 5), "8"), (at(7, 30), "7.5"),  # the second 5 minutes, written first
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

    # Longer intervals: the first open, highest high, lowest low, last close and all ticks
    # of the minutes in each.
    five = {"open": 10, "high": Decimal("31.0001"), "low": Decimal("9.75"), "close": 30, "ticks": 7}
    assert (await bars(client, stock, interval="5m", **window))["bars"] == [{"start": stamp(base), **five}]
    assert (await bars(client, stock, interval="5m", **{"from": stamp(base), "to": stamp(at(10))}))["bars"] == [
        {"start": stamp(base), **five},
        {"start": stamp(at(5)), "open": 8, "high": 9, "low": Decimal("7.5"), "close": 9, "ticks": 3}]
    whole = {"open": 10, "high": Decimal("31.0001"), "low": Decimal("7.5"), "close": 9, "ticks": 10}
    for interval in ("15m", "1h"):  # `to` becomes the next grid line of the interval: all ten minutes
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
    address = new_address()
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


async def test_the_writer_prunes_expired_bars_now_and_then_in_bounded_batches(scratch_database):
    _, pool = scratch_database
    await pool.execute("""INSERT INTO instruments (symbol, name, reference_price, last_price)
                          VALUES ('OLD', 'Old', 1, 1), ('NEW', 'New', 1, 1)""")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    kept = now - timedelta(days=29, hours=23)

    async def bar(minute: datetime) -> None:
        await pool.execute("""INSERT INTO price_bars_1m
                              (symbol, minute, open, high, low, close, ticks, first_at, last_at)
                              VALUES ('OLD', $1, 1, 1, 1, 1, 1, $1, $1)""", minute)

    async def expire(count: int) -> None:  # bars older than the 30 days kept
        for m in range(count):
            await bar(now - timedelta(days=31, minutes=m))

    async def count(where: str) -> int:
        return await pool.fetchval(f"SELECT count(*) FROM price_bars_1m WHERE minute {where} $1", kept)

    await bar(kept)
    await expire(5)
    queries = PgQueries(pool, bar_retention_days=30)
    queries.retention.every_seconds, queries.retention.batch = 3600, 3
    await queries.save_prices({"NEW": Decimal(2)}, now - timedelta(minutes=3))  # the first write prunes: 3
    assert await count("<") == 2
    await queries.save_prices({"NEW": Decimal(3)}, now - timedelta(minutes=2))  # the batch was full: due again
    assert await count("<") == 0
    await expire(5)
    await queries.save_prices({"NEW": Decimal(4)}, now - timedelta(minutes=1))  # not full: not due for an hour
    assert await count("<") == 5
    assert await count(">=") == 1 + 3  # the bar inside the retention, and a minute of each write

    eager = PgQueries(pool, bar_retention_days=30)
    eager.retention.every_seconds = 0
    await eager.save_prices({"NEW": Decimal(5)}, now - timedelta(minutes=1))  # the same minute: one bar more ticked
    assert (await count("<"), await count(">=")) == (0, 4)
    assert await pool.fetchval("SELECT ticks FROM price_bars_1m WHERE symbol = 'NEW' AND minute = $1",
                               now - timedelta(minutes=1)) == 2
    # The pruning statement leaves the minute it writes alone, however old: a late tick of
    # an expired minute is folded into its bar, which the next prune takes.
    old = now - timedelta(days=40)
    await bar(old)
    await eager.save_prices({"OLD": Decimal("1.5")}, old + timedelta(seconds=30))
    expired = "SELECT ticks, close FROM price_bars_1m WHERE minute < $1"
    assert [tuple(r) for r in await pool.fetch(expired, kept)] == [(2, Decimal("1.5"))]
    await eager.save_prices({"NEW": Decimal(6)})
    assert await pool.fetch(expired, kept) == []


async def test_no_retention_keeps_every_bar(scratch_database):
    _, pool = scratch_database
    await pool.execute("INSERT INTO instruments (symbol, name, reference_price, last_price) VALUES ('X', 'X', 1, 1)")
    queries = PgQueries(pool, bar_retention_days=0)
    await queries.save_prices({"X": Decimal(2)}, datetime(2001, 1, 1, tzinfo=UTC))
    await queries.save_prices({"X": Decimal(3), "UNKNOWN": Decimal(4)})
    assert [r["symbol"] for r in await pool.fetch("SELECT symbol FROM price_bars_1m ORDER BY minute")] == ["X", "X"]


# -- the migration from ticks -------------------------------------------------------------

BARS_REVISION = "0008"  # creates price_bars_1m from price_ticks


def _alembic(url: str, action: str, revision: str) -> None:
    """`alembic upgrade|downgrade <revision>` on the database at `url`."""
    from alembic import command
    from alembic.config import Config

    config = Config(str(ALEMBIC_INI))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    getattr(command, action)(config, revision)


def _revision_before_bars() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    before = ScriptDirectory.from_config(Config(str(ALEMBIC_INI))).get_revision(BARS_REVISION).down_revision
    assert isinstance(before, str)
    return before


async def test_the_migration_folds_the_ticks_into_minute_bars_and_a_downgrade_brings_back_no_ticks():
    async with fresh_database("tickerdesk_fold") as url:
        before = _revision_before_bars()
        await asyncio.to_thread(_alembic, url, "upgrade", before)
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            minute = datetime(2026, 11, 27, 14, 5, tzinfo=UTC)

            def at(seconds: float) -> datetime:
                return minute + timedelta(seconds=seconds)

            ticks = [("A", at(10), "10"), ("A", at(40), "9.75"), ("A", at(20), "12.5"), ("A", at(59.999999), "11"),
                     ("A", at(60), "20"), ("B", at(30), "5")]
            await conn.executemany("INSERT INTO price_ticks (symbol, at, price) VALUES ($1, $2, $3::numeric)", ticks)
            await asyncio.to_thread(_alembic, url, "upgrade", BARS_REVISION)
            folded = await conn.fetch("SELECT * FROM price_bars_1m ORDER BY symbol, minute")
            assert [tuple(r) for r in folded] == [
                ("A", minute, 10, Decimal("12.5"), Decimal("9.75"), 11, 4, at(10), at(59.999999)),
                ("A", at(60), 20, 20, 20, 20, 1, at(60), at(60)),
                ("B", minute, 5, 5, 5, 5, 1, at(30), at(30)),
            ]
            assert await conn.fetchval("SELECT to_regclass('price_ticks')") is None

            await asyncio.to_thread(_alembic, url, "downgrade", before)
            assert await conn.fetchval("SELECT to_regclass('price_bars_1m')") is None
            assert await conn.fetchval("SELECT count(*) FROM price_ticks") == 0
        finally:
            await conn.close()
