"""The bot's public address in tests, as the HTTPS ingress or tunnel in front of a deployed bot.

``PUBLIC_URL`` must be known before the bot starts, but the bot binds port 0 and its port is
known only once it serves: the ingress binds first, and passes every request on to ``target``
(set when the bot is up) unchanged, without following redirects or touching cookies.
"""

from __future__ import annotations

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from tests.fakes.served import Served

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade", "content-length"}


class Ingress(Served):
    def __init__(self) -> None:
        self.url = ""
        self.target: str | None = None  # where the bot serves, e.g. http://127.0.0.1:40123
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        # No cookie jar and no decompression: what the bot answers is what the browser gets.
        self._session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self.url = await self._serve(app)

    async def stop(self) -> None:
        await self._unserve()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _forward(self, request: web.Request) -> web.Response:
        if self.target is None or self._session is None:
            return web.Response(status=502, text="no bot behind the ingress")
        headers = CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP | {"host"})
        async with self._session.request(
            request.method,
            self.target + str(request.rel_url),
            headers=headers,
            data=await request.read() if request.can_read_body else None,
            allow_redirects=False,
        ) as answer:
            body = await answer.read()
            kept = CIMultiDict((k, v) for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP)
            return web.Response(status=answer.status, body=body, headers=kept)
