"""``DATABASE_URL`` to the engine it names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.store.engine import Engine
from bot.store.postgres import PostgresDatabase
from bot.store.sqlite import SqliteDatabase

SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")


@asynccontextmanager
async def open_engine(url: str | Path) -> AsyncIterator[Engine]:
    """``sqlite:///path`` (or a ``Path``): SQLite; ``postgresql://…``: PostgreSQL."""
    where = _where(url)
    if isinstance(where, str):
        async with PostgresDatabase.open(where) as postgres:
            yield postgres
    else:
        async with SqliteDatabase.open(where) as sqlite:
            yield sqlite


def _where(url: str | Path) -> str | Path:
    """A PostgreSQL URL as it is; anything else as the SQLite file it names."""
    if isinstance(url, Path) or url.startswith(POSTGRES_PREFIXES):
        return url
    return Path(url.removeprefix(SQLITE_PREFIX))
