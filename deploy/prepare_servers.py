"""Before deploy/topology.sh starts the stack: Redis and RabbitMQ answer, and the database exists.

A missing server is reported here in one clear line rather than as a traceback in some
process's log. Reads TICKERDESK_DATABASE_URL, TICKERDESK_REDIS_URL and TICKERDESK_AMQP_URL;
run it with the interpreter tickerdesk is installed in (it has asyncpg).
"""

import asyncio
import os
import socket
import sys
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg


def reachable(label: str, url: str, default_port: int) -> None:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=3).close()
    except OSError as error:
        sys.exit(f"topology: error: {label} at {parts.hostname}:{parts.port or default_port} is not reachable: {error}")


async def create_database(url: str) -> None:
    parts = urlsplit(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    name = unquote(parts.path.lstrip("/"))
    if not name:
        sys.exit("topology: error: TICKERDESK_DATABASE_URL names no database")
    # Connect to the server's maintenance database to look for (and create) ours.
    server = urlunsplit(parts._replace(path="/postgres"))
    try:
        conn = await asyncpg.connect(server, timeout=5)
    except Exception as error:
        sys.exit(f"topology: error: cannot connect to PostgreSQL ({server}): {error}")
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            try:
                await conn.execute('CREATE DATABASE "{}"'.format(name.replace('"', '""')))
                print(f"topology: created database {name}")
            except asyncpg.DuplicateDatabaseError:
                pass  # someone else made it in the meantime: just as good
    finally:
        await conn.close()


reachable("Redis", os.environ["TICKERDESK_REDIS_URL"], 6379)
reachable("RabbitMQ", os.environ["TICKERDESK_AMQP_URL"], 5672)
asyncio.run(create_database(os.environ["TICKERDESK_DATABASE_URL"]))
