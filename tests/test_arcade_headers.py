"""bot.arcade_client.new_client: what goes on the wire is arcadepy's own headers, each exactly once."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web
from arcadepy import AsyncArcade

from bot.arcade_client import new_client
from bot.arcade_http import ArcadeHTTP

STATUS = {"id": "ac_1", "status": "pending", "url": "https://auth.example/ac_1"}


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[str, list[tuple[str, list[tuple[str, str]]]]]]:
    seen: list[tuple[str, list[tuple[str, str]]]] = []

    async def record(request: web.Request) -> web.Response:
        body = await request.read()
        headers = [(k.decode().lower(), v.decode()) for k, v in request.raw_headers]
        headers += [("(target)", request.path_qs), ("(body)", json.dumps(json.loads(body or b"null"), sort_keys=True))]
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


async def test_the_hot_calls_go_out_as_arcadepy_sends_them(
    recorder: tuple[str, list[tuple[str, list[tuple[str, str]]]]],
) -> None:
    """authorize and the long-poll skip arcadepy's layers, not its wire format: the same method,
    path, query, headers and JSON body."""
    url, seen = recorder
    requirement = {"provider_id": "google", "oauth2": {"scopes": ["s1"]}}
    timeout = httpx.Timeout(74.0, connect=5.0)
    async with AsyncArcade(api_key="key-123", base_url=url, max_retries=0, timeout=timeout) as plain:
        await plain.auth.status(id="ac_1", wait=7)
        await plain.auth.authorize(user_id="u1", auth_requirement=requirement)  # type: ignore[arg-type]
    tls = httpx.create_ssl_context()
    async with ArcadeHTTP(api_key="key-123", base_url=url, connections=2, read_timeout=74.0, tls=tls) as ours:
        polled = await ours.get("/v1/auth/status", {"id": "ac_1", "wait": "7"})
        authorized = await ours.post("/v1/auth/authorize", {"user_id": "u1", "auth_requirement": requirement})
    assert (polled.status, polled.body) == (authorized.status, authorized.body) == (200, STATUS)
    assert [method for method, _ in seen] == ["GET", "POST", "GET", "POST"]
    for (_, sdk), (_, bot) in zip(seen[:2], seen[2:], strict=True):
        assert all(n == 1 for n in Counter(name for name, _ in bot).values()), bot  # nothing twice
        assert dict(bot) == dict(sdk)  # path, query, body and every header, names and values
        assert dict(bot)["authorization"] == "key-123"
