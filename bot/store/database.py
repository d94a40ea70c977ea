"""One SQLite connection on one thread, with group commit. Knows no table.

Every call that touches the file runs on the connection's own thread, so the event loop never
blocks on disk. Reads are a single hop each. Writes are queued: whatever queued while the
previous batch was on disk goes to the thread as one transaction, each write inside its own
savepoint, so a write that fails (a constraint, say) is undone alone while the others commit.
A burst of a thousand finishing flows thus costs a handful of commits and thread hops instead of
a thousand transactions that each wait their turn through a lock.

A write's future resolves only after its transaction committed. A caller cancelled while
waiting does not take the write back: it may still commit (the outbox design expects that).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
Statement = Callable[[sqlite3.Connection], Any]


class Database:
    def __init__(self, connection: sqlite3.Connection, thread: ThreadPoolExecutor) -> None:
        self._connection = connection
        self._thread = thread
        self._queued: list[tuple[Statement, asyncio.Future[Any]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.commits = 0  # transactions written: fewer than writes when writes were batched

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path | str, setup: Callable[[sqlite3.Connection], None]) -> AsyncIterator[Database]:
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        loop = asyncio.get_running_loop()
        try:
            connection = await loop.run_in_executor(thread, _connect, str(path), setup)
            database = cls(connection, thread)
            try:
                yield database
            finally:
                await database._drain()
                await loop.run_in_executor(thread, connection.close)
        finally:
            thread.shutdown(wait=True)

    async def read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, query, self._connection)

    async def write(self, statement: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``statement`` inside a transaction shared with the other writes queued meanwhile."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queued.append((statement, future))
        if self._writer is None:
            self._writer = loop.create_task(self._write_queued(), name="sqlite-writer")
        return await future

    async def _write_queued(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queued:
                batch, self._queued = self._queued, []
                try:
                    outcomes = await loop.run_in_executor(
                        self._thread, _commit, self._connection, [statement for statement, _ in batch]
                    )
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
            self._writer = None

    async def _drain(self) -> None:
        """Let queued writes reach the disk before the connection closes."""
        while self._writer is not None:
            await asyncio.shield(self._writer)


def _connect(path: str, setup: Callable[[sqlite3.Connection], None]) -> sqlite3.Connection:
    # Autocommit mode: transactions are opened explicitly by _commit, nowhere else.
    connection = sqlite3.connect(path, isolation_level=None)
    setup(connection)
    return connection


def _commit(connection: sqlite3.Connection, statements: list[Statement]) -> list[tuple[bool, Any]]:
    outcomes: list[tuple[bool, Any]] = []
    connection.execute("BEGIN IMMEDIATE")
    try:
        for statement in statements:
            connection.execute("SAVEPOINT one_write")
            try:
                value = statement(connection)
            except Exception as exc:  # noqa: BLE001 - handed to its caller; only this write is undone
                connection.execute("ROLLBACK TO one_write")
                outcomes.append((False, exc))
            else:
                outcomes.append((True, value))
            connection.execute("RELEASE one_write")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return outcomes
