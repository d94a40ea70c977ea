"""Start-up checks: a refused credential, a wrong verifier setting or an unreachable service is named
at start-up (exit code 2, no ``bot.ready``), in both modes, and ``python -m bot check`` reports the
same without starting the bot."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import BotProcess
from tests.world import World

MODES = ["http", "socket"]
LIMIT = 30.0  # s from start to exit


async def ended(bot: BotProcess, *args: str) -> int:
    """Run ``python -m bot *args`` to its end (at most LIMIT seconds); its exit code."""
    try:
        await bot.spawn(*args)
        return await bot.exited(LIMIT)
    finally:
        await bot.kill()


async def refused(world: World, tmp_path: Path, mode: str, **extra: str) -> str:
    """Start the bot, expect exit code 2 within LIMIT seconds; its output."""
    bot = BotProcess(world, tmp_path / "bot.log", mode=mode, **extra)
    started = time.monotonic()
    code = await ended(bot)
    out = bot.output()
    assert code == 2, out
    assert time.monotonic() - started < LIMIT
    assert "bot.ready" not in out
    assert "Traceback" not in out
    return out


@pytest.mark.parametrize("mode", MODES)
async def test_a_refused_bot_token_is_named(world: World, tmp_path: Path, mode: str) -> None:
    out = await refused(world, tmp_path, mode, SLACK_BOT_TOKEN="xoxb-not-the-real-one")
    assert "SLACK_BOT_TOKEN" in out
    assert "invalid_auth" in out
    assert "OAuth & Permissions" in out  # where the right one is
    assert "xoxb-not-the-real-one" not in out


async def test_a_refused_app_token_is_named_once_and_not_retried(world: World, tmp_path: Path) -> None:
    out = await refused(world, tmp_path, "socket", SLACK_APP_TOKEN="xapp-not-the-real-one")
    assert "SLACK_APP_TOKEN" in out
    assert "connections:write" in out
    assert [c.method for c in world.slack.calls].count("apps.connections.open") == 1  # checked once, no retry loop
    assert world.slack.socket_connections == 0


@pytest.mark.parametrize("mode", MODES)
async def test_a_401_from_arcade_names_the_api_key(world: World, tmp_path: Path, mode: str) -> None:
    out = await refused(world, tmp_path, mode, ARCADE_API_KEY="arc-wrong-key")
    assert "ARCADE_API_KEY" in out
    assert "401" in out
    assert "arc-wrong-key" not in out


@pytest.mark.parametrize("mode", MODES)
async def test_arcade_verifier_pointing_elsewhere_is_named(world: World, tmp_path: Path, mode: str) -> None:
    bot = BotProcess(world, tmp_path / "bot.log", mode=mode)
    world.arcade.verifier_url = "https://old-tunnel.example.com/arcade/verify"
    assert await ended(bot) == 2
    out = bot.output()
    assert "verifier" in out
    assert "https://old-tunnel.example.com/arcade/verify" in out
    assert f"{bot.env['PUBLIC_URL']}/arcade/verify" in out  # what it must be
    assert "PUBLIC_URL" in out


async def test_arcade_on_its_own_verifier_while_the_bot_runs_custom(world: World, tmp_path: Path) -> None:
    bot = BotProcess(world, tmp_path / "bot.log")
    world.arcade.verifier_url = None
    assert await ended(bot) == 2
    assert "Arcade still uses its own verifier" in bot.output()


async def test_an_unreadable_verifier_setting_is_a_warning(world: World, tmp_path: Path) -> None:
    world.arcade.settings_readable = False
    async with BotProcess(world, tmp_path / "bot.log") as bot:
        assert "WARNING" in bot.output()
        assert "may not read Arcade's verifier setting" in bot.output()


@pytest.fixture
def closed_url() -> Iterator[str]:
    """A loopback address that refuses connections: bound (so nothing else takes it), never listening."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("setting", "url"), [("SLACK_API_URL", "/api/"), ("ARCADE_BASE_URL", "")])
async def test_an_unreachable_service_is_retried_then_named(
    world: World, tmp_path: Path, mode: str, setting: str, url: str, closed_url: str
) -> None:
    out = await refused(world, tmp_path, mode, **{setting: closed_url + url})
    assert setting in out
    assert "after 3 tries" in out


async def test_a_port_in_use_is_one_line_naming_port(world: World, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        out = await refused(world, tmp_path, "http", PORT=port, PUBLIC_URL=f"http://127.0.0.1:{port}")
    [line] = [line for line in out.splitlines() if "in use" in line]
    assert "PORT" in line
    assert port in line


async def test_check_reports_each_service_and_exits_0(world: World, tmp_path: Path) -> None:
    bot = BotProcess(world, tmp_path / "check.log", mode="socket")
    assert await ended(bot, "check") == 0
    out = bot.output()
    for setting in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "ARCADE_API_KEY", "verifier"):
        assert any(line.lstrip().startswith("PASS") and setting in line for line in out.splitlines()), out
    assert "All checks passed." in out
    assert world.slack.socket_connections == 0  # nothing was started
    assert not (tmp_path / "bot.db").exists()


async def test_check_reports_each_failure_with_its_fix_and_exits_2(world: World, tmp_path: Path) -> None:
    bot = BotProcess(world, tmp_path / "check.log", SLACK_BOT_TOKEN="xoxb-wrong", ARCADE_API_KEY="arc-wrong")
    assert await ended(bot, "check") == 2
    lines = bot.output().splitlines()
    failing = [i for i, line in enumerate(lines) if line.lstrip().startswith("FAIL")]
    assert [s for s in ("SLACK_BOT_TOKEN", "ARCADE_API_KEY") if any(s in lines[i] for i in failing)] == [
        "SLACK_BOT_TOKEN",
        "ARCADE_API_KEY",
    ]
    assert all(lines[i + 1].lstrip().startswith("fix:") for i in failing)
    assert "2 check(s) failed." in lines


async def test_check_reports_bad_settings_by_name(world: World, tmp_path: Path) -> None:
    bot = BotProcess(world, tmp_path / "check.log", ARCADE_API_KEY="<your-arcade-api-key>")
    assert await ended(bot, "check") == 2
    assert "ARCADE_API_KEY" in bot.output()
    assert world.arcade.calls == []  # nothing is asked with a placeholder
