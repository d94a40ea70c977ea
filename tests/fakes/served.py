"""``async with`` for anything the tests start and stop: the fakes and the bot process; and the
fakes' own web server on loopback."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from aiohttp import web


class Served:
    _runner: web.AppRunner | None = None

    async def _serve(self, app: web.Application, **options: Any) -> str:
        """Serve ``app`` on 127.0.0.1, on a free port; returns its origin, ``http://127.0.0.1:PORT``."""
        self._runner = web.AppRunner(app, **({"access_log": None, "shutdown_timeout": 1.0} | options))
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def _unserve(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
