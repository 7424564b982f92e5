"""Alembic environment: runs migrations over asyncpg with the URL the caller sets."""

import asyncio

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()


async def _main(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


_url = context.config.get_main_option("sqlalchemy.url")
if _url is None:
    raise RuntimeError("alembic: no sqlalchemy.url (the caller sets the database URL)")
asyncio.run(_main(_url))
