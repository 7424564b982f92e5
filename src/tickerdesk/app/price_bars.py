"""Charts: OHLC bars of the recorded price feed, and what a request for them may ask.

Bars lie on one UTC grid for every symbol (a 1d bar starts at 00:00Z, a 1h bar on the
hour). A request names a window [from, to) and gets the bars whose start lies in it,
oldest first, each with every tick of its interval (the newest may still be forming),
and no bar for an interval without ticks. Without `to` the window ends now, without
`from` it is the last 60 intervals; it may span at most 1000.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tickerdesk.app.ports import Bar, Clock, Queries
from tickerdesk.domain.errors import InvalidRequest

INTERVALS = {
    "1m": timedelta(minutes=1),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),
}
DEFAULT_BARS = 60
MAX_BARS = 1000
GRID_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)  # a midnight: every interval's grid has a line there
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class BarWindow:
    step: timedelta
    since: datetime  # the first grid line at or after `from`
    until: datetime  # the first grid line at or after `to`: the end of the last bar


def _ceil(moment: datetime, step: timedelta) -> datetime:
    """The first grid line at or after `moment` (past the year 9999: the end of time)."""
    floor = GRID_ORIGIN + (moment - GRID_ORIGIN) // step * step
    try:
        return floor if floor == moment else floor + step
    except OverflowError:
        return _LATEST


def bar_window(interval: str, since: datetime | None, until: datetime | None, now: datetime) -> BarWindow:
    """The window a request asks for, or InvalidRequest."""
    step = INTERVALS.get(interval)
    if step is None:
        raise InvalidRequest(f"interval must be one of {', '.join(INTERVALS)}, not {interval!r}")
    until = now if until is None else until
    if since is None:
        try:
            since = until - DEFAULT_BARS * step
        except OverflowError:  # `to` within 60 intervals of the year 1
            since = _EARLIEST
    if since >= until:
        raise InvalidRequest("from must be before to")
    if until - since > MAX_BARS * step:
        raise InvalidRequest(f"from and to may be at most {MAX_BARS} intervals apart ({MAX_BARS} × {interval})")
    return BarWindow(step, _ceil(since, step), _ceil(until, step))


async def price_bars(queries: Queries, symbol: str, interval: str, since: datetime | None,
                     until: datetime | None, clock: Clock) -> list[Bar]:
    window = bar_window(interval, since, until, clock.now())
    if window.since >= window.until:
        return []  # no grid line inside the window: no bar starts in it
    return await queries.bars(symbol, window.step, GRID_ORIGIN, window.since, window.until)
