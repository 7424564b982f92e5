"""The window a chart asks for: the grid, the defaults and the bounds (no database); and
how long the one-minute bars behind every chart are kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tickerdesk.app.price_bars import GRID_ORIGIN, INTERVALS, MAX_BARS, bar_window
from tickerdesk.config import Settings
from tickerdesk.domain.errors import InvalidRequest

NOW = datetime(2026, 11, 28, 17, 42, 13, 500_000, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def test_every_interval_has_a_grid_line_at_midnight_utc():
    for step in INTERVALS.values():
        assert timedelta(days=1) % step == timedelta(0)
    assert GRID_ORIGIN.time() == datetime.min.time() and GRID_ORIGIN.utcoffset() == timedelta(0)


def test_every_window_is_made_of_whole_minutes_of_the_stored_grid():
    """The store keeps one-minute bars on GRID_ORIGIN's grid (adapters/postgres/reads.py):
    a longer bar is exact only if it and the window are whole minutes on that grid."""
    assert GRID_ORIGIN.second == GRID_ORIGIN.microsecond == 0
    for interval, step in INTERVALS.items():
        assert step % MINUTE == timedelta(0)
        for since, until in [(None, None), (NOW - timedelta(hours=7, seconds=3), NOW),
                             (NOW - 3 * step, NOW + timedelta(microseconds=1))]:
            window = bar_window(interval, since, until, NOW)
            for line in (window.since, window.until):
                assert (line - GRID_ORIGIN) % step == timedelta(0), (interval, since, until)


def test_the_default_window_is_the_last_60_intervals_up_to_now():
    window = bar_window("1m", None, None, NOW)
    assert window.step == MINUTE
    # The bars that start in [now - 60 min, now): the first grid line after 16:42:13.5 is 16:43,
    # the last bar is the one forming now (17:42), which ends at 17:43.
    assert (window.since, window.until) == (datetime(2026, 11, 28, 16, 43, tzinfo=UTC),
                                            datetime(2026, 11, 28, 17, 43, tzinfo=UTC))
    assert (window.until - window.since) / window.step == 60
    day = bar_window("1d", None, None, NOW)
    assert (day.since, day.until) == (datetime(2026, 9, 30, tzinfo=UTC), datetime(2026, 11, 29, tzinfo=UTC))


def test_a_time_on_the_grid_stays_where_it_is():
    on = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
    window = bar_window("15m", on, on + timedelta(hours=1), NOW)
    assert (window.since, window.until) == (on, on + timedelta(hours=1))


@pytest.mark.parametrize("interval", ["", "1", "2m", "1M", "1H", "60s", "1w", " 1m"])
def test_an_interval_not_offered_is_refused(interval):
    with pytest.raises(InvalidRequest, match="interval must be one of 1m, 5m, 15m, 1h, 1d"):
        bar_window(interval, None, None, NOW)


def test_from_must_be_before_to_and_at_most_1000_intervals_before_it():
    with pytest.raises(InvalidRequest, match="from must be before to"):
        bar_window("1m", NOW, NOW, NOW)
    with pytest.raises(InvalidRequest, match="from must be before to"):
        bar_window("1m", NOW + MINUTE, None, NOW)
    assert bar_window("1m", NOW - MAX_BARS * MINUTE, NOW, NOW).step == MINUTE
    with pytest.raises(InvalidRequest, match="at most 1000 intervals apart"):
        bar_window("1m", NOW - MAX_BARS * MINUTE - timedelta(microseconds=1), NOW, NOW)
    with pytest.raises(InvalidRequest, match="at most 1000 intervals apart"):
        bar_window("1h", NOW - timedelta(days=42), None, NOW)


def test_the_ends_of_time_are_windows_without_errors():
    start_of_time = datetime(1, 1, 1, 0, 10, tzinfo=UTC)
    window = bar_window("1m", None, start_of_time, NOW)  # `to` - 60 min is before the year 1
    assert window.since == datetime(1, 1, 1, tzinfo=UTC) and window.until == start_of_time
    end = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    window = bar_window("1d", end - timedelta(days=3), end, NOW)  # no grid line after the last day
    assert window.until == datetime.max.replace(tzinfo=UTC)


def test_one_minute_bars_are_kept_30_days_and_the_old_name_of_the_setting_still_counts(monkeypatch):
    monkeypatch.delenv("TICKERDESK_PRICE_BAR_RETENTION_DAYS", raising=False)
    monkeypatch.delenv("TICKERDESK_PRICE_TICK_RETENTION_DAYS", raising=False)
    assert Settings().price_bar_retention_days == 30
    assert Settings(price_bar_retention_days=2).price_bar_retention_days == 2
    monkeypatch.setenv("TICKERDESK_PRICE_TICK_RETENTION_DAYS", "7")
    assert Settings().price_bar_retention_days == 7
    monkeypatch.setenv("TICKERDESK_PRICE_BAR_RETENTION_DAYS", "0")  # the new name wins
    assert Settings().price_bar_retention_days == 0
