"""bot.arcade_client.new_client: what goes on the wire is arcadepy's own headers, each exactly once."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web
from arcadepy import AsyncArcade

from bot.arcade_client import new_client

STATUS = {"id": "ac_1", "status": "pending", "url": "https://auth.example/ac_1"}


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[str, list[tuple[str, list[tuple[str, str]]]]]]:
    seen: list[tuple[str, list[tuple[str, str]]]] = []

    async def record(request: web.Request) -> web.Response:
        await request.read()
        headers = [(k.decode().lower(), v.decode()) for k, v in request.raw_headers]
        seen.append((request.method, headers))
        return web.json_response(STATUS)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
    finally:
        await runner.cleanup()


async def _calls(client: AsyncArcade) -> None:
    async with client:
        await client.auth.status(id="ac_1", wait=1)
        await client.auth.authorize(user_id="u1", auth_requirement={"provider_id": "google"})


async def test_shared_headers_reach_arcade_once_and_as_arcadepy_sends_them(
    recorder: tuple[str, list[tuple[str, list[tuple[str, str]]]]],
) -> None:
    url, seen = recorder
    plain = AsyncArcade(api_key="key-123", base_url=url, max_retries=0, timeout=httpx.Timeout(5.0))
    await _calls(plain)
    tls = httpx.create_ssl_context()
    ours = new_client(
        api_key="key-123", base_url=url, max_retries=0, timeout=httpx.Timeout(5.0), connections=10, tls=tls
    )
    await _calls(ours)
    assert [method for method, _ in seen] == ["GET", "POST", "GET", "POST"]
    for (_, sdk), (_, bot) in zip(seen[:2], seen[2:], strict=True):
        assert all(n == 1 for n in Counter(name for name, _ in bot).values()), bot  # nothing twice
        assert dict(bot) == dict(sdk)  # the same names and values as arcadepy on its own
        assert "key-123" in dict(bot)["authorization"]  # the key, per request
