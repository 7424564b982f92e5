"""Rate limit settings read as "<rate per second>/<burst>", and the RateLimit
headers are whole seconds, rounded up."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickerdesk.app.rate_limits import Decision, RateLimit
from tickerdesk.entrypoints.http.limits import headers


@pytest.mark.parametrize(
    ("text", "rate", "burst"),
    [("50/100", 50.0, 100), ("0.5/1", 0.5, 1), ("1000/2000", 1000.0, 2000), (" 2 / 3 ", 2.0, 3)],
)
def test_a_setting_reads_as_rate_per_second_and_burst(text, rate, burst):
    assert RateLimit.parse(text) == RateLimit(rate, burst)


@pytest.mark.parametrize(
    "text",
    ["", "50", "50/", "/100", "abc/def", "50/100/3", "0/100", "50/0", "0.0/1", "-5/10", "5/-10",
     "5/1.5", "nan/1", "inf/1", "1e3/10", "50:100"],
)
def test_garbage_zero_and_negative_settings_are_refused(text):
    with pytest.raises(ValueError):
        RateLimit.parse(text)


@given(st.integers(1, 10**6), st.integers(0, 9999), st.integers(1, 10**6))
def test_any_positive_rate_and_burst_round_trip(whole, fraction, burst):
    rate = f"{whole}.{fraction:04d}"
    assert RateLimit.parse(f"{rate}/{burst}") == RateLimit(float(rate), burst)


@given(st.text(alphabet="0123456789./- ").filter(lambda s: s.count("/") != 1))
def test_a_setting_without_exactly_one_slash_is_refused(text):
    with pytest.raises(ValueError):
        RateLimit.parse(text)


def test_a_limit_built_directly_is_checked_too():
    with pytest.raises(ValueError):
        RateLimit(0, 10)
    with pytest.raises(ValueError):
        RateLimit(1, 0)


def test_an_allowed_decision_has_no_retry_after_and_rounds_reset_up():
    fields = headers(Decision(allowed=True, limit=100, remaining=42, reset_seconds=1.01, retry_after=0))
    assert fields == {"RateLimit-Limit": "100", "RateLimit-Remaining": "42", "RateLimit-Reset": "2"}


def test_a_refusal_has_retry_after_of_at_least_one_second():
    fields = headers(Decision(allowed=False, limit=5, remaining=0, reset_seconds=0.09, retry_after=0.02))
    assert fields == {"RateLimit-Limit": "5", "RateLimit-Remaining": "0", "RateLimit-Reset": "1", "Retry-After": "1"}
    assert headers(Decision(False, 5, 0, 10, 2.3))["Retry-After"] == "3"


def test_float_noise_does_not_add_a_second():
    fields = headers(
        Decision(allowed=False, limit=1, remaining=0, reset_seconds=2.0000000001, retry_after=2.0000000001)
    )
    assert fields["RateLimit-Reset"] == "2" and fields["Retry-After"] == "2"


def test_a_full_bucket_resets_in_zero_seconds():
    assert headers(Decision(True, 10, 10, 0.0, 0.0))["RateLimit-Reset"] == "0"
