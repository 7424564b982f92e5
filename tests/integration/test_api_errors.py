"""Every error code, and that a refused request changes nothing."""

import pytest

from tests.conftest import ADMIN

HUGE = "9" * 5000


def raw(text: str) -> bytes:
    return text.encode()


BAD_ORDERS = [
    (raw("{"), 400, "invalid_request"),
    (raw("[]"), 400, "invalid_request"),
    (raw('"buy"'), 400, "invalid_request"),
    (raw('{"stockSymbol":"AAPL","quantity":1,"tradeType":"buy","limitPrice":NaN}'), 400, "invalid_request"),
    (raw('{"stockSymbol":"AAPL","quantity":1,"tradeType":"buy","limitPrice":Infinity}'), 400, "invalid_request"),
    (raw('{"stockSymbol":"AAPL","quantity":1,"tradeType":"buy","limitPrice":-Infinity}'), 400, "invalid_request"),
    (raw('{"stockSymbol":"AAPL","quantity":' + HUGE + ',"tradeType":"buy"}'), 400, "invalid_request"),
    ({"stockSymbol": "AAPL", "quantity": "10", "tradeType": "buy"}, 422, "invalid_request"),
    ({"stockSymbol": "AAPL", "quantity": 10.5, "tradeType": "buy"}, 422, "invalid_request"),
    ({"stockSymbol": "AAPL", "quantity": 0, "tradeType": "buy"}, 422, "invalid_request"),
    ({"stockSymbol": "AAPL", "quantity": -5, "tradeType": "buy"}, 422, "invalid_request"),
    ({"stockSymbol": "AAPL", "quantity": True, "tradeType": "buy"}, 422, "invalid_request"),
    ({"stockSymbol": "AAPL", "quantity": None, "tradeType": "buy"}, 422, "invalid_request"),
    ({"stockSymbol": "AAPL", "quantity": 10**30, "tradeType": "buy"}, 422, "invalid_request"),
    (raw('{"stockSymbol":"AAPL","quantity":1e3,"tradeType":"buy"}'), 422, "invalid_request"),
    ({"stockSymbol": "AAPL", "quantity": 1, "tradeType": "buy", "limitPrice": "abc"}, 422, "invalid_request"),
    (raw('{"stockSymbol":"AAPL","quantity":1,"tradeType":"buy","limitPrice":1e400}'), 422, "invalid_request"),
    (raw('{"stockSymbol":"AAPL","quantity":1,"tradeType":"buy","limitPrice":1e-400}'), 422, "invalid_request"),
    (
        raw('{"stockSymbol":"AAPL","quantity":1,"tradeType":"buy","limitPrice":0.10000000000000001}'),
        422,
        "invalid_request",
    ),
    ({"stockSymbol": "AAPL", "quantity": 1, "tradeType": "buy", "limitPrice": "189.12345"}, 422, "invalid_request"),
    (raw('{"stockSymbol":"AAPL","quantity":1,"tradeType":"buy","limitPrice":189.12345}'), 422, "invalid_request"),
    ({"stockSymbol": "AAPL", "quantity": 1, "tradeType": "buy", "limitPrice": -1}, 422, "invalid_request"),
    ({"stockSymbol": "AAPL", "quantity": 1, "tradeType": "buy", "limitPrice": 0}, 422, "invalid_request"),
    ({"stockSymbol": "AAPL", "quantity": 1, "tradeType": "buy", "limitPrice": True}, 422, "invalid_request"),
    ({"stockSymbol": "AAPL", "quantity": 1, "tradeType": "buy", "limitPrice": 10**12}, 422, "invalid_request"),
    ({"stockSymbol": "AAPL", "quantity": 1, "tradeType": "buy", "orderType": "limit"}, 422, "invalid_request"),
    (
        {"stockSymbol": "AAPL", "quantity": 1, "tradeType": "buy", "orderType": "market", "limitPrice": 10},
        422,
        "invalid_request",
    ),
    ({"stockSymbol": "AAPL", "quantity": 1, "tradeType": "hold", "limitPrice": 10}, 422, "invalid_request"),
    (
        {"stockSymbol": "AAPL", "quantity": 1, "tradeType": "buy", "limitPrice": 10, "timeInForce": "forever"},
        422,
        "invalid_request",
    ),
    (
        {"stockSymbol": "AAPL", "quantity": 1, "tradeType": "buy", "limitPrice": 10, "surprise": 1},
        422,
        "invalid_request",
    ),
    (
        {"stockSymbol": "AAPL", "quantity": 1, "tradeType": "buy", "limitPrice": 10, "clientOrderId": "has spaces"},
        422,
        "invalid_request",
    ),
    (
        {"stockSymbol": "AAPL", "quantity": 1, "tradeType": "buy", "limitPrice": 10, "clientOrderId": "x" * 200},
        422,
        "invalid_request",
    ),
    ({"stockSymbol": "A" * 1000, "quantity": 1, "tradeType": "buy", "limitPrice": 10}, 422, "invalid_request"),
    ({"stockSymbol": "ZZZZ", "quantity": 1, "tradeType": "buy", "limitPrice": 10}, 422, "unknown_symbol"),
    ({"stockSymbol": "AAPL", "quantity": 1_000_000, "tradeType": "buy", "limitPrice": 189}, 422, "insufficient_funds"),
    ({"stockSymbol": "AAPL", "quantity": 1, "tradeType": "sell", "limitPrice": 189}, 422, "insufficient_shares"),
    (
        raw('{"stockSymbol":"AAPL","quantity":1,"tradeType":"buy","limitPrice":10,"pad":"' + "x" * 70_000 + '"}'),
        413,
        "invalid_request",
    ),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_ORDERS)
async def test_a_malformed_or_unaffordable_order_is_refused_and_changes_nothing(trader, body, status, code):
    alice = await trader(1_000)
    before = await alice.balance()
    kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
    response = await alice.client.post(
        "/trade/place", headers={**alice.headers, "Content-Type": "application/json"}, **kwargs
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == code
    assert {"type", "title", "status", "detail"} <= problem.keys()
    assert await alice.balance() == before
    assert (await alice.get("/trades"))["items"] == []


async def test_requests_without_a_valid_token_are_unauthenticated(client):
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer not-a-jwt"}):
        response = await client.get("/balance", headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == "unauthenticated"
        assert response.headers["www-authenticate"] == "Bearer"


async def test_a_token_signed_with_another_secret_is_refused(client):
    import jwt

    forged = jwt.encode({"sub": "mallory", "scope": "admin"}, "another-secret-of-sufficient-length!", algorithm="HS256")
    response = await client.post(
        "/admin/deposits", json={"userId": "mallory", "amount": 10}, headers={"Authorization": f"Bearer {forged}"}
    )
    assert response.status_code == 401


async def test_admin_routes_need_the_admin_scope(trader, client):
    alice = await trader(100)
    for method, path, body in (
        ("POST", "/admin/deposits", {"userId": alice.user_id, "amount": 10}),
        ("POST", "/admin/withdrawals", {"userId": alice.user_id, "amount": 10}),
        ("PUT", "/sim/stocks/AAPL", {"price": 1}),
        ("POST", "/sim/session/close", None),
    ):
        response = await client.request(method, path, json=body, headers=alice.headers)
        assert response.status_code == 403, path
        assert response.json()["code"] == "forbidden"
    assert await alice.balance() == (100, 0)


async def test_another_users_trade_is_not_found_and_cannot_be_canceled(trader):
    alice, bob = await trader(10_000), await trader(10_000)
    trade = await alice.place(quantity=1, orderType="limit", limitPrice=100)
    for response in (
        await bob.client.get(f"/trade/{trade['tradeId']}", headers=bob.headers),
        await bob.client.post(f"/trade/{trade['tradeId']}/cancel", headers=bob.headers),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    assert (await alice.trade(trade["tradeId"]))["status"] == "pending"
    assert (await alice.trade(trade["tradeId"]))["cancelRequested"] is False


async def test_unknown_and_malformed_trade_ids_are_not_found(trader):
    alice = await trader()
    for trade_id in ("01a220b8-0821-7000-9aa7-5049e482c3ea", "nope", "1' OR '1'='1"):
        response = await alice.client.get(f"/trade/{trade_id}", headers=alice.headers)
        assert response.status_code == 404


async def test_a_finished_order_is_not_cancelable(trader, symbol):
    alice = await trader(10_000)
    stock = await symbol("50")
    trade = await alice.place(stockSymbol=stock, quantity=2, orderType="market")
    assert (await alice.trade(trade["tradeId"]))["status"] == "executed"
    response = await alice.client.post(f"/trade/{trade['tradeId']}/cancel", headers=alice.headers)
    assert response.status_code == 409
    assert response.json()["code"] == "not_cancelable"


async def test_bad_query_parameters_are_invalid_requests(trader):
    alice = await trader()
    for path, params in (
        ("/trades", {"limit": 0}),
        ("/trades", {"limit": 10_000}),
        ("/trades", {"status": "lost"}),
        ("/trades", {"cursor": "not-a-uuid"}),
        ("/transaction-history", {"from": "yesterday"}),
        ("/balance/ledger", {"cursor": -1}),
        ("/notifications", {"after": "x"}),
    ):
        response = await alice.client.get(path, headers=alice.headers, params=params)
        assert response.status_code == 400, (path, params, response.text)
        assert response.json()["code"] == "invalid_request"


async def test_funding_refuses_bad_amounts_and_overdrafts(trader, client):
    alice = await trader(100)
    for body, code in (
        ({"userId": alice.user_id, "amount": -5}, "invalid_request"),
        ({"userId": alice.user_id, "amount": "0.00001"}, "invalid_request"),
        ({"userId": alice.user_id}, "invalid_request"),
        ({"userId": "", "amount": 5}, "invalid_request"),
    ):
        response = await client.post("/admin/deposits", json=body, headers=ADMIN)
        assert response.status_code == 422, body
        assert response.json()["code"] == code
    response = await client.post(
        "/admin/withdrawals", json={"userId": alice.user_id, "amount": "100.0001"}, headers=ADMIN
    )
    assert response.status_code == 422
    assert response.json()["code"] == "insufficient_funds"
    response = await client.post(
        "/admin/withdrawals", json={"userId": "nobody-" + alice.user_id, "amount": 1}, headers=ADMIN
    )
    assert response.json()["code"] == "insufficient_funds"
    assert await alice.balance() == (100, 0)


async def test_sim_routes_refuse_unknown_symbols_and_bad_prices(client):
    assert (await client.put("/sim/stocks/ZZZZ", json={"price": 1}, headers=ADMIN)).json()["code"] == "unknown_symbol"
    for body in ({"price": -1}, {"price": "NaN"}, {"price": 1, "liquidity": 0}, {"price": 1, "liquidity": 1.5}):
        response = await client.put("/sim/stocks/AAPL", json=body, headers=ADMIN)
        assert response.status_code == 422, body


async def test_unknown_routes_and_methods_answer_problem_json(client):
    response = await client.get("/nowhere")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    response = await client.delete("/balance")
    assert response.status_code == 405
