"""SIGTERM and SIGINT end ``python -m bot`` within a few seconds in every state: while Socket Mode
connects or reconnects, while connected, and while work is in flight (both modes); and a Socket
Mode connection refused for its app token while running ends the process with code 2."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fakes.slack_world import Args
from tests.support import BotProcess, prompts
from tests.world import ALICE, BOB, TEAM, World, arcade_user

SIGNALS = [signal.SIGTERM, signal.SIGINT]
WITHIN = 5.0


def after_the_first() -> Callable[[Args], bool]:
    """A fake Slack hold matcher that lets the first call through (the start-up check) and holds the rest."""
    seen = 0

    def match(_: Args) -> bool:
        nonlocal seen
        seen += 1
        return seen > 1

    return match


async def stopped(bot: BotProcess, signum: signal.Signals) -> int:
    bot.signal(signum)
    return await bot.exited(WITHIN)


@pytest.mark.parametrize("signum", SIGNALS)
async def test_stops_while_connecting(world: World, tmp_path: Path, signum: signal.Signals) -> None:
    world.slack.delay_before("apps.connections.open", 60, times=100, match=after_the_first())
    bot = BotProcess(world, tmp_path / "bot.log", mode="socket")
    try:
        await bot.spawn()
        await world.slack.wait_for(lambda: len(world.slack.held) == 1, timeout=15)
        assert await stopped(bot, signum) == 0
    finally:
        await bot.kill()
    assert "bot.ready" not in bot.output()


@pytest.mark.parametrize("signum", SIGNALS)
async def test_stops_while_reconnecting(world: World, tmp_path: Path, signum: signal.Signals) -> None:
    async with BotProcess(world, tmp_path / "bot.log", mode="socket") as bot:
        await world.slack.wait_socket_connected()
        world.slack.delay_before("apps.connections.open", 60, times=100)
        await world.slack.disconnect_socket("refresh_requested")
        await world.slack.wait_for(lambda: len(world.slack.held) == 1, timeout=15)
        assert await stopped(bot, signum) == 0


@pytest.mark.parametrize("mode", ["http", "socket"])
@pytest.mark.parametrize("signum", SIGNALS)
async def test_stops_while_connected(world: World, tmp_path: Path, mode: str, signum: signal.Signals) -> None:
    async with BotProcess(world, tmp_path / "bot.log", mode=mode) as bot:
        assert await stopped(bot, signum) == 0
        assert "bot.stopping" in bot.output()


@pytest.mark.parametrize("mode", ["http", "socket"])
@pytest.mark.parametrize("signum", SIGNALS)
async def test_stops_with_work_in_flight(world: World, tmp_path: Path, mode: str, signum: signal.Signals) -> None:
    async with BotProcess(world, tmp_path / "bot.log", mode=mode) as bot:
        if mode == "socket":
            await world.slack.wait_socket_connected()
        await world.slack.slash_command(ALICE, team_id=TEAM, mode=mode)
        await world.slack.wait_for(lambda: bool(prompts(world, ALICE)))  # Alice's long-poll is open
        world.arcade.set_latency("authorize", 60)  # Bob's authorization hangs at Arcade
        await world.slack.slash_command(BOB, team_id=TEAM, mode=mode)
        await world.slack.wait_for(lambda: sum(c.path == "/v1/auth/authorize" for c in world.arcade.calls) == 2)
        assert world.arcade.pending_for(arcade_user(ALICE))
        assert await stopped(bot, signum) == 0


async def test_an_app_token_refused_while_running_ends_with_code_2(world: World, tmp_path: Path) -> None:
    async with BotProcess(world, tmp_path / "bot.log", mode="socket") as bot:
        await world.slack.wait_socket_connected()
        world.slack.fail_next("apps.connections.open", "token_revoked", times=100)
        await world.slack.disconnect_socket("refresh_requested")
        assert await bot.exited(15) == 2
        out = bot.output()
        assert out.count("bot.refused setting='SLACK_APP_TOKEN'") == 1
        assert "token_revoked" in out
        calls = [c.method for c in world.slack.calls].count("apps.connections.open")
        assert calls <= 3  # the check, the first connection, the refused reconnection
