"""/healthz tells a load balancer something real: the store answers and, in Socket Mode, Slack's
connection is up; a failing check answers 503 and names itself."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.server import build_web_app
from tests.world import World


async def _health(port: int) -> tuple[int, dict[str, bool]]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_healthz_reports_the_store_and_the_slack_connection(world: World, mode: str) -> None:
    bot = await world.start_bot(mode)
    status, body = await _health(bot.ready.result())
    assert status == 200
    expected = {"ok": True, "store": True, **({"slack_socket": True} if mode == "socket" else {})}
    assert body == expected


@pytest.mark.parametrize(
    ("checks", "status"),
    [({"store": True}, 200), ({"store": False}, 503), ({"store": True, "slack_socket": False}, 503)],
)
async def test_a_failing_check_answers_503_and_names_itself(checks: dict[str, bool], status: int) -> None:
    async def health() -> dict[str, bool]:
        return checks

    async with TestClient(TestServer(build_web_app(health))) as client:
        response = await client.get("/healthz")
        assert response.status == status
        assert await response.json() == {"ok": status == 200, **checks}
