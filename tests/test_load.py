"""Load: acks never wait on Arcade, and a burst of 500 users is served completely and correctly.

Generous bounds: these tests hold the promises; bench/ measures the figures.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from bot.slack.work import LIMIT as AFTER_ACK_LIMIT
from tests.support import GMAIL_SCOPE, BotProcess, label_lists, prompts, settle
from tests.world import ALICE, BOB, CHANNEL, TEAM, World, arcade_user, text_of

pytestmark = pytest.mark.serial  # timing promises under a burst: scripts/test runs it alone


async def test_acks_never_wait_on_a_slow_arcade(world: World) -> None:
    world.arcade.connect(arcade_user(BOB), [GMAIL_SCOPE])
    world.arcade.set_latency("authorize", 4.0)
    await world.start_bot("http")
    started = time.monotonic()
    command, dm = await asyncio.gather(
        world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM),
        world.slack.dm(BOB, "labels", team_id=TEAM),
    )
    assert (command.status, dm.status) == (200, 200)
    assert command.elapsed < 1.0
    assert dm.elapsed < 1.0
    await world.slack.wait_for(lambda: bool(prompts(world, ALICE)) and bool(label_lists(world, BOB)), timeout=10)
    assert time.monotonic() - started >= 3.9  # the answers did wait for Arcade; the acks did not


async def test_a_burst_runs_a_bounded_number_of_requests_at_once(world: World) -> None:
    """Post-ack work waits for a slot: with Arcade taking 1 s, 2.5x the limit of commands at once
    still all get quick acks and prompts, but Arcade never sees more than the limit in flight."""
    world.arcade.set_latency("authorize", 1.0)
    await world.start_bot("http")
    users = [f"U0GATE{n:04d}" for n in range(AFTER_ACK_LIMIT * 5 // 2)]
    acks = await asyncio.gather(*(world.slack.slash_command(u, team_id=TEAM) for u in users))
    assert all(a.status == 200 for a in acks)
    assert max(a.elapsed for a in acks) < 2.0
    await world.slack.wait_for(lambda: all(prompts(world, u) for u in users), timeout=30)
    arrivals = sorted(c.at for c in world.arcade.calls if c.path == "/v1/auth/authorize")
    assert len(arrivals) == len(users)
    in_flight = max(sum(1 for b in arrivals if a - 0.9 < b <= a) for a in arrivals)  # each call lasts >= 1 s
    assert in_flight <= AFTER_ACK_LIMIT, f"{in_flight} authorize calls at once"


async def test_500_users_connect_within_a_second_and_all_get_their_labels(world: World, tmp_path: Path) -> None:
    users = [f"U0BURST{n:04d}" for n in range(500)]
    for user in users:
        world.gmail.set_labels(arcade_user(user), [{"id": "Label_1", "name": f"mine-{user}", "type": "user"}])
    async with BotProcess(world, tmp_path / "bot.log"):

        async def connect(n: int, user: str) -> float:
            await asyncio.sleep(n / len(users))  # spread over one second
            ack = await world.slack.slash_command(user, team_id=TEAM)
            assert ack.status == 200
            return ack.elapsed

        elapsed = await asyncio.gather(*(connect(n, u) for n, u in enumerate(users)))
        assert max(elapsed) < 3, f"slowest ack {max(elapsed):.2f} s"
        await world.slack.wait_for(lambda: all(prompts(world, u) for u in users), timeout=60)

        for user in users:  # everyone consents at once
            await world.arcade.approve(arcade_user(user))
        await world.slack.wait_for(lambda: all(label_lists(world, u) for u in users), timeout=45)
        await settle(0.5)

    wrong = {
        u: [text_of(m)[:60] for m in label_lists(world, u)]
        for u in users
        if len(label_lists(world, u)) != 1 or f"mine-{u}" not in text_of(label_lists(world, u)[0])
    }
    assert wrong == {}
    shown = [text_of(m) for u in users for m in label_lists(world, u)]
    assert all(sum(f"mine-{u}" in text for text in shown) == 1 for u in users)  # nobody saw another's labels
