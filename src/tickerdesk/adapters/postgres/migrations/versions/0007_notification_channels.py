"""Notifications by email, Web Push and SMS: preferences, contacts, push subscriptions
and deliveries, each led by `user_id` like every table of a user.

- `notification_preferences`: a row once a user changes anything (until then, the
  defaults of `domain/notifications.py`); `channels` maps event types to channel lists.
- `notification_contacts`: one email address and one phone number per user, with the
  HMAC of a pending verification code, its expiry and attempts.
- `push_subscriptions`: browsers' PushSubscriptions, one per endpoint.
- `notification_deliveries`: one row per (event, channel, target), unique, so a
  redelivered event adds nothing; attempts, back-off (`next_attempt_at`), a sender's
  lease (`leased_until`) and a final state, as webhook deliveries have. `sent_with`
  names the delivery whose message carried a grouped one.

Revision ID: 0007
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notification_preferences",
        sa.Column("user_id", sa.Text, primary_key=True),
        sa.Column("channels", pg.JSONB, nullable=False),
        sa.Column("quiet_hours", pg.JSONB),  # {"start": "22:00", "end": "07:00", "timeZone": "Europe/Paris"}
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "notification_contacts",
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("verified_at", TS),
        sa.Column("code_hash", sa.Text),
        sa.Column("code_expires_at", TS),
        sa.Column("code_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("code_sent_at", TS),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("user_id", "kind"),
        sa.CheckConstraint("kind IN ('email', 'phone')", name="notification_contacts_kind_valid"),
    )
    op.create_table(
        "push_subscriptions",
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("subscription_id", pg.UUID, nullable=False),
        sa.Column("endpoint", sa.Text, nullable=False),
        sa.Column("p256dh", sa.Text, nullable=False),
        sa.Column("auth", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("user_id", "subscription_id"),
        sa.UniqueConstraint("user_id", "endpoint", name="push_subscriptions_endpoint_once"),
    )
    op.create_table(
        "notification_deliveries",
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("delivery_id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("event_id", pg.UUID, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),  # a push subscription id; '' for email and SMS
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("group_key", sa.Text),
        sa.Column("payload", pg.JSONB, nullable=False),  # the event's envelope
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("leased_until", TS),
        sa.Column("last_error", sa.Text),
        sa.Column("sent_with", sa.BigInteger),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("delivered_at", TS),
        sa.PrimaryKeyConstraint("user_id", "delivery_id"),
        sa.UniqueConstraint("user_id", "event_id", "channel", "target", name="notification_deliveries_once"),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="notification_deliveries_status_valid"),
        sa.CheckConstraint("channel IN ('email', 'push', 'sms')", name="notification_deliveries_channel_valid"),
    )
    # What the senders scan: the pending deliveries of a channel by due time.
    op.create_index("notification_deliveries_due", "notification_deliveries", ["channel", "next_attempt_at"],
                    postgresql_where=sa.text("status = 'pending'"))
    # Grouping: the pending deliveries of one order's fills.
    op.create_index("notification_deliveries_group", "notification_deliveries", ["user_id", "channel", "group_key"],
                    postgresql_where=sa.text("status = 'pending' AND group_key IS NOT NULL"))


def downgrade() -> None:
    op.drop_table("notification_deliveries")
    op.drop_table("push_subscriptions")
    op.drop_table("notification_contacts")
    op.drop_table("notification_preferences")
