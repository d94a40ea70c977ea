"""What the queries need from an engine: a transaction to run statements in, reads and writes.

Queries are written once, with ``?`` placeholders and SQL both engines speak (``ON CONFLICT``,
``RETURNING``); each engine module (``sqlite``, ``postgres``) runs them its own way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
Row = Sequence[Any]


class Tx(Protocol):
    """Statements inside one read, or inside one write's transaction."""

    async def execute(self, sql: str, *args: object) -> int:
        """Run a statement; the number of rows it changed."""
        ...

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        """Run a statement; every row it returned."""
        ...


class Engine(Protocol):
    commits: int  # transactions written: fewer than writes when an engine batches them

    async def read(self, query: Callable[[Tx], Awaitable[T]]) -> T:
        """Run ``query`` against committed data."""
        ...

    async def write(self, statement: Callable[[Tx], Awaitable[T]]) -> T:
        """Run ``statement`` atomically; its result once it committed. A failing write changes nothing.

        ``statement`` must depend on the database and its own arguments only: an engine may run it
        more than once (a batch run again without a failing write, a lost connection), and only
        the run that commits counts.
        """
        ...
