"""The bot's web server: ``/healthz`` in both modes; the verifier and HTTP mode add their routes.

It listens on a public port, so a connection may not hold it for free:

* keep-alive is 75 s (aiohttp's default is about an hour), and a connection that sends nothing is
  closed after that too;
* a new connection must finish its request head within ``HEAD_SECONDS`` (``GuardedSite``), and a
  request body must arrive within ``BODY_SECONDS`` (``read_body``);
* one client address holds at most ``CONNECTIONS_PER_ADDRESS`` connections at once (behind a
  reverse proxy every client has the proxy's address: let the proxy limit instead);
* bodies are capped at ``MAX_BODY``: Slack's payloads are far smaller.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

MAX_BODY = 256 * 1024
KEEPALIVE_SECONDS = 75.0
HEAD_SECONDS = 10.0
BODY_SECONDS = 10.0
CONNECTIONS_PER_ADDRESS = 256
RUNNER_OPTIONS: dict[str, Any] = {"access_log": None, "keepalive_timeout": KEEPALIVE_SECONDS}

Health = Callable[[], Awaitable[dict[str, bool]]]


class BodyTooSlow(Exception):
    """The request body did not arrive within ``BODY_SECONDS``."""


def build_web_app(health: Health) -> web.Application:
    """``GET /healthz`` answers 200 when every check in ``health`` passes, else 503, with each check named."""
    app = web.Application(client_max_size=MAX_BODY)

    async def healthz(_: web.Request) -> web.Response:
        checks = await health()
        ok = all(checks.values())
        return web.json_response({"ok": ok, **checks}, status=200 if ok else 503)

    app.router.add_get("/healthz", healthz)
    return app


async def read_body(request: web.Request) -> bytes:
    """The whole body, within ``BODY_SECONDS`` (``BodyTooSlow``) and ``MAX_BODY`` (aiohttp's 413)."""
    try:
        async with asyncio.timeout(BODY_SECONDS):
            return await request.read()
    except TimeoutError:
        raise BodyTooSlow from None


class GuardedSite(web.BaseSite):
    """A TCP site whose connections are counted per client address and must send a request head in time."""

    __slots__ = ("_addresses", "_host", "_port", "_reuse_port")

    def __init__(
        self, runner: web.BaseRunner, host: str, port: int, *, backlog: int = 1024, reuse_port: bool = False
    ) -> None:
        super().__init__(runner, backlog=backlog)
        self._host, self._port, self._reuse_port = host, port, reuse_port
        self._addresses = _Addresses(CONNECTIONS_PER_ADDRESS)

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        if server is None:
            raise RuntimeError("call runner.setup() first")
        loop = asyncio.get_running_loop()
        addresses = self._addresses
        self._server = await loop.create_server(
            lambda: _Watched(server(), addresses, loop),
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=True,
            reuse_port=self._reuse_port,  # WORKERS=N: the workers share the port
        )


class _Addresses:
    """Open connections per client address."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._open: dict[str, int] = {}

    def admit(self, address: str) -> bool:
        count = self._open.get(address, 0)
        if count >= self._limit:
            return False
        self._open[address] = count + 1
        return True

    def release(self, address: str) -> None:
        count = self._open.pop(address, 0) - 1
        if count > 0:
            self._open[address] = count


class _Watched(asyncio.Protocol):
    """aiohttp's protocol for one connection, behind the address count and the request-head deadline."""

    def __init__(self, inner: asyncio.Protocol, addresses: _Addresses, loop: asyncio.AbstractEventLoop) -> None:
        self._inner = inner
        self._addresses = addresses
        self._loop = loop
        self._address: str | None = None  # set once admitted
        self._transport: asyncio.BaseTransport | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._tail = b""  # the last bytes seen, to find the blank line that ends the head across reads

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        if not self._addresses.admit(address):
            log.debug("web.refused reason=connections_per_address address=%s", address)
            if isinstance(transport, asyncio.Transport):
                transport.abort()
            return
        self._address, self._transport = address, transport
        self._deadline = self._loop.call_later(HEAD_SECONDS, self._too_slow)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._address is None:
            return
        if self._deadline is not None:
            seen = self._tail + data
            if b"\r\n\r\n" in seen:
                self._deadline.cancel()
                self._deadline = None
            self._tail = seen[-3:]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._address is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._address is None:
            return
        if self._deadline is not None:
            self._deadline.cancel()
        self._addresses.release(self._address)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def _too_slow(self) -> None:
        self._deadline = None
        log.debug("web.closed reason=slow_request_head address=%s", self._address)
        if isinstance(self._transport, asyncio.Transport):
            self._transport.abort()
