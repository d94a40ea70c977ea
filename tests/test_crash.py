"""Exactly once across crashes: the real bot (``python -m bot``) is SIGKILLed mid-flow and restarted.

A completed authorization must lead to exactly one labels delivery wherever the process dies
between "Arcade said completed" and "Slack accepted the message", and a restart with many flows
pending must lose and duplicate nobody.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.store import Store
from tests.support import BotProcess, label_lists, prompts, settle
from tests.world import ALICE, CHANNEL, TEAM, World, arcade_user

pytestmark = pytest.mark.serial  # SIGKILLs and restarts with timing promises: scripts/test runs it alone

# A killed process's leases run out after this many seconds; its restart then takes over.
SHORT_LEASE = "3"


def _labels_payload(args: dict[str, Any]) -> bool:
    return "Your Gmail labels" in json.dumps(args.get("blocks"))


def _replacement(args: dict[str, Any]) -> bool:
    return args.get("replace_original") in (True, "true")


def _hold_gmail(world: World) -> Callable[[], bool]:
    world.gmail.set_latency(60)
    return lambda: len(world.gmail.calls) > 0


def _hold_labels_before_slack_acts(world: World) -> Callable[[], bool]:
    # The labels go by response_url or by chat.postMessage, depending on the route: hold both.
    for method in ("response_url", "chat.postMessage"):
        world.slack.delay_before(method, 60, match=_labels_payload)
    return lambda: any(when == "before" for when, _, _ in world.slack.held)


def _hold_answer_after_slack_accepted_labels(world: World) -> Callable[[], bool]:
    for method in ("response_url", "chat.postMessage"):
        world.slack.accept_then_delay(method, 60, match=_labels_payload)
    return lambda: any(when == "after" for when, _, _ in world.slack.held)


def _hold_answer_after_prompt_replaced(world: World) -> Callable[[], bool]:
    world.slack.accept_then_delay("response_url", 60, match=_replacement)
    return lambda: any(when == "after" for when, _, _ in world.slack.held)


KILL_POINTS: dict[str, Callable[[World], Callable[[], bool]]] = {
    "gmail_call_in_flight": _hold_gmail,
    "slack_post_in_flight": _hold_labels_before_slack_acts,
    "slack_accepted_labels_unanswered": _hold_answer_after_slack_accepted_labels,
    "prompt_replaced_unanswered": _hold_answer_after_prompt_replaced,
}


async def _unsent(db: Path) -> int:
    async with Store.open(db) as store:
        return len(await store.unsent())


async def _drained(db: Path) -> int:
    """Owed answers left once the restarted process had 15 s to take over the dead one's leases."""
    for _ in range(75):
        if not await _unsent(db):
            break
        await asyncio.sleep(0.2)
    return await _unsent(db)


@pytest.mark.parametrize("point", list(KILL_POINTS))
async def test_sigkill_between_completed_and_delivered_gives_exactly_one_delivery(
    world: World, tmp_path: Path, point: str
) -> None:
    async with BotProcess(world, tmp_path / "bot.log", LEASE_SECONDS=SHORT_LEASE) as bot:
        await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM)
        await world.slack.wait_for(lambda: len(prompts(world, ALICE)) == 1)

        in_window = KILL_POINTS[point](world)
        await world.arcade.approve(arcade_user(ALICE))
        await world.slack.wait_for(in_window, timeout=10)
        await bot.kill()

        world.gmail.set_latency(0)
        world.slack.release_delays()
        await bot.start()
        await world.slack.wait_for(lambda: len(label_lists(world, ALICE)) >= 1, timeout=15)
        await settle()
        assert await _drained(world.db) == 0
        await settle()
        assert len(label_lists(world, ALICE)) == 1, world.slack.describe()
        assert "Traceback" not in bot.output()


async def test_restart_with_100_flows_pending_delivers_each_once(world: World, tmp_path: Path) -> None:
    users = [f"U0LOAD{n:05d}" for n in range(100)]
    async with BotProcess(world, tmp_path / "bot.log", LEASE_SECONDS=SHORT_LEASE) as bot:
        acks = await asyncio.gather(*(world.slack.slash_command(u, team_id=TEAM) for u in users))
        assert all(ack.status == 200 for ack in acks)
        await world.slack.wait_for(lambda: all(prompts(world, u) for u in users), timeout=30)
        await bot.kill()

        for user in users[:50]:  # half consent while the bot is down
            await world.arcade.approve(arcade_user(user))
        await bot.start()
        for user in users[50:]:  # the other half after the restart
            await world.arcade.approve(arcade_user(user))

        await world.slack.wait_for(lambda: all(label_lists(world, u) for u in users), timeout=20)
        await settle()
        counts = {u: len(label_lists(world, u)) for u in users}
        assert set(counts.values()) == {1}, {u: c for u, c in counts.items() if c != 1}
        assert all(len(prompts(world, u)) == 1 for u in users)  # resumed, not prompted again
        assert all(len([f for f in world.arcade.flows.values() if f.user_id == arcade_user(u)]) == 1 for u in users)
        assert await _unsent(world.db) == 0
