"""Configuration: one typed object, read once from the environment at start-up."""

from __future__ import annotations

import secrets
from decimal import Decimal
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TICKERDESK_", extra="ignore")

    database_url: str | None = None  # None: `tickerdesk up` starts an embedded PostgreSQL
    data_dir: Path = Path(".tickerdesk")
    database_pool_size: int = 20

    jwt_secret: str | None = None  # HS256
    jwt_public_key: str | None = None  # RS256, PEM text or a path to a PEM file
    jwt_audience: str | None = None
    jwt_issuer: str | None = None

    price_walk_seconds: float = 1.0  # 0 turns the simulated random walk off
    price_walk_volatility: Decimal = Decimal("0.002")
    max_body_bytes: int = 16_384

    # Production topology (unset: in-process adapters, as `tickerdesk up` uses)
    redis_url: str | None = None  # e.g. redis://127.0.0.1:6379/0
    amqp_url: str | None = None  # e.g. amqp://guest:guest@127.0.0.1:5672/
    history_database_url: str | None = None  # unset: the main database
    instance: str = "tickerdesk"  # prefixes broker names and Redis keys, so stacks can share servers
    consumer_shards: int = 4  # queues per order-sensitive consumer; every process of a stack must agree

    cache_ttl_seconds: int = 30
    # Token buckets per user: "<rate per second>/<burst>"; route groups: place, cancel, read, admin
    rate_limit_place: str = "50/100"
    rate_limit_cancel: str = "50/100"
    rate_limit_read: str = "200/400"
    rate_limit_admin: str = "1000/2000"
    heartbeat_seconds: float = 15.0
    webhook_max_attempts: int = 8
    webhook_timeout_seconds: float = 5.0

    metrics_port: int = 0  # relay, worker and venue-sim serve /metrics here when set

    log_level: str = "info"
    log_json: bool = True

    @property
    def secret_file(self) -> Path:
        return self.data_dir / "jwt-secret"


def with_jwt_secret(settings: Settings) -> Settings:
    """The configured HS256 secret, else the one kept in the data directory (made once,
    readable by its owner only), so `tickerdesk up` and `tickerdesk token` agree."""
    if settings.jwt_secret or settings.jwt_public_key:
        return settings
    path = settings.secret_file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return settings.model_copy(update={"jwt_secret": path.read_text().strip()})
