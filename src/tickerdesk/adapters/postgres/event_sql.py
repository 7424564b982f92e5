"""The SQL that builds event envelopes inside a statement, where the new balance or
position is known (a placement's, a funding's, a batch of placements')."""

from __future__ import annotations

from tickerdesk.domain.events import BalanceUpdated, PortfolioUpdated

# The balance.updated and portfolio.updated envelopes, built where the new balance or
# position is known: inside the statement. `b` is a CTE returning user_id, available,
# held; `p` one returning a position row. They are codec.encode_event's form, which
# tests/integration/test_codec_sql.py checks. `more` adds columns (group_commit.py orders by them).
BALANCE_EVENT_SQL = f"""
SELECT {{event_id}}::uuid, b.user_id, 'balance.updated', jsonb_build_object(
    'id', {{event_id}}::text, 'type', 'balance.updated', 'userId', b.user_id,
    'occurredAt', {{occurred_at}}::text, 'schemaVersion', {BalanceUpdated.schema_version},
    'data', jsonb_build_object('userId', b.user_id, 'availableBalance', trim_scale(b.available),
        'heldForTrades', trim_scale(b.held), 'totalBalance', trim_scale(b.available + b.held))){{more}}
FROM b"""

PORTFOLIO_EVENT_SQL = f"""
SELECT {{event_id}}::uuid, p.user_id, 'portfolio.updated', jsonb_build_object(
    'id', {{event_id}}::text, 'type', 'portfolio.updated', 'userId', p.user_id,
    'occurredAt', {{occurred_at}}::text, 'schemaVersion', {PortfolioUpdated.schema_version},
    'data', jsonb_build_object('stockSymbol', p.symbol, 'quantity', p.quantity,
        'heldQuantity', p.held_quantity, 'averagePurchasePrice', trim_scale(p.average_price),
        'realizedPnl', trim_scale(p.realized_pnl))){{more}}
FROM p"""
