"""The bot's database for a run: a SQLite file in a temp dir, or a fresh PostgreSQL database.

PostgreSQL runs need a server (``--postgres-url``, default ``TEST_DATABASE_URL``): the bench
creates a database of its own on it for the run and drops it afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

ENGINES = ("sqlite", "postgresql")
SERVER_ENV = "TEST_DATABASE_URL"
OWNERS = "SELECT owner, count(*) FROM pending GROUP BY owner"


def default_server() -> str:
    return os.environ.get(SERVER_ENV, "")


async def _admin(server: str, statement: str) -> None:
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@asynccontextmanager
async def database(engine: str, directory: Path, server: str) -> AsyncIterator[str]:
    """The ``DATABASE_URL`` of an empty database on ``engine`` for one run."""
    if engine == "sqlite":
        yield f"sqlite:///{directory / 'bot.db'}"
        return
    if not server:
        raise RuntimeError(f"PostgreSQL runs need a server: --postgres-url or {SERVER_ENV}")
    name = f"bench_{uuid.uuid4().hex[:16]}"
    await _admin(server, f'CREATE DATABASE "{name}"')
    try:
        yield urlsplit(server)._replace(path=f"/{name}").geturl()
    finally:
        await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def owners(url: str) -> dict[str, int]:
    """Pending authorizations per lease owner: which replica waits on how many."""
    if url.startswith("sqlite:"):
        path = url.removeprefix("sqlite:///")

        def read() -> dict[str, int]:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
                return {str(owner): int(n) for owner, n in conn.execute(OWNERS)}

        return await asyncio.to_thread(read)
    conn = await asyncpg.connect(url)
    try:
        return {str(row[0]): int(row[1]) for row in await conn.fetch(OWNERS)}
    finally:
        await conn.close()
