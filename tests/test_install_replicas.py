"""Token rotation with two real bot processes (``python -m bot``) on one store, on both engines: the
workspace's bot token expires mid-run, and Slack is asked for a new one once, not once per replica.
While one replica's refresh is in flight, the other serves with the still-valid token; afterwards
only the new token is used."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from tests.fakes.slack_install import ROTATION_SECONDS
from tests.install_support import connect_and_get_labels, install, install_env, installed_teams, private
from tests.support import BotProcess
from tests.world import ALICE, TEAM, World

pytestmark = pytest.mark.serial  # two real processes racing for one refresh: scripts/test runs it alone


async def test_a_token_expiring_mid_run_is_refreshed_once_by_two_processes(
    world: World, tmp_path: Path, database_url: str
) -> None:
    installs = world.slack.installs
    installs.rotation, installs.expires_in = True, 60  # expires within the two-hour refresh margin
    env = {**install_env(world), "DATABASE_URL": database_url}
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(BotProcess(world, tmp_path / "first.log", **env))
        assert (await install(world, TEAM, "Acme")).status == 200
        second = await stack.enter_async_context(BotProcess(world, tmp_path / "second.log", **env))
        assert await installed_teams(world, database_url) == [TEAM]
        installs.expires_in = ROTATION_SECONDS
        old = installs.token_for(TEAM)

        # The first replica notices the expiring token and asks Slack for a new one; Slack is slow.
        installs.hold_refreshes = asyncio.Event()
        world.slack.app_url = f"{first.url}/slack/events"
        one = asyncio.create_task(world.slack.slash_command(ALICE, team_id=TEAM, text="status"))
        await world.slack.wait_for(lambda: installs.refresh_requests == 1)
        # Meanwhile the second replica serves a command of its own and does not refresh as well.
        world.slack.app_url = f"{second.url}/slack/events"
        assert (await world.slack.slash_command(ALICE, team_id=TEAM, text="status")).status == 200
        await world.slack.wait_for(lambda: bool(private(world, ALICE, TEAM, "Gmail")))
        await asyncio.sleep(0.5)
        assert installs.refresh_requests == 1
        installs.hold_refreshes.set()
        assert (await one).status == 200

        assert installs.refreshes == [TEAM]
        fresh = installs.token_for(TEAM)
        assert fresh not in (None, old)
        del installs.workspaces[TEAM].tokens[old or ""]  # from now on only the refreshed token works
        since = len(world.slack.calls)
        await connect_and_get_labels(world, ALICE, TEAM, "http")  # through the second replica
        world.slack.app_url = f"{first.url}/slack/events"
        assert (await world.slack.dm(ALICE, "labels", team_id=TEAM)).status == 200
        await world.slack.wait_for(lambda: len(private(world, ALICE, TEAM, "Your Gmail labels")) >= 2, timeout=10)

    assert installs.refreshes == [TEAM]
    assert installs.refresh_requests == 1
    assert {c.token for c in world.slack.calls[since:] if c.token is not None} == {fresh}
    assert world.slack.installs.wrong_workspace == []
