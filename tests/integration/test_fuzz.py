"""No input, however malformed, gives a 500 or changes anything it should not."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
    st.sampled_from(["AAPL", "buy", "sell", "market", "limit", "gtc", "ioc", "fok", "1E+2", "0.00001", "NaN"]),
)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)), max_leaves=8)
order_bodies = st.fixed_dictionaries({}, optional={
    "stockSymbol": st.one_of(st.sampled_from(["AAPL", "aapl", "ZZZZ", ""]), json_values),
    "quantity": st.one_of(st.integers(-5, 10**7), json_values),
    "tradeType": st.one_of(st.sampled_from(["buy", "sell"]), json_values),
    "orderType": st.one_of(st.sampled_from(["market", "limit"]), json_values),
    "limitPrice": st.one_of(st.decimals(allow_nan=False, places=6, min_value=-10, max_value=10**7).map(str),
                            json_values),
    "timeInForce": st.one_of(st.sampled_from(["day", "gtc", "ioc", "fok"]), json_values),
    "clientOrderId": json_values,
    "extra": json_values,
})


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.one_of(order_bodies, json_values))
async def test_any_order_body_gets_a_clear_answer_and_a_refusal_changes_nothing(trader_once, body):
    alice = trader_once
    before = await alice.balance()
    trades_before = len((await alice.get("/trades", limit=500))["items"])
    response = await alice.client.post("/trade/place", json=body, headers=alice.headers)
    assert response.status_code in (201, 400, 413, 422), (body, response.text)
    if response.status_code != 201:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert await alice.balance() == before
        assert len((await alice.get("/trades", limit=500))["items"]) == trades_before
    else:  # it may have filled too: cash moved into shares, never below zero
        available, held = await alice.balance()
        assert available >= 0 and held >= 0


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=json_values, path=st.sampled_from(["/admin/deposits", "/admin/withdrawals"]))
async def test_any_funding_body_gets_a_clear_answer(client, body, path):
    from tests.conftest import ADMIN

    response = await client.post(path, json=body, headers=ADMIN)
    assert response.status_code in (201, 200, 400, 422), (body, response.text)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(params=st.dictionaries(st.sampled_from(["status", "stockSymbol", "limit", "cursor", "from", "to", "after"]),
                              st.text(max_size=40), max_size=4),
       path=st.sampled_from(["/trades", "/transaction-history", "/balance/ledger", "/notifications"]))
async def test_any_query_gets_a_clear_answer(trader_once, params, path):
    response = await trader_once.client.get(path, params=params, headers=trader_once.headers)
    assert response.status_code in (200, 400, 422), (path, params, response.text)
