"""The SQLite engine on aiosqlite: one writer connection with group commit, one reader. Knows no table.

The file is in WAL mode, so the reader never waits for the writer, and as a connection of its
own it only ever sees committed transactions. Writes are queued: whatever queued while the
previous batch was on disk goes to the writer as one transaction. A burst of a thousand
finishing flows thus costs a handful of commits instead of a thousand transactions that each
wait their turn through a lock.

One failing write (a constraint, say) is undone alone: the batch's transaction is rolled back
and the other writes run again without it, in a new one. That is what a savepoint per write
would give, without its price: aiosqlite makes every statement a round trip to its thread,
and two more per write (SAVEPOINT, RELEASE) cost a third of the store's CPU in a burst, while
writes that fail are rare (the queries resolve conflicts with ``ON CONFLICT``). A write is
therefore a function of the database alone, which may run more than once; only the run that
commits counts. An error of the database itself (locked, full, I/O) fails the whole batch.

A write's future resolves only after its transaction committed. A caller cancelled while
waiting does not take the write back: it may still commit (the outbox design expects that).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from bot.store.engine import Row, Tx
from bot.store.schema import MIGRATIONS, sqlite_statements

T = TypeVar("T")
WAL_SWITCH_TRIES = 100  # 50 ms apart: 5 s, like the busy timeout
Statement = Callable[[Tx], Awaitable[Any]]


class _SqliteTx:
    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection

    async def execute(self, sql: str, *args: object) -> int:
        cursor = await self._connection.execute(sql, args)
        return int(cursor.rowcount)

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        return list(await self._connection.execute_fetchall(sql, args))


class SqliteDatabase:
    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self._writer = writer
        self._write_tx = _SqliteTx(writer)
        self._read_tx = _SqliteTx(reader)
        self._queued: list[tuple[Statement, asyncio.Future[Any]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self.commits = 0  # transactions written: fewer than writes when writes were batched

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path) -> AsyncIterator[SqliteDatabase]:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Owner-only from the first byte: the file holds who is connecting and where to answer.
        # SQLite gives the -wal and -shm files the mode of the database file.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        os.chmod(path, 0o600)
        async with AsyncExitStack() as stack:
            # Autocommit mode: transactions are opened explicitly by _commit, nowhere else.
            writer = await stack.enter_async_context(aiosqlite.connect(path, isolation_level=None))
            await _prepare(writer)
            reader = await stack.enter_async_context(aiosqlite.connect(path, isolation_level=None))
            await reader.execute("PRAGMA busy_timeout=5000")
            database = cls(writer, reader)
            try:
                yield database
            finally:
                await database._drain()

    async def read(self, query: Callable[[Tx], Awaitable[T]]) -> T:
        return await query(self._read_tx)

    async def write(self, statement: Callable[[Tx], Awaitable[T]]) -> T:
        """Run ``statement`` inside a transaction shared with the other writes queued meanwhile."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queued.append((statement, future))
        if self._flushing is None:
            self._flushing = loop.create_task(self._write_queued(), name="sqlite-writer")
        return await future

    async def _write_queued(self) -> None:
        try:
            while self._queued:
                batch, self._queued = self._queued, []
                try:
                    outcomes = await self._commit([statement for statement, _ in batch])
                except Exception as exc:  # noqa: BLE001 - handed to every caller: nothing of the batch committed
                    outcomes = [(False, exc)] * len(batch)
                else:
                    self.commits += 1
                for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                    if future.done():  # its caller was cancelled
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
        finally:
            self._flushing = None

    async def _commit(self, statements: list[Statement]) -> list[tuple[bool, Any]]:
        """One transaction for the batch; a write that fails is left out and the others run again."""
        writer, tx = self._writer, self._write_tx
        failed: dict[int, Exception] = {}
        while True:
            values: dict[int, Any] = {}
            await writer.execute("BEGIN IMMEDIATE")
            try:
                for index, statement in enumerate(statements):
                    if index in failed:
                        continue
                    try:
                        values[index] = await statement(tx)
                    except Exception as exc:
                        if _the_databases(exc):
                            raise  # locked, full, I/O: the batch fails as a whole
                        failed[index] = exc  # the write's own (a constraint, a bug): undone, handed to its caller
                        break
                else:
                    await writer.execute("COMMIT")
                    return [(False, failed[i]) if i in failed else (True, values[i]) for i in range(len(statements))]
                await writer.execute("ROLLBACK")
            except BaseException:
                if writer.in_transaction:
                    await writer.execute("ROLLBACK")
                raise

    async def _drain(self) -> None:
        """Let queued writes reach the disk before the connections close."""
        while self._flushing is not None:
            await asyncio.shield(self._flushing)


_DATABASE_FAULTS = frozenset(
    (
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_INTERRUPT,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_NOTADB,
    )
)


def _the_databases(exc: Exception) -> bool:
    """An error of the database itself, which every write would meet, rather than of one write."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.Error) and code is not None and code & 0xFF in _DATABASE_FAULTS


async def _into_wal(connection: aiosqlite.Connection) -> None:
    """WAL mode. Switching a new file into it needs the file to itself, and SQLite answers "locked"
    at once, without its busy handler, while another process starting with it holds a lock."""
    for _ in range(WAL_SWITCH_TRIES - 1):
        try:
            await connection.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            await asyncio.sleep(0.05)
        else:
            return
    await connection.execute("PRAGMA journal_mode=WAL")


async def _prepare(connection: aiosqlite.Connection) -> None:
    """Connection settings, then every schema step the file has not seen yet."""
    # Another process holding the write lock is waited out. Two workers writing bursts of finished
    # flows took turns for over 5 s at a time (bench, 5,000 approvals), which failed writes that a
    # lease tick then had to retry: the writer waits longer.
    await connection.execute("PRAGMA busy_timeout=30000")
    await _into_wal(connection)
    await connection.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a process crash loses no commit
    # The version is read inside the write lock, so processes starting together migrate once.
    await connection.execute("BEGIN IMMEDIATE")
    try:
        rows = await connection.execute_fetchall("PRAGMA user_version")
        version = int(next(iter(rows))[0])
        for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in sqlite_statements(step):
                await connection.execute(statement)
            await connection.execute(f"PRAGMA user_version = {number}")
        await connection.execute("COMMIT")
    except BaseException:
        await connection.execute("ROLLBACK")
        raise
