"""The PostgreSQL engine on asyncpg: a small connection pool, one transaction per write. Knows no table.

PostgreSQL takes concurrent writers and batches the WAL flushes of concurrent commits itself,
so writes run side by side on the pool's connections instead of through one queue.

Migrations run under an advisory lock held by their transaction, so replicas starting together
apply each step once: the first takes the lock and migrates, the others wait, then find the
version current.

A lost connection (the server restarted, a network cut) is survived: a read is tried again, a
write too unless the connection went while it was committing (then nobody knows whether it
committed, and the caller is told). The pool opens fresh connections; attempts back off for up
to ``RECONNECT_SECONDS`` before the error reaches the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from bot.retry import backoff_delay
from bot.store.engine import Row, Tx
from bot.store.schema import MIGRATIONS, postgres_statements

T = TypeVar("T")
Connection = PoolConnectionProxy  # the stubs' generic; at run time a plain class
log = logging.getLogger(__name__)

MIGRATION_LOCK = 0x5AC6_3A11  # pg_advisory_xact_lock key: "this bot's schema"
RECONNECT_SECONDS = 15.0
POOL_SIZE = 10
LOST_CONNECTION = (
    OSError,  # refused, reset: the server is down or restarting
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08, and "connection does not exist"
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up
    asyncpg.InterfaceError,  # a connection the pool had already lost
)


class _PostgresTx:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def execute(self, sql: str, *args: object) -> int:
        status = await self._connection.execute(_numbered(sql), *args)
        count = status.rsplit(" ", 1)[-1]  # "INSERT 0 1", "DELETE 3", "UPDATE 0"
        return int(count) if count.isdigit() else 0

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        return [tuple(record) for record in await self._connection.fetch(_numbered(sql), *args)]


class _Ambiguous(Exception):
    """The connection went while a write was committing: not to be tried again."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class PostgresDatabase:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._calls = 0  # reads and writes under way; closing waits for them
        self._idle = asyncio.Event()
        self._idle.set()
        self.commits = 0

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str) -> AsyncIterator[PostgresDatabase]:
        # min_size=0: no floor to restore while the server is down (asyncpg would log a traceback each second)
        pool = await asyncpg.create_pool(url, min_size=0, max_size=POOL_SIZE, reset=_keep_session)
        try:
            async with pool.acquire() as connection:
                await _migrate(connection)
            database = cls(pool)
            try:
                yield database
            finally:
                await database._idle.wait()
        finally:
            await pool.close()

    async def read(self, query: Callable[[Tx], Awaitable[T]]) -> T:
        async def attempt() -> T:
            async with self._pool.acquire() as connection:
                return await query(_PostgresTx(connection))

        return await self._reconnecting(attempt)

    async def write(self, statement: Callable[[Tx], Awaitable[T]]) -> T:
        async def attempt() -> T:
            async with self._pool.acquire() as connection:
                transaction = connection.transaction()
                await transaction.start()
                try:
                    value = await statement(_PostgresTx(connection))
                except BaseException:
                    if not connection.is_closed():
                        with contextlib.suppress(*LOST_CONNECTION):  # the error to report is the write's
                            await transaction.rollback()
                    raise
                try:
                    await transaction.commit()
                except LOST_CONNECTION as exc:
                    raise _Ambiguous(exc) from exc
                self.commits += 1
                return value

        try:
            return await self._reconnecting(attempt)
        except _Ambiguous as ambiguous:
            raise ambiguous.error from None

    async def _reconnecting(self, attempt: Callable[[], Awaitable[T]]) -> T:
        self._calls += 1
        self._idle.clear()
        try:
            give_up = time.monotonic() + RECONNECT_SECONDS
            tries = 0
            while True:
                try:
                    return await attempt()
                except LOST_CONNECTION as exc:
                    delay = backoff_delay(tries, base=0.1, cap=2.0)
                    if time.monotonic() + delay > give_up:
                        raise
                    log.warning("store.reconnecting attempt=%d error=%s", tries + 1, type(exc).__name__)
                    tries += 1
                    await asyncio.sleep(delay)
        finally:
            self._calls -= 1
            if not self._calls:
                self._idle.set()


async def _keep_session(connection: asyncpg.Connection) -> None:
    """What the pool runs when a connection comes back, after rolling back a transaction left open:
    nothing more. Its default (unlisten, reset every setting, release session locks: one more round
    trip per read and per write) undoes what the store never does."""


async def _migrate(connection: Connection) -> None:
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        version = await connection.fetchval("SELECT version FROM schema_version")
        if version is None:
            version = 0
            await connection.execute("INSERT INTO schema_version (version) VALUES (0)")
        for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in postgres_statements(step):
                await connection.execute(statement)
            await connection.execute("UPDATE schema_version SET version = $1", number)


@functools.cache
def _numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, …`` (the queries hold no ``?`` inside a literal)."""
    numbers = iter(range(1, sql.count("?") + 1))
    return re.sub(r"\?", lambda _: f"${next(numbers)}", sql)
