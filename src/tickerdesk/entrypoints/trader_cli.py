"""The verbs for people at a terminal: balance, portfolio, place, orders, cancel, history,
watch. Each is a call of the Python SDK (`tickerdesk_client`) against a running server,
so the CLI uses only the public API; the URL and token come from `--url`/`--token` or
TICKERDESK_URL/TICKERDESK_TOKEN. A refusal is its problem's detail on one line, exit 1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from itertools import islice
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table
from tickerdesk_client import Client, TickerdeskError, Trade

from tickerdesk.domain.orders import Side, TimeInForce

console = Console()

Url = Annotated[str, typer.Option("--url", envvar="TICKERDESK_URL", help="The server (TICKERDESK_URL).")]
Token = Annotated[str, typer.Option("--token", envvar="TICKERDESK_TOKEN", show_default=False,
                                    help="A bearer token: `tickerdesk token USER` (TICKERDESK_TOKEN).")]
DEFAULT_URL = "http://127.0.0.1:8000"


@contextmanager
def _session(url: str, token: str) -> Iterator[Client]:
    """A client whose refusals and lost connections end the command with one line and exit 1."""
    try:
        with Client(url, token) as client:
            yield client
    except TickerdeskError as error:
        typer.echo(f"tickerdesk: {error.detail}", err=True)
        raise typer.Exit(1) from None
    except httpx.TransportError as error:
        typer.echo(f"tickerdesk: cannot reach {url} ({error.__class__.__name__}: {error})", err=True)
        raise typer.Exit(1) from None


def _amount(value: Decimal | None) -> str:
    return "" if value is None else f"{value:,f}"


def _trades_table(title: str, trades: list[Trade]) -> Table:
    table = Table(title=title)
    table.add_column("trade id", no_wrap=True, min_width=36)  # whole, so it can be copied into `cancel`
    for column in ("symbol", "side", "type", "qty", "filled", "price", "status", "created"):
        table.add_column(column, justify="right" if column in ("qty", "filled", "price") else "left")
    for t in trades:
        table.add_row(t.trade_id, t.symbol, t.side, t.order_type, str(t.quantity), str(t.filled_quantity),
                      _amount(t.price_per_share), t.status, t.created_at.strftime("%Y-%m-%d %H:%M:%S"))
    return table


def balance(url: Url = DEFAULT_URL, token: Token = "") -> None:
    """Your cash: available, held for open orders, total."""
    with _session(url, token) as client:
        b = client.balance()
    table = Table(title="Balance")
    for column in ("Available", "Held", "Total"):
        table.add_column(column, justify="right")
    table.add_row(_amount(b.available), _amount(b.held), _amount(b.total))
    console.print(table)


def portfolio(url: Url = DEFAULT_URL, token: Token = "") -> None:
    """Your holdings at the current prices."""
    with _session(url, token) as client:
        p = client.portfolio()
    table = Table(title=f"Portfolio: {_amount(p.total_value)}")
    for column in ("symbol", "qty", "held", "avg price", "last", "value", "unrealized", "realized"):
        table.add_column(column, justify="left" if column == "symbol" else "right")
    for h in p.holdings:
        table.add_row(h.symbol, str(h.quantity), str(h.held_quantity), _amount(h.average_price),
                      _amount(h.current_price), _amount(h.market_value), _amount(h.unrealized_pnl),
                      _amount(h.realized_pnl))
    console.print(table)


def place(
    side: Annotated[Side, typer.Argument(case_sensitive=False, help="BUY or SELL.")],
    symbol: Annotated[str, typer.Argument(help="e.g. AAPL")],
    quantity: Annotated[int, typer.Argument(help="Whole shares.")],
    limit: Annotated[str | None, typer.Option("--limit", help="A limit price; a market order without it.")] = None,
    tif: Annotated[TimeInForce, typer.Option("--tif", help="Time in force.")] = TimeInForce.DAY,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Place an order (retried safely under one idempotency key)."""
    try:
        price = Decimal(limit) if limit is not None else None
    except ArithmeticError:
        raise typer.BadParameter(f"{limit!r} is not a price", param_hint="--limit") from None
    with _session(url, token) as client:
        trade = client.place_order(symbol, quantity, side.value, "limit" if price is not None else "market",
                                   price, tif.value)
    console.print(_trades_table("Placed", [trade]))


def orders(
    all_: Annotated[bool, typer.Option("--all", help="Every order, not only the open ones.")] = False,
    limit: Annotated[int, typer.Option("--limit", help="At most this many.")] = 50,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Your open orders (newest first); --all for every order."""
    with _session(url, token) as client:
        trades = client.trades() if all_ else (t for t in client.trades() if t.is_open)
        shown = list(islice(trades, limit))
    console.print(_trades_table("Orders" if all_ else "Open orders", shown))


def cancel(trade_id: Annotated[str, typer.Argument(help="The trade id.")], url: Url = DEFAULT_URL,
           token: Token = "") -> None:
    """Ask to cancel an open order; it is canceled when the venue confirms."""
    with _session(url, token) as client:
        trade = client.cancel_order(trade_id)
    console.print(_trades_table("Cancel requested", [trade]))


# `tickerdesk history` lists a user's history; its subcommand `rebuild` (cli.py) is an operator's.
history_app = typer.Typer()


def history(
    ctx: typer.Context,
    symbol: Annotated[str | None, typer.Option("--symbol", help="Only this stock.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="executed, partiallyExecuted, canceled, "
                                                               "expired or rejected.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many.")] = 50,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Trades that executed, were canceled, expired or were rejected, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    with _session(url, token) as client:
        shown = list(islice(client.history(symbol=symbol, status=status), limit))
    console.print(_trades_table("History", shown))


def watch(
    after: Annotated[int | None, typer.Option("--after", help="Replay from after this seq.")] = None,
    count: Annotated[int | None, typer.Option("--count", hidden=True, help="Stop after this many.")] = None,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Live notifications until Ctrl-C (reconnecting by itself)."""
    seen = 0
    try:
        with _session(url, token) as client:
            for note in client.notifications(after=after):
                trade = note.trade
                what = (f"{trade.side} {trade.quantity} {trade.symbol} {trade.status} "
                        f"(filled {trade.filled_quantity})" if trade else
                        " ".join(f"{k}={v}" for k, v in note.data.items() if k != "userId"))
                console.print(f"[dim]{note.seq:>6} {note.occurred_at:%H:%M:%S}[/dim] [bold]{note.type}[/bold] "
                              f"{what}", soft_wrap=True)
                seen += 1
                if count is not None and seen >= count:
                    return
    except KeyboardInterrupt:
        pass


COMMANDS: list[Callable[..., None]] = [balance, portfolio, place, orders, cancel, history, watch]


def register(app: typer.Typer) -> None:
    for command in COMMANDS:
        if command is history:
            history_app.callback(invoke_without_command=True)(command)
            app.add_typer(history_app, name="history", rich_help_panel="Trading (a running server)")
        else:
            app.command(rich_help_panel="Trading (a running server)")(command)
