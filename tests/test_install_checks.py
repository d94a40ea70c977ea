"""The start-up check of the app's client credentials with SLACK_INSTALL=on: accepted, or the refused
setting named (exit code 2, no ``bot.ready``), at start-up and by ``python -m bot check``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.install_support import install_env
from tests.support import BotProcess
from tests.test_startup_checks import ended, refused
from tests.world import World


async def test_check_accepts_the_client_credentials(world: World, tmp_path: Path) -> None:
    bot = BotProcess(world, tmp_path / "check.log", **install_env(world))
    assert await ended(bot, "check") == 0
    out = bot.output()
    assert any(line.lstrip().startswith("PASS") and "SLACK_CLIENT_SECRET" in line for line in out.splitlines()), out
    assert "All checks passed." in out
    [asked] = [c for c in world.slack.calls if c.method == "oauth.v2.access"]
    assert asked.args.get("code") == "start-up-check"  # a code that cannot install anything
    assert not [c for c in world.slack.calls if c.token == world.slack.bot_token]  # no bot token in this mode


@pytest.mark.parametrize("setting", ["SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"])
async def test_refused_client_credentials_are_named_at_start_up(world: World, tmp_path: Path, setting: str) -> None:
    wrong = "9999999999.9999999999" if setting == "SLACK_CLIENT_ID" else "not-the-client-secret"
    out = await refused(world, tmp_path, "http", **install_env(world), **{setting: wrong})
    [line] = [line for line in out.splitlines() if "refused the app's client credentials" in line]
    assert setting in line
    assert "Basic Information" in out  # where the right ones are
    assert wrong not in out
    assert world.slack.installs.workspaces == {}
