"""Configuration: one typed object, read once from the environment at start-up."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class SetupError(Exception):
    """An expected condition a command names in one line and exits 2 on, never with a
    traceback: no data directory, no database, a database not migrated or not reachable,
    a port in use. The message says what, where, and what to do."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TICKERDESK_", extra="ignore")

    database_url: str | None = None  # None: `tickerdesk up` starts an embedded PostgreSQL
    data_dir: Path = Path(".tickerdesk")  # made absolute once, so every command looks in one place
    database_pool_size: int = 20
    # Group commit (adapters/postgres/group_commit.py): how many placement batches of one side a
    # process writes at once; a placement arriving while they are all in flight waits for the next.
    placement_batches_in_flight: int = Field(default=2, ge=1, le=64)

    jwt_secret: str | None = None  # HS256
    jwt_public_key: str | None = None  # RS256, PEM text or a path to a PEM file
    jwt_audience: str | None = None
    jwt_issuer: str | None = None

    price_walk_seconds: float = 1.0  # 0 turns the simulated random walk off
    price_walk_volatility: Decimal = Decimal("0.002")
    # One-minute bars of the price feed (what GET /stocks/{symbol}/bars reads) older than
    # this are pruned by the writer; 0 keeps every bar. The name of the days when every
    # tick was kept, TICKERDESK_PRICE_TICK_RETENTION_DAYS, is still read.
    price_bar_retention_days: int = Field(default=30, ge=0, validation_alias=AliasChoices(
        "price_bar_retention_days", "TICKERDESK_PRICE_BAR_RETENTION_DAYS", "TICKERDESK_PRICE_TICK_RETENTION_DAYS"))
    max_body_bytes: int = 16_384

    # Production topology (unset: in-process adapters, as `tickerdesk up` uses)
    redis_url: str | None = None  # e.g. redis://127.0.0.1:6379/0
    amqp_url: str | None = None  # e.g. amqp://guest:guest@127.0.0.1:5672/
    # High availability (README, "High availability"): the Redis primary through Sentinel
    # ("host:port,host:port"; redis_url then gives only the db and password), and every node
    # of a RabbitMQ cluster ("amqp://...,amqp://..."; tried in turn, amqp_url first if set).
    redis_sentinels: str = ""
    redis_master_name: str = "tickerdesk"
    amqp_urls: str = ""
    history_database_url: str | None = None  # unset: the main database
    # Where the transaction history lives (docs/history-store.md): PostgreSQL (the database
    # above), or one table <prefix>history of a DynamoDB-API store (AWS in the region, or
    # dynalite/Alternator at the endpoint; scripts/dynalite.sh starts dynalite).
    history_store: Literal["postgres", "dynamodb"] = "postgres"
    history_dynamodb_endpoint: str | None = None  # e.g. http://127.0.0.1:4567; unset: AWS's endpoint
    history_dynamodb_region: str = "us-east-1"
    history_dynamodb_table_prefix: str = "tickerdesk-"
    instance: str = "tickerdesk"  # prefixes broker names and Redis keys, so stacks can share servers
    consumer_shards: int = 4  # queues per order-sensitive consumer; every process of a stack must agree

    cache_ttl_seconds: int = 30
    # Token buckets per user: "<rate per second>/<burst>"; route groups: place, cancel, read, admin
    rate_limit_place: str = "50/100"
    rate_limit_cancel: str = "50/100"
    rate_limit_read: str = "200/400"
    rate_limit_admin: str = "1000/2000"
    # Per client address: the public routes (/stocks), and failed authentications (401s), after
    # which the address is refused with 429 until the bucket refills (brute force, and the cost
    # of checking signatures). Shared NATs make these per-address budgets deliberately generous.
    rate_limit_public: str = "50/100"
    rate_limit_auth_failures: str = "0.2/20"
    heartbeat_seconds: float = 15.0
    webhook_max_attempts: int = 8
    webhook_timeout_seconds: float = 5.0
    # Hosts webhooks may reach although they are not public addresses (e.g. "127.0.0.1,localhost"
    # for tests and local receivers); comma-separated. Empty: loopback, private, link-local and
    # metadata addresses are refused at registration and at delivery (app/outbound_policy.py).
    webhook_allowed_hosts: Annotated[list[str], NoDecode] = []

    # Notifications by email, Web Push and SMS (README, "Notifications").
    public_url: str = "http://127.0.0.1:8000"  # where people open the web app: the links in emails
    notification_secret: str | None = None  # signs unsubscribe links, keys code hashes; unset: kept in the data dir
    notification_max_attempts: int = Field(default=8, ge=1)
    notification_timeout_seconds: float = Field(default=10.0, gt=0)
    notification_group_seconds: float = Field(default=3.0, ge=0)  # fills of one order this close: one email or SMS
    smtp_host: str | None = None  # unset: emails are written to the log (development)
    smtp_port: int = 587
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"  # tls: implicit TLS (port 465)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "tickerdesk <notifications@localhost>"
    vapid_private_key: str | None = None  # PEM (P-256); unset: generated once and kept in the data dir
    vapid_subject: str = "mailto:notifications@localhost"  # a contact for push services' operators
    # Push endpoints come from browsers: like webhooks, public addresses only, except these hosts.
    push_allowed_hosts: Annotated[list[str], NoDecode] = []
    sms_provider: Literal["log", "twilio"] = "log"  # log: SMS are written to the log (development)
    sms_base_url: str = "https://api.twilio.com"  # any API with Twilio's message-create request
    sms_account_sid: str | None = None
    sms_auth_token: str | None = None
    sms_from: str | None = None  # the sending number, E.164

    metrics_port: int = 0  # relay, worker and venue-sim serve /metrics here when set

    # POST /dev/sign-in issues a (non-admin) token for any user id the web app's visitor names:
    # `tickerdesk up` turns it on; a production `api` replica leaves it off (and serves no such route).
    dev_login: bool = False

    log_level: str = "info"
    log_json: bool = True  # `tickerdesk up` writes console text for a person unless this is set
    access_log: bool = True  # a line per request: method, path, status, ms, user, request id

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        """Messages and `up`'s banner then name a directory that means the same from anywhere."""
        return value.expanduser().resolve()

    @field_validator("webhook_allowed_hosts", "push_allowed_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [host.strip() for host in value.split(",") if host.strip()]
        return value

    @property
    def secret_file(self) -> Path:
        return self.data_dir / "jwt-secret"


def not_set_up(settings: Settings, missing: str, alternative: str) -> SetupError:
    """Nothing `up` would have made is in the data directory: say where we looked and how
    to look elsewhere, instead of making a fresh (and useless) one there."""
    return SetupError(
        f"no {missing} in {settings.data_dir}: run this where you ran `tickerdesk up`, or pass "
        f"--data-dir DIR (or set TICKERDESK_DATA_DIR) to the directory it used, or set {alternative}")


def with_jwt_secret(settings: Settings, *, create: bool = True) -> Settings:
    """The configured HS256 secret, else the one kept in the data directory (made once,
    readable by its owner only), so `tickerdesk up` and `tickerdesk token` agree.
    Without `create` (a command that issues tokens for a running `up`), a missing secret
    is a SetupError: a new one would sign tokens that server refuses."""
    if settings.jwt_secret or settings.jwt_public_key:
        return settings
    path = settings.secret_file
    if not path.exists():
        if not create:
            raise not_set_up(settings, "JWT secret", "TICKERDESK_JWT_SECRET")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return settings.model_copy(update={"jwt_secret": path.read_text().strip()})


def _kept(path: Path, make: Callable[[], str]) -> str:
    """The text in `path`, made once (readable by its owner only). Processes that start
    together (api replicas, workers) agree: the first link wins, the others read it."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        draft.write_text(make())
        draft.chmod(0o600)
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
        draft.unlink()
    return path.read_text().strip()


def new_vapid_key() -> str:
    """A P-256 private key in PEM (PKCS#8): a VAPID key pair."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def with_notification_keys(settings: Settings, *, keep: bool = True) -> Settings:
    """The configured notification secret and VAPID key, else the ones kept in the data
    directory (made once, like the JWT secret), so every process of one data directory
    signs and verifies alike. Without `keep`, missing ones are made for this process only."""
    update: dict[str, str] = {}
    if not settings.notification_secret:
        make = lambda: secrets.token_urlsafe(48)  # noqa: E731
        update["notification_secret"] = _kept(settings.data_dir / "notification-secret", make) if keep else make()
    if not settings.vapid_private_key:
        update["vapid_private_key"] = _kept(settings.data_dir / "vapid-private-key.pem", new_vapid_key) if keep \
            else new_vapid_key()
    return settings.model_copy(update=update) if update else settings
