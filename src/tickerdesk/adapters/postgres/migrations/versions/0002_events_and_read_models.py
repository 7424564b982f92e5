"""Event consumers' state: processed event ids, webhooks and their deliveries, and
the transaction-history read model.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(20, 4)
AVERAGE = sa.Numeric(24, 8)
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # A consumer records each event id it applied in the same transaction as the
    # effect, so a redelivered event changes nothing.
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.Text, nullable=False),
        sa.Column("event_id", pg.UUID, nullable=False),
        sa.Column("processed_at", TS, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("consumer", "event_id"),
    )
    op.create_table(
        "webhooks",
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("webhook_id", pg.UUID, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("event_types", pg.ARRAY(sa.Text)),  # NULL: every user-facing event
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("user_id", "webhook_id"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("delivery_id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("webhook_id", pg.UUID, nullable=False),
        sa.Column("event_id", pg.UUID, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("payload", pg.JSONB, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("last_status_code", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("delivered_at", TS),
        sa.PrimaryKeyConstraint("user_id", "delivery_id"),
        sa.UniqueConstraint("webhook_id", "event_id", name="webhook_deliveries_once"),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="webhook_deliveries_status_valid"),
    )
    op.create_index(
        "webhook_deliveries_due_idx",
        "webhook_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    # The transaction-history read model, fed by trade events (eventually consistent;
    # may live in its own database). One row per trade, the newest event wins.
    op.create_table(
        "trade_history",
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("trade_id", pg.UUID, nullable=False),
        sa.Column("symbol", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("filled_quantity", sa.BigInteger, nullable=False),
        sa.Column("trade", pg.JSONB, nullable=False),
        sa.Column("last_event_id", pg.UUID, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("projected_at", TS, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("user_id", "trade_id"),
    )


def downgrade() -> None:
    for table in ("trade_history", "webhook_deliveries", "webhooks", "processed_events"):
        op.drop_table(table)
