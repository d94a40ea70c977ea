"""Installing the bot through its real install pages, as a browser without JavaScript would."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import aiohttp

from tests.world import World

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
