"""The trading core: instruments, accounts, positions, trades, executions, ledger,
outbox and the notification inbox.

Every table that belongs to a user leads its primary key with `user_id`, so the
schema can be distributed by user. CHECK constraints, not only code, forbid
negative cash, negative or over-held shares and over-filled orders: the placement
statement relies on them to refuse a hold the balance cannot cover.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

MONEY = sa.Numeric(20, 4)
AVERAGE = sa.Numeric(24, 8)
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "instruments",
        sa.Column("symbol", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("lot_size", sa.Integer, nullable=False, server_default="1"),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("reference_price", MONEY, nullable=False),
        sa.Column("last_price", MONEY, nullable=False),
        sa.Column("price_updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("last_price > 0 AND reference_price > 0", name="instruments_price_positive"),
    )
    op.create_table(
        "accounts",
        sa.Column("user_id", sa.Text, primary_key=True),
        sa.Column("available", MONEY, nullable=False, server_default="0"),
        sa.Column("held", MONEY, nullable=False, server_default="0"),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("available >= 0", name="accounts_available_nonnegative"),
        sa.CheckConstraint("held >= 0", name="accounts_held_nonnegative"),
    )
    op.create_table(
        "positions",
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("symbol", sa.Text, sa.ForeignKey("instruments.symbol"), nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("held_quantity", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("average_price", AVERAGE, nullable=False, server_default="0"),
        sa.Column("realized_pnl", AVERAGE, nullable=False, server_default="0"),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("user_id", "symbol"),
        sa.CheckConstraint("quantity >= 0", name="positions_quantity_nonnegative"),
        sa.CheckConstraint("held_quantity >= 0", name="positions_held_nonnegative"),
        sa.CheckConstraint("held_quantity <= quantity", name="positions_held_within_quantity"),
    )
    op.create_table(
        "trades",
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("trade_id", pg.UUID, nullable=False),
        sa.Column("client_order_id", sa.Text),
        sa.Column("idempotency_key", sa.Text),
        sa.Column("request_hash", sa.Text, nullable=False),
        sa.Column("symbol", sa.Text, sa.ForeignKey("instruments.symbol"), nullable=False),
        sa.Column("side", sa.Text, nullable=False),
        sa.Column("order_type", sa.Text, nullable=False),
        sa.Column("time_in_force", sa.Text, nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.Column("limit_price", MONEY),
        sa.Column("hold_price", MONEY),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("filled_quantity", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("filled_value", MONEY, nullable=False, server_default="0"),
        sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("reject_reason", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "trade_id"),
        sa.UniqueConstraint("user_id", "client_order_id", name="trades_client_order_id_key"),
        sa.UniqueConstraint("user_id", "idempotency_key", name="trades_idempotency_key_key"),
        sa.CheckConstraint("quantity > 0", name="trades_quantity_positive"),
        sa.CheckConstraint(
            "filled_quantity >= 0 AND filled_quantity <= quantity", name="trades_filled_within_quantity"
        ),
        sa.CheckConstraint("side IN ('buy', 'sell')", name="trades_side_valid"),
        sa.CheckConstraint("side = 'sell' OR hold_price > 0", name="trades_buy_has_hold_price"),
        sa.CheckConstraint(
            "status IN ('pending', 'partiallyExecuted', 'executed', 'canceled', 'expired', 'rejected')",
            name="trades_status_valid",
        ),
    )
    op.create_index(
        "trades_open_idx",
        "trades",
        ["symbol"],
        postgresql_where=sa.text("status IN ('pending', 'partiallyExecuted')"),
    )
    op.create_table(
        "executions",
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("execution_id", sa.Text, nullable=False),
        sa.Column("trade_id", pg.UUID, nullable=False),
        sa.Column("symbol", sa.Text, nullable=False),
        sa.Column("side", sa.Text, nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.Column("price", MONEY, nullable=False),
        sa.Column("executed_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "execution_id"),
        sa.CheckConstraint("quantity > 0 AND price > 0", name="executions_positive"),
    )
    op.create_index("executions_trade_idx", "executions", ["user_id", "trade_id"])
    op.create_table(
        "ledger",
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("entry_id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("trade_id", pg.UUID),
        sa.Column("reference", sa.Text),  # a funding instruction's idempotency key
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "entry_id"),
        sa.UniqueConstraint("user_id", "reference", name="ledger_reference_key"),
        sa.CheckConstraint("amount > 0", name="ledger_amount_positive"),
        sa.CheckConstraint(
            "kind IN ('deposit', 'withdrawal', 'hold', 'release', 'buy', 'sell')", name="ledger_kind_valid"
        ),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", pg.UUID, nullable=False),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("payload", pg.JSONB, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "notifications",
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("event_id", pg.UUID, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("payload", pg.JSONB, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "seq"),
        sa.UniqueConstraint("user_id", "event_id", name="notifications_event_key"),
    )
    # Wake relays the moment an event is committed instead of polling hard.
    op.execute(
        """CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN PERFORM pg_notify('tickerdesk_outbox', ''); RETURN NULL; END $$"""
    )
    op.execute(
        """CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
           FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify()"""
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
    op.execute("DROP FUNCTION IF EXISTS outbox_notify()")
    for table in ("notifications", "outbox", "ledger", "executions", "trades", "positions", "accounts", "instruments"):
        op.drop_table(table)
