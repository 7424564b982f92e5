"""The price feed's history: every price change as a tick, for charts.

`price_ticks` is written by the statement that saves last prices (one writer, no extra
round trip) and read in (symbol, at) ranges by the bars query, so its primary key is
(symbol, at): the range scan is the index itself. Two changes of one symbol stamped
with the same microsecond are one tick, the later one. Old ticks are pruned by the
writer, a bounded batch at a time, through the same key (see adapters/postgres/reads.py).
No foreign key to instruments: the writer only inserts symbols its UPDATE of
instruments matched, and a check per tick would be a lookup on the feed's hot path.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "price_ticks",
        sa.Column("symbol", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("price", sa.Numeric(20, 4), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "at"),
        sa.CheckConstraint("price > 0", name="price_ticks_price_positive"),
    )


def downgrade() -> None:
    op.drop_table("price_ticks")
