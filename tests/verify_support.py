"""Helpers for the user-verification tests: a bot wired to the fake Arcade's verifier stage, and a
cookie-keeping HTTP "browser" that can walk the redirect chain hop by hop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

from bot.verifier import CALLBACK_PATH, VERIFY_PATH
from tests.world import CHANNEL, TEAM, RunningBot, World, buttons, text_of


@dataclass
class Hop:
    status: int
    location: str | None
    text: str
    headers: dict[str, str]


async def start_verified_bot(world: World, mode: str = "http", **extra: str) -> RunningBot:
    """The bot with the custom verifier, registered at the fake Arcade as its verifier URL."""
    bot = await world.start_bot(mode, **extra)
    world.arcade.verifier_url = f"{bot.settings.public_url}{VERIFY_PATH}"
    return bot


def verify_url(bot: RunningBot, query: str = "") -> str:
    return f"{bot.settings.public_url}{VERIFY_PATH}{query}"


def callback_url(bot: RunningBot, query: str = "") -> str:
    return f"{bot.settings.public_url}{CALLBACK_PATH}{query}"


def prompts(world: World, user: str) -> list[dict[str, Any]]:
    return [m for m in world.slack.private_to(user, TEAM) if buttons(m)]


def label_lists(world: World, user: str) -> list[dict[str, Any]]:
    return [m for m in world.slack.private_to(user, TEAM) if "Your Gmail labels" in text_of(m)]


async def ask_for_link(world: World, user: str, mode: str = "http") -> str:
    """``/connect-gmail`` as ``user``; the URL of the Authorize Gmail button it sends back."""
    before = len(prompts(world, user))
    await world.slack.slash_command(user, channel_id=CHANNEL, team_id=TEAM, mode=mode)
    await world.slack.wait_for(lambda: len(prompts(world, user)) > before)
    [button] = buttons(prompts(world, user)[-1])
    return str(button["url"])


async def wait_for_labels(world: World, user: str, count: int = 1) -> dict[str, Any]:
    await world.slack.wait_for(lambda: len(label_lists(world, user)) >= count, timeout=10)
    return label_lists(world, user)[-1]


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


class Browserless:
    """One person's HTTP client: keeps cookies (the fake Slack session, the verifier's cookie)."""

    def __init__(self, session: aiohttp.ClientSession, world: World) -> None:
        self.session = session
        self.world = world

    async def login(self, user: str) -> None:
        async with self.session.get(f"{self.world.slack.base_url}_fake/login", params={"user": user}) as resp:
            assert resp.status == 200

    async def hop(self, url: str) -> Hop:
        async with self.session.get(url, allow_redirects=False) as resp:
            return Hop(resp.status, resp.headers.get("Location"), await resp.text(), dict(resp.headers))

    async def to_arcade(self, link: str) -> str:
        """Open the Authorize button's start link: the Arcade URL it sends the browser to (with the start cookie)."""
        started = await self.hop(link)
        assert started.status == 303, started
        assert started.location is not None
        return started.location

    async def to_slack(self, link: str, *, email: str | None = None) -> str:
        """Open the start link, consent at the fake Arcade, pass the verifier: the Sign in with Slack URL."""
        arcade = await self.to_arcade(link)
        consent = await self.hop(f"{arcade}&email={email}" if email else arcade)
        assert consent.status == 303, consent
        assert consent.location is not None
        verify = await self.hop(consent.location)
        assert verify.status == 303, verify
        assert verify.location is not None
        return verify.location

    async def back_from_slack(self, authorize_url: str) -> str:
        """Sign in with Slack as whoever is logged in: the callback URL Slack sends the browser to."""
        slack = await self.hop(authorize_url)
        assert slack.status == 302, slack
        assert slack.location is not None
        return slack.location

    async def to_callback(self, link: str, *, email: str | None = None) -> str:
        return await self.back_from_slack(await self.to_slack(link, email=email))


@asynccontextmanager
async def browserless(world: World, user: str | None = None) -> AsyncIterator[Browserless]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        person = Browserless(session, world)
        if user is not None:
            await person.login(user)
        yield person


async def lands_at(link: str) -> str:
    """Where an Authorize button's link sends a fresh browser: the custom verifier's start link 303s to
    Arcade's URL; any other link is already Arcade's."""
    async with aiohttp.ClientSession() as browser, browser.get(link, allow_redirects=False) as opened:
        return opened.headers.get("Location", link) if opened.status == 303 else link
