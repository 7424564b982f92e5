"""PostgreSQL connections, migrations and reference data.

Schema changes go through Alembic (SQLAlchemy types); queries go straight to
asyncpg, because placement is one hand-written statement and every layer between
it and the wire costs CPU on the hot path.

A failover cluster (README, "High availability") is reached with a multi-host URL and
`target_session_attrs=read-write`: asyncpg tries each host and keeps the primary. A
pooled connection that dies with its primary is replaced on the next acquire, by a
connection to whichever host is primary then.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import quote

import asyncpg

from tickerdesk.adapters.postgres.seed import seed_rows
from tickerdesk.codec import dumps, loads

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=dumps, decoder=loads, schema="pg_catalog")


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def sqlalchemy_url(url: str) -> str:
    """For Alembic. A multi-host URL (`user@h1:p1,h2:p2/db`, what a failover cluster is
    given) becomes SQLAlchemy's form of it, `user@/db?host=h1:p1&host=h2:p2`."""
    rest = url.split("://", 1)[1]
    authority, _, tail = rest.partition("/")
    userinfo, at, hosts = authority.rpartition("@")
    if "," not in hosts:
        return "postgresql+asyncpg://" + rest
    path, _, query = tail.partition("?")
    params = "&".join(f"host={quote(h.strip(), safe=':[]')}" for h in hosts.split(",") if h.strip())
    return f"postgresql+asyncpg://{userinfo}{at}/{path}?{params}" + (f"&{query}" if query else "")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """No reset on release: asyncpg's default (UNLISTEN, RESET ALL, ...) is one more
    round trip per statement, and tickerdesk sets no session state (its advisory locks
    are transaction-scoped; the relay's listening connection is never released)."""


# The database did not answer (a failover, a restart, no free connection), as opposed to
# refusing a statement: what passes when the outage does.
UNREACHABLE: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError, asyncpg.AdminShutdownError, asyncpg.ReadOnlySQLTransactionError)


async def create_pool(url: str, size: int = 20) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        asyncpg_dsn(url), min_size=min(2, size), max_size=size, init=_init_connection, reset=_keep_session
    )


def _upgrade(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(ALEMBIC_INI))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    command.upgrade(config, "head")


async def migrate(url: str) -> None:
    """Bring the schema to the newest revision (Alembic runs its own event loop)."""
    await asyncio.to_thread(_upgrade, url)


async def seed_instruments(pool: asyncpg.Pool) -> None:
    """Insert the shipped instruments; existing ones (and their prices) stay as they are."""
    rows = seed_rows()
    await pool.execute(
        """
        INSERT INTO instruments (symbol, name, reference_price, last_price)
        SELECT s, n, p, p FROM unnest($1::text[], $2::text[], $3::numeric[]) AS t(s, n, p)
        ON CONFLICT (symbol) DO NOTHING
        """,
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
    )
