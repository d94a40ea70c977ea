"""Two workspaces install the bot through its real install pages in a real headless Chromium: the
bot's Add to Slack page, Slack's consent page (the fake's, signed in as an admin of the workspace),
Allow, and back to the bot's success page. Then /connect-gmail and labels in each workspace."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser

from tests.browser_support import chromium, needs_chromium
from tests.install_support import CAROL, TEAM2, connect_and_get_labels, install_env, installed_teams, private
from tests.world import ALICE, TEAM, World

pytestmark = needs_chromium


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


async def install_in_chromium(browser: Browser, world: World, admin: str, team: str) -> str:
    """``admin`` of ``team`` adds the app in a browser of their own; the text of the page they land on."""
    context = await browser.new_context()
    try:
        page = await context.new_page()
        signed_in = await page.goto(f"{world.slack.base_url}_fake/login?user={admin}&team={team}")
        assert signed_in is not None
        assert signed_in.ok
        shown = await page.goto(f"{world.ingress.url}/slack/install")
        assert shown is not None
        assert shown.status == 200
        await page.get_by_role("link", name="Add to Slack").click()
        await page.wait_for_url(lambda url: url.startswith(f"{world.slack.base_url}oauth/v2/authorize?"))
        assert "Slack workspace" in await page.inner_text("h1")
        back = f"{world.ingress.url}/slack/oauth_redirect?"
        async with page.expect_navigation(url=lambda url: url.startswith(back)) as landing:
            await page.get_by_role("link", name="Allow").click()
        answer = await landing.value
        assert answer is not None
        assert answer.status == 200
        return await page.inner_text("h1")
    finally:
        await context.close()


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_two_workspaces_install_in_a_browser_then_serve_their_people(
    world: World, browser: Browser, mode: str
) -> None:
    world.slack.add_user(CAROL, team_id=TEAM2)
    world.slack.installs.add_workspace(TEAM, "Acme")
    world.slack.installs.add_workspace(TEAM2, "Globex")
    await world.start_bot(mode, **install_env(world))

    assert await install_in_chromium(browser, world, ALICE, TEAM) == "Installed in Acme"
    assert await install_in_chromium(browser, world, CAROL, TEAM2) == "Installed in Globex"
    assert await installed_teams(world) == [TEAM, TEAM2]

    await connect_and_get_labels(world, ALICE, TEAM, mode)
    await connect_and_get_labels(world, CAROL, TEAM2, mode)
    dm = await world.slack.dm(ALICE, "labels", team_id=TEAM, mode=mode)
    assert dm.status == 200
    await world.slack.wait_for(lambda: len(private(world, ALICE, TEAM, "Your Gmail labels")) >= 2, timeout=10)
    assert world.slack.installs.wrong_workspace == []
    tokens = {c.token for c in world.slack.calls if c.method == "chat.postMessage"}
    assert tokens == {world.slack.installs.token_for(TEAM), world.slack.installs.token_for(TEAM2)}
