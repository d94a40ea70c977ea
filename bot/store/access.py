"""What the store's query groups share: a read and a write through the engine, and the clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.store.engine import Tx

T = TypeVar("T")


class Access:
    """Declared here, defined by ``Store``: each query group is a base class of it."""

    _clock: Callable[[], float]

    async def _read(self, query: Callable[[Tx], Awaitable[T]]) -> T:
        raise NotImplementedError

    async def _write(self, statement: Callable[[Tx], Awaitable[T]]) -> T:
        raise NotImplementedError
