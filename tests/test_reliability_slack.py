"""Slack misbehaving: 429s, dead response_urls, refused routes, and Events API retries.

The user's answer must survive every one of them, and a retried event must not be answered twice.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.support import GMAIL_SCOPE, label_lists, prompts, settle
from tests.world import ALICE, CHANNEL, NO_BOT_CHANNEL, TEAM, World, arcade_user


def _connected(world: World) -> None:
    world.arcade.connect(arcade_user(ALICE), [GMAIL_SCOPE])


def _times(world: World, method: str) -> list[float]:
    return [c.at for c in world.slack.calls if c.method == method]


@pytest.mark.parametrize(
    ("method", "where", "route"),
    [
        ("chat.postEphemeral", "mention", "ephemeral"),
        ("chat.postMessage", "dm", "dm"),
    ],
)
async def test_a_429_with_retry_after_is_waited_out(world: World, method: str, where: str, route: str) -> None:
    _connected(world)
    await world.start_bot("http")
    world.slack.rate_limit_next(method, retry_after=1)
    if where == "mention":
        await world.slack.mention(ALICE, CHANNEL, "labels", team_id=TEAM)
    else:
        await world.slack.dm(ALICE, "labels", team_id=TEAM)
    await world.slack.wait_for(lambda: len(label_lists(world, ALICE)) == 1, timeout=10)
    assert label_lists(world, ALICE)[0]["via"] == route  # the same route, once Slack allowed it
    first, second = _times(world, method)[:2]
    assert second - first >= 1.0


async def test_a_429_on_an_owed_delivery_is_waited_out(world: World) -> None:
    await world.start_bot("http")
    await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM)
    await world.slack.wait_for(lambda: len(prompts(world, ALICE)) == 1)
    world.slack.expire_response_urls()
    world.slack.rate_limit_next("chat.postEphemeral", retry_after=1)
    world.slack.rate_limit_next("chat.postMessage", retry_after=1)
    await world.arcade.approve(arcade_user(ALICE))
    await world.slack.wait_for(lambda: len(label_lists(world, ALICE)) == 1, timeout=10)
    await settle(0.5)
    assert len(label_lists(world, ALICE)) == 1


@pytest.mark.parametrize(("channel", "route"), [(CHANNEL, "ephemeral"), (NO_BOT_CHANNEL, "dm"), (None, "dm")])
async def test_an_expired_response_url_falls_back(world: World, channel: str | None, route: str) -> None:
    await world.start_bot("http")
    world.arcade.set_latency("authorize", 0.5)  # the prompt is sent after the response_url died
    await world.slack.slash_command(ALICE, channel_id=channel, team_id=TEAM)
    world.slack.expire_response_urls()
    await world.slack.wait_for(lambda: len(prompts(world, ALICE)) == 1, timeout=5)
    assert prompts(world, ALICE)[0]["via"] == route
    assert world.slack.public_messages() == []


async def test_a_used_up_response_url_still_gets_the_labels_delivered(world: World) -> None:
    await world.start_bot("http")
    await world.slack.slash_command(ALICE, channel_id=NO_BOT_CHANNEL, team_id=TEAM)
    await world.slack.wait_for(lambda: len(prompts(world, ALICE)) == 1)
    url = world.slack.webhook_posts[-1]["url"]
    async with aiohttp.ClientSession() as session:
        for _ in range(4):  # Slack allows five uses; the prompt was the first
            async with session.post(url, json={"text": "filler"}) as response:
                assert response.status == 200
    await world.arcade.approve(arcade_user(ALICE))
    await world.slack.wait_for(lambda: len(label_lists(world, ALICE)) == 1, timeout=10)
    await settle(0.5)
    assert len(label_lists(world, ALICE)) == 1
    assert label_lists(world, ALICE)[0]["via"] == "dm"
    assert world.slack.public_messages() == []


@pytest.mark.parametrize("error", ["ratelimited", "rate_limited"])
async def test_a_rate_limited_dm_post_does_not_lose_a_requested_answer(world: World, error: str) -> None:
    """Slack refuses the DM post (HTTP 200, ``ok: false``): the labels still arrive, not an apology."""
    _connected(world)
    await world.start_bot("http")
    world.slack.fail_next("chat.postMessage", error)
    await world.slack.dm(ALICE, "labels", team_id=TEAM)
    await world.slack.wait_for(lambda: len(label_lists(world, ALICE)) == 1, timeout=8)


@pytest.mark.parametrize("error", ["ratelimited", "rate_limited"])
async def test_a_rate_limited_dm_post_does_not_lose_an_owed_answer(world: World, error: str) -> None:
    """After consent, the labels are owed: a refused post is tried again, without waiting for a restart."""
    await world.start_bot("http")
    await world.slack.slash_command(ALICE, channel_id=NO_BOT_CHANNEL, team_id=TEAM)
    await world.slack.wait_for(lambda: len(prompts(world, ALICE)) == 1)
    world.slack.expire_response_urls()  # the DM is the only way left
    world.slack.fail_next("chat.postMessage", error)
    await world.arcade.approve(arcade_user(ALICE))
    await world.slack.wait_for(lambda: len(label_lists(world, ALICE)) == 1, timeout=8)
    await settle(0.5)
    assert len(label_lists(world, ALICE)) == 1


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_a_retried_event_is_answered_once(world: World, mode: str) -> None:
    _connected(world)
    await world.start_bot(mode)
    await world.slack.dm(ALICE, "labels", team_id=TEAM, event_id="Ev0RETRY00001", mode=mode)
    await world.slack.wait_for(lambda: len(label_lists(world, ALICE)) == 1)
    for attempt in (1, 2, 3):
        ack = await world.slack.dm(
            ALICE,
            "labels",
            team_id=TEAM,
            event_id="Ev0RETRY00001",
            retry_num=attempt,
            retry_reason="http_timeout",
            mode=mode,
        )
        assert ack.status == 200  # acknowledged, so Slack stops retrying
    await settle()
    assert len(label_lists(world, ALICE)) == 1
    # A new event (a new event_id) is a new request and is answered.
    await world.slack.dm(ALICE, "labels", team_id=TEAM, event_id="Ev0RETRY00002", mode=mode)
    await world.slack.wait_for(lambda: len(label_lists(world, ALICE)) == 2)


async def test_a_retry_arriving_while_the_first_delivery_is_still_working_is_ignored(world: World) -> None:
    _connected(world)
    world.gmail.set_latency(1.0)  # the first answer is still on its way when the retry comes
    await world.start_bot("http")
    first, retry = await asyncio.gather(
        world.slack.dm(ALICE, "labels", team_id=TEAM, event_id="Ev0RETRY00003"),
        world.slack.dm(ALICE, "labels", team_id=TEAM, event_id="Ev0RETRY00003", retry_num=1, retry_reason="x"),
    )
    assert (first.status, retry.status) == (200, 200)
    await world.slack.wait_for(lambda: len(label_lists(world, ALICE)) == 1, timeout=10)
    await settle(0.5)
    assert len(label_lists(world, ALICE)) == 1
    assert len([c for c in world.gmail.calls if c.path.endswith("/labels")]) == 1
