"""How events are routed to queues: per-user shards for the order-sensitive consumers."""

from hypothesis import given
from hypothesis import strategies as st

from tickerdesk.adapters.rabbitmq.broker import CONSUMERS, USER_EVENTS, Broker, shard_of


@given(st.text(min_size=1, max_size=64), st.integers(1, 64))
def test_a_user_always_lands_on_the_same_shard_within_range(user, shards):
    assert shard_of(user, shards) == shard_of(user, shards)
    assert 0 <= shard_of(user, shards) < shards


def test_users_spread_over_the_shards():
    counts = [0] * 4
    for n in range(4000):
        counts[shard_of(f"user-{n}", 4)] += 1
    assert min(counts) > 800  # roughly even: no shard starves or drowns


def test_order_sensitive_consumers_get_one_queue_per_shard_bound_to_that_shard():
    broker = Broker("amqp://unused", "t", shards=3)
    assert broker.queues(CONSUMERS["notifier"])[2][0] == "t.notifier.2"
    assert "trade.placed.2" in broker.queues(CONSUMERS["notifier"])[2][1]
    assert broker.queues(CONSUMERS["executions"])[1] == ("t.executions.1", ["reports.1"])


def test_other_consumers_share_one_queue_for_every_shard():
    broker = Broker("amqp://unused", "t", shards=3)
    assert broker.queues(CONSUMERS["history"]) == [("t.history", ["trade.#"])]
    assert broker.queues(CONSUMERS["venue-sim"]) == [("t.venue-sim", ["orders"])]
    assert broker.queues(CONSUMERS["notifications"]) == [("t.notifications", [f"{t}.#" for t in USER_EVENTS])]
    assert len(broker.all_queue_names()) == 3 * (3 * 3 + 4)  # 3 sharded x 3 shards + 4 single, x main/retry/dead
