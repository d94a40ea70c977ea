"""Installing the bot through its real install pages, as a browser without JavaScript would."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bot.store import Store
from tests.world import TEAM, World, arcade_user, buttons, text_of

TEAM2 = "T0000000002"
CAROL = "U0CAROL0003"  # a member of TEAM2


@dataclass
class Shown:
    status: int
    text: str
    url: str


def install_env(world: World, mode: str = "http") -> dict[str, str]:
    """The bot's settings with the install flow on, and the fake Slack app's redirect URL registered."""
    world.slack.oidc.redirect_urls.add(f"{world.ingress.url}/slack/oauth_redirect")
    return {"SLACK_INSTALL": "on", "SLACK_BOT_TOKEN": ""}


def browser(world: World) -> aiohttp.ClientSession:
    """A browser: keeps cookies (Bolt's state cookie is Secure: the loopback ingress counts as secure)."""
    jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[world.ingress.url])
    return aiohttp.ClientSession(cookie_jar=jar)


async def open_install_page(world: World, session: aiohttp.ClientSession) -> str:
    """The Add to Slack page; returns the link of its button."""
    async with session.get(f"{world.ingress.url}/slack/install") as page:
        assert page.status == 200, await page.text()
        found = re.search(r'class="add" href="([^"]+)"', await page.text())
    assert found is not None
    return html.unescape(found[1])


async def follow(session: aiohttp.ClientSession, url: str) -> Shown:
    async with session.get(url) as answer:
        return Shown(answer.status, await answer.text(), str(answer.url))


async def install(world: World, team_id: str, name: str) -> Shown:
    """An admin of ``team_id`` adds the app: install page, Slack's consent, back to the bot."""
    world.slack.installs.install_as(team_id, name)
    async with browser(world) as session:
        return await follow(session, await open_install_page(world, session))


def private(world: World, user: str, team: str, words: str) -> list[dict[str, Any]]:
    return [m for m in world.slack.private_to(user, team) if words in text_of(m)]


async def connect_and_get_labels(world: World, user: str, team: str, mode: str) -> None:
    ack = await world.slack.slash_command(user, team_id=team, mode=mode)
    assert ack.status == 200, ack.body
    await world.slack.wait_for(lambda: any(buttons(m) for m in world.slack.private_to(user, team)))
    await world.arcade.approve(arcade_user(user, team), email=f"{user.lower()}@example.com")
    await world.slack.wait_for(lambda: bool(private(world, user, team, "Your Gmail labels")), timeout=10)


async def installed_teams(world: World, database: str | Path | None = None) -> list[str]:
    """Which of the two workspaces have an installation in the bot's store (``world.db`` by default)."""
    async with Store.open(database or world.db) as store:
        installs = store.installs(world.slack.oidc.client_id)
        return [team for team in (TEAM, TEAM2) if await installs.find(team) is not None]
