"""``ARCADE_USER_VERIFIER=arcade`` (development with Arcade's own verifier) and the web server's modes."""

from __future__ import annotations

import aiohttp
import pytest

from tests.verify_support import ask_for_link, label_lists, wait_for_labels
from tests.world import ALICE, CHANNEL, TEAM, World, text_of

ARCADE_MODE = {"ARCADE_USER_VERIFIER": "arcade"}


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url, allow_redirects=False) as resp:
        return resp.status, await resp.text()


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_the_arcade_user_is_the_slack_email(world: World, mode: str) -> None:
    await world.start_bot(mode, **ARCADE_MODE)
    link = await ask_for_link(world, ALICE, mode)
    [flow] = world.arcade.pending_for("u0alice0001@example.com")  # the Slack profile email
    assert flow.url == link
    assert world.arcade.pending_for(f"slack:{TEAM}:{ALICE}") == []

    await world.arcade.approve("u0alice0001@example.com")
    assert "Inbox" in text_of(await wait_for_labels(world, ALICE))
    await world.slack.dm(ALICE, "labels", team_id=TEAM, mode=mode)
    await wait_for_labels(world, ALICE, count=2)
    lookups = [c for c in world.slack.calls if c.method == "users.info"]
    assert [c.args["user"] for c in lookups] == [ALICE]  # read once, then cached


async def test_arcade_mode_serves_no_verifier(world: World) -> None:
    bot = await world.start_bot("http", **ARCADE_MODE)
    base = bot.url
    assert (await get(f"{base}/arcade/verify?flow_id=abc"))[0] == 404
    assert (await get(f"{base}/healthz"))[0] == 200


async def test_without_the_email_scope_the_user_is_told_why(world: World) -> None:
    await world.start_bot("http", **ARCADE_MODE)
    world.slack.fail_next("users.info", "missing_scope")
    await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM)
    await world.slack.wait_for(lambda: any("users:read.email" in text_of(m) for m in world.slack.private_to(ALICE)))
    assert world.arcade.flows == {}
    assert label_lists(world, ALICE) == []


async def test_the_web_server_runs_in_socket_mode_too(world: World) -> None:
    bot = await world.start_bot("socket")
    base = bot.url
    assert (await get(f"{base}/healthz"))[0] == 200
    status, page = await get(f"{base}/arcade/verify")
    assert status == 400
    assert "This link is incomplete" in page
    assert (await get(f"{base}/slack/events"))[0] in (404, 405)  # Slack talks over the socket here


async def test_an_authorize_url_too_long_for_a_button_is_sent_as_a_text_link(world: World) -> None:
    """Slack refuses a button url past 3,000 characters: the prompt is then text with the link."""
    world.arcade.url_padding = "&scope=" + "x" * 3100
    await world.start_bot("http", **ARCADE_MODE)
    await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM)
    await world.slack.wait_for(lambda: any("Authorize Gmail" in str(m) for m in world.slack.private_to(ALICE, TEAM)))
    [prompt] = [m for m in world.slack.private_to(ALICE, TEAM) if "Authorize Gmail" in str(m)]
    [flow] = world.arcade.pending_for("u0alice0001@example.com")
    assert f"<{flow.url}|Authorize Gmail>" in prompt["text"]
    assert not prompt.get("blocks")

    await world.arcade.approve("u0alice0001@example.com")
    assert "Inbox" in text_of(await wait_for_labels(world, ALICE))
