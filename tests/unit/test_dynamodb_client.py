"""The DynamoDB client's retry policy and wire values, and the order progress the history
stores compare. The one fake here is a client that throttles: dynalite never does."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise

import pytest
from botocore.exceptions import ClientError

from tickerdesk.adapters.dynamodb.client import Backoff, DynamoClient, from_wire, to_wire
from tickerdesk.domain.orders import TRANSITIONS, Status, progress


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "PutItem")


class Throttling:
    """A client whose put_item is throttled `times` times, then succeeds."""

    def __init__(self, times: int, code: str = "ProvisionedThroughputExceededException"):
        self.times, self.code, self.calls = times, code, 0

    async def put_item(self, **params: object) -> dict:
        self.calls += 1
        if self.calls <= self.times:
            raise client_error(self.code)
        return {"ok": params}


def recording_backoff(attempts: int = 10) -> tuple[Backoff, list[float]]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    return Backoff(attempts=attempts, base=0.025, cap=2.0, sleep=sleep, jitter=lambda: 1.0), slept


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException",
                                  "RequestLimitExceeded", "InternalServerError"])
async def test_throttling_is_retried_with_growing_capped_pauses_until_it_succeeds(code):
    backoff, slept = recording_backoff()
    fake = Throttling(7, code)
    answer = await DynamoClient(fake, backoff).call("put_item", TableName="t", Item={})
    assert answer == {"ok": {"TableName": "t", "Item": {}}}
    assert fake.calls == 8
    assert slept == [0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6]  # doubling (at full jitter), then the cap


async def test_the_pause_is_capped_and_jittered():
    backoff = Backoff(base=0.025, cap=2.0, jitter=lambda: 0.5)
    assert backoff.delay(0) == 0.0125 and backoff.delay(30) == 1.0


async def test_throttling_beyond_the_attempts_surfaces_and_other_errors_are_not_retried():
    backoff, slept = recording_backoff(attempts=4)
    fake = Throttling(10)
    with pytest.raises(ClientError) as raised:
        await DynamoClient(fake, backoff).call("put_item")
    assert raised.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert fake.calls == 4 and len(slept) == 3
    refused = Throttling(1, "ConditionalCheckFailedException")
    with pytest.raises(ClientError):
        await DynamoClient(refused, recording_backoff()[0]).call("put_item")
    assert refused.calls == 1


def test_numbers_travel_as_their_exact_text_and_come_back_as_int_or_decimal():
    view = {"price": Decimal("189.5000"), "big": Decimal("12345678901234567890.1234"), "qty": 10, "flag": True,
            "none": None, "name": "AAPL", "nested": [Decimal("0.0001")]}
    wire = to_wire(view)
    assert wire["M"]["price"] == {"N": "189.5000"} and wire["M"]["flag"] == {"BOOL": True}
    back = from_wire(wire)
    assert back == {**view, "price": Decimal("189.5")}
    assert isinstance(back["big"], Decimal) and back["big"] == Decimal("12345678901234567890.1234")
    assert isinstance(back["qty"], int) and back["flag"] is True
    assert from_wire({"N": "1E+2"}) == 100 and isinstance(from_wire({"N": "1E+2"}), Decimal)
    with pytest.raises(TypeError):
        to_wire({"price": 189.5})  # a float is never money
    with pytest.raises(TypeError):
        to_wire(Decimal("NaN"))


def test_progress_never_falls_along_any_path_of_the_state_machine():
    def paths(status: Status, filled: int, quantity: int = 3):
        yield [(status, filled)]
        for nxt in TRANSITIONS.get(status, ()):
            for more in ([quantity] if nxt is Status.EXECUTED else range(filled + 1, quantity)
                         if nxt is Status.PARTIALLY_EXECUTED else [filled]):
                for rest in paths(nxt, more, quantity):
                    yield [(status, filled), *rest]

    every = list(paths(Status.PENDING, 0))
    assert len(every) > 10
    for path in every:
        values = [progress(s, f) for s, f in path]
        assert all(a < b for a, b in pairwise(values)), path
