"""Execution reports apply exactly once, whatever the venue repeats."""

from datetime import UTC, datetime
from decimal import Decimal as D

from tickerdesk.app.apply_execution import apply_execution
from tickerdesk.app.ports import ExecutionReport, ReportKind


def report(trade, kind, qty=0, price=None, cum=0, execution_id=None):
    return ExecutionReport(
        execution_id=execution_id or f"x-{trade['tradeId']}-{kind}-{cum}",
        trade_id=trade["tradeId"],
        account=trade["userId"],
        kind=kind,
        last_quantity=qty,
        last_price=D(price) if price else None,
        cumulative_quantity=cum,
        remaining_quantity=trade["quantity"] - cum,
        occurred_at=datetime.now(UTC),
    )


async def test_a_repeated_fill_changes_nothing(trader, symbol, runtime):
    alice = await trader(1_000)
    stock = await symbol("100")
    trade = await alice.place(stockSymbol=stock, quantity=5, limitPrice=50, timeInForce="gtc")
    await runtime.settle()
    fill = report(trade, ReportKind.PARTIAL_FILL, 2, "49", 2)
    assert await apply_execution(fill, commands=runtime.services.commands, clock=runtime.services.clock) is True
    assert await apply_execution(fill, commands=runtime.services.commands, clock=runtime.services.clock) is False
    assert (await alice.trade(trade["tradeId"]))["filledQuantity"] == 2
    # 1000 - 250 held; 2 x 49 spent, 2 x 1 released
    assert await alice.balance() == (D("752"), D("150"))


async def test_a_repeated_cancel_releases_once(trader, symbol, runtime):
    alice = await trader(1_000)
    stock = await symbol("100")
    trade = await alice.place(stockSymbol=stock, quantity=5, limitPrice=50, timeInForce="gtc")
    await runtime.settle()
    cancel = report(trade, ReportKind.CANCELED)
    assert await apply_execution(cancel, commands=runtime.services.commands, clock=runtime.services.clock) is True
    assert await apply_execution(cancel, commands=runtime.services.commands, clock=runtime.services.clock) is False
    assert await alice.balance() == (D("1000"), 0)


async def test_a_fill_that_the_order_could_not_have_is_refused(trader, symbol, runtime):
    import pytest

    from tickerdesk.domain.errors import InvalidTransition

    alice = await trader(1_000)
    stock = await symbol("100")
    trade = await alice.place(stockSymbol=stock, quantity=5, limitPrice=50, timeInForce="gtc")
    await runtime.settle()
    for bad in (report(trade, ReportKind.FILL, 6, "50", 6), report(trade, ReportKind.FILL, 5, "50.01", 5)):
        with pytest.raises(InvalidTransition):
            await apply_execution(bad, commands=runtime.services.commands, clock=runtime.services.clock)
    assert await alice.balance() == (D("750"), D("250"))


async def test_a_report_for_an_unknown_order_is_dropped(runtime):
    ghost = {"tradeId": "01a220b8-0821-7000-9aa7-5049e482c3ea", "userId": "nobody", "quantity": 1}
    assert await apply_execution(report(ghost, ReportKind.FILL, 1, "1", 1), commands=runtime.services.commands,
                                 clock=runtime.services.clock) is False
