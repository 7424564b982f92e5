"""Funding references name one instruction across all users.

`funding_instructions` records each referenced deposit or withdrawal (user, kind,
amount) under its reference, the primary key: the funding statement inserts it with
the account change and the journal row, so a reference taken by any instruction, for
any user, fails the whole statement, and the use case compares the recorded
instruction with the new one (the same: a retry; another: a conflict). It replaces
the journal's per-user uniqueness. It is keyed by reference, not by user, because the
rail's reference is global: the one table not led by `user_id`, small and written
only by funding.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "funding_instructions",
        sa.Column("reference", sa.Text, primary_key=True),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("amount", sa.Numeric(20, 4), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('deposit', 'withdrawal')", name="funding_instructions_kind_valid"),
        sa.CheckConstraint("amount > 0", name="funding_instructions_amount_positive"),
    )
    # Existing references: the first use of each wins, as it would have under this rule.
    op.execute(
        """INSERT INTO funding_instructions (reference, user_id, kind, amount, created_at)
           SELECT reference, user_id, kind, amount, created_at FROM ledger
           WHERE reference IS NOT NULL ORDER BY entry_id
           ON CONFLICT (reference) DO NOTHING"""
    )
    op.drop_constraint("ledger_reference_key", "ledger", type_="unique")


def downgrade() -> None:
    op.create_unique_constraint("ledger_reference_key", "ledger", ["user_id", "reference"])
    op.drop_table("funding_instructions")
