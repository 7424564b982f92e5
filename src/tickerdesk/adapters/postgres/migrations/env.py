"""Alembic environment: runs migrations over asyncpg with the URL the caller sets."""

import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()


async def _main(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


asyncio.run(_main(context.config.get_main_option("sqlalchemy.url")))
