"""SLACK_INSTALL=on end to end: two workspaces install the real bot through its install pages, each
is served with its own token, one leaves while a user of it waits, and bad installs store nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from bot.slack.install import BOT_SCOPES
from tests.install_support import (
    CAROL,
    TEAM2,
    browser,
    connect_and_get_labels,
    follow,
    install,
    install_env,
    installed_teams,
    open_install_page,
    private,
)
from tests.world import ALICE, TEAM, World, arcade_user

ROOT = Path(__file__).resolve().parent.parent

MODES = ["http", "socket"]


@pytest.mark.parametrize("mode", MODES)
async def test_two_workspaces_each_served_with_its_own_token(world: World, mode: str) -> None:
    world.slack.add_user(CAROL, team_id=TEAM2)
    await world.start_bot(mode, **install_env(world))
    first = await install(world, TEAM, "Acme")
    second = await install(world, TEAM2, "Globex")
    assert (first.status, second.status) == (200, 200)
    assert "Installed in Acme" in first.text
    assert "Installed in Globex" in second.text
    assert await installed_teams(world) == [TEAM, TEAM2]
    # The browser went to Slack's authorize page at SLACK_API_URL's origin, asking for the manifest's scopes.
    [asked, _] = world.slack.installs.authorize_requests
    assert set(asked["scope"].split(",")) == set(BOT_SCOPES)

    await connect_and_get_labels(world, ALICE, TEAM, mode)
    await connect_and_get_labels(world, CAROL, TEAM2, mode)
    dm = await world.slack.dm(CAROL, "labels", team_id=TEAM2, mode=mode)
    assert dm.status == 200
    await world.slack.wait_for(lambda: len(private(world, CAROL, TEAM2, "Your Gmail labels")) >= 2, timeout=10)

    assert world.slack.installs.wrong_workspace == []
    tokens = {call.token for call in world.slack.calls if call.method == "chat.postMessage"}
    assert world.slack.installs.token_for(TEAM) in tokens
    assert world.slack.installs.token_for(TEAM2) in tokens
    assert world.slack.bot_token not in {call.token for call in world.slack.calls}  # no single-workspace token


@pytest.mark.parametrize("mode", MODES)
async def test_a_workspace_that_uninstalls_stops_its_waits_and_hears_nothing(world: World, mode: str) -> None:
    world.slack.add_user(CAROL, team_id=TEAM2)
    await world.start_bot(mode, **install_env(world), LEASE_SECONDS="3")
    await install(world, TEAM, "Acme")
    await install(world, TEAM2, "Globex")
    await world.slack.slash_command(CAROL, team_id=TEAM2, mode=mode)
    await world.slack.wait_for(lambda: bool(world.arcade.pending_for(arcade_user(CAROL, TEAM2))))
    [flow] = world.arcade.pending_for(arcade_user(CAROL, TEAM2))
    await world.slack.wait_for(lambda: world.arcade.in_flight.get(flow.auth_id, 0) > 0)  # the wait is polling
    await world.slack.wait_for(lambda: len(world.slack.private_to(CAROL, TEAM2)) == 1)  # and she has her link
    heard = len(world.slack.private_to(CAROL, TEAM2))

    gone = await world.slack.installs.uninstall(TEAM2, mode=mode)
    assert gone.status == 200
    await asyncio.sleep(3)  # the lease holder's next ticks (every LEASE_SECONDS / 3) stop the wait
    polls = sum(1 for c in world.arcade.calls if c.path == "/v1/auth/status" and c.query.get("id") == flow.auth_id)
    await world.arcade.approve(arcade_user(CAROL, TEAM2))
    await asyncio.sleep(1.5)
    later = sum(1 for c in world.arcade.calls if c.path == "/v1/auth/status" and c.query.get("id") == flow.auth_id)
    assert later == polls  # no further polling
    assert len(world.slack.private_to(CAROL, TEAM2)) == heard  # nothing more told to a workspace that left
    assert await installed_teams(world) == [TEAM]

    await connect_and_get_labels(world, ALICE, TEAM, mode)  # the other workspace is untouched
    assert world.slack.installs.wrong_workspace == []

    # A re-install starts clean, with a new token; the user's Google connection at Arcade was left
    # alone (she approved it at Google meanwhile), so her labels come straight away.
    again = await install(world, TEAM2, "Globex")
    assert again.status == 200
    await world.slack.slash_command(CAROL, team_id=TEAM2, mode=mode)
    await world.slack.wait_for(lambda: bool(private(world, CAROL, TEAM2, "Your Gmail labels")), timeout=10)
    assert world.slack.installs.wrong_workspace == []


async def test_tokens_revoked_forgets_the_workspace(world: World) -> None:
    await world.start_bot("http", **install_env(world))
    await install(world, TEAM, "Acme")
    revoked = await world.slack.installs.revoke(TEAM)
    assert revoked.status == 200
    assert await installed_teams(world) == []


async def test_bad_installs_show_a_clear_page_and_store_nothing(world: World) -> None:
    await world.start_bot("http", **install_env(world))
    installs = world.slack.installs

    # The installer clicks Cancel at Slack.
    installs.refuse_next()
    async with browser(world) as session:
        refused = await follow(session, await open_install_page(world, session))
    assert "The app was not installed" in refused.text
    assert "cancelled" in refused.text

    # A forged state, and a state from another browser.
    forged = await follow(
        browser_session := browser(world), f"{world.ingress.url}/slack/oauth_redirect?code=x&state=forged"
    )
    await browser_session.close()
    assert forged.status == 400
    assert "another browser" in forged.text

    # A replayed state: the same browser, the same redirect, twice.
    installs.install_as(TEAM, "Acme")
    async with browser(world) as session:
        link = await open_install_page(world, session)
        async with session.get(link, allow_redirects=False) as to_slack:
            back = to_slack.headers["Location"]  # Slack's redirect to the bot, with code and state
        first = await follow(session, back)
        replayed = await follow(session, back)
    assert "Installed in Acme" in first.text
    assert replayed.status == 400
    assert "expired or was already used" in replayed.text or "another browser" in replayed.text

    # An OAuth error from Slack at the code exchange.
    installs.install_as(TEAM2, "Globex")
    world.slack.oidc.client_secret = "rotated-elsewhere"
    try:
        failed = await install(world, TEAM2, "Globex")
    finally:
        world.slack.oidc.client_secret = world.bots[0].settings.slack_client_secret or ""
    assert failed.status == 400
    assert "did not confirm the install" in failed.text

    # An org-wide install (Enterprise Grid) is refused.
    installs.org_wide_next = True
    org = await install(world, TEAM2, "Globex")
    assert "Org-wide installs are not supported" in org.text
    assert await installed_teams(world) == [TEAM]


def test_the_distributed_manifest_asks_for_what_the_install_flow_asks() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.distributed.yml").read_text())
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == set(BOT_SCOPES)
    assert manifest["oauth_config"]["redirect_urls"][0].endswith("/slack/oauth_redirect")
    assert manifest["settings"]["event_subscriptions"]["bot_events"].count("app_uninstalled") == 1
    assert "tokens_revoked" in manifest["settings"]["event_subscriptions"]["bot_events"]
