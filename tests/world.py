"""The test world: the fakes (Slack, Arcade, Gmail, Google Calendar, GitHub), the real bot
(``bot.__main__.serve``) pointed at them, the people and channels in it, and helpers to read what
Slack received. Fixtures live in ``conftest.py``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.__main__ import serve
from bot.config import Settings
from bot.providers import SHIPPED, AnyProvider
from tests.fakes.arcade import FakeArcade
from tests.fakes.calendar import FakeCalendar
from tests.fakes.github import FakeGitHub
from tests.fakes.gmail import FakeGmail
from tests.fakes.ingress import Ingress
from tests.fakes.slack import FakeSlack

TEAM = "T0000000001"
ALICE = "U0ALICE0001"
BOB = "U0BOB000002"
CHANNEL = "C0GENERAL01"  # the bot is a member
NO_BOT_CHANNEL = "C0RANDOM001"  # the bot is not
VERIFIER_SECRET = "test-verifier-secret-0123456789abcdef"


def arcade_user(user_id: str, team_id: str = TEAM) -> str:
    return f"slack:{team_id}:{user_id}"


@dataclass
class World:
    slack: FakeSlack
    arcade: FakeArcade
    gmail: FakeGmail
    ingress: Ingress  # PUBLIC_URL: the bot's own port is known only once it serves
    db: Path
    calendar: FakeCalendar
    github: FakeGitHub
    bots: list[RunningBot] = field(default_factory=list)
    providers: Iterable[AnyProvider] = SHIPPED  # what the bots a test starts offer

    def env(self, mode: str, **extra: str) -> dict[str, str]:
        env = {
            "SLACK_BOT_TOKEN": self.slack.bot_token,
            "SLACK_SIGNING_SECRET": self.slack.signing_secret,
            "SLACK_API_URL": self.slack.api_url,
            "ARCADE_API_KEY": self.arcade.api_key,
            "ARCADE_BASE_URL": self.arcade.base_url,
            "GMAIL_API_URL": self.gmail.base_url,
            "CALENDAR_API_URL": self.calendar.base_url,
            "GITHUB_API_URL": self.github.base_url,
            "DATABASE_URL": f"sqlite:///{self.db}",
            "HOST": "127.0.0.1",
            "PORT": "0",  # any free port, read back when the bot is ready
        }
        if mode == "socket":
            env["SLACK_APP_TOKEN"] = self.slack.app_token
        env.update(extra)
        # The custom user verifier (ARCADE_USER_VERIFIER's default) signs in with the fake Slack.
        env.setdefault("PUBLIC_URL", self.ingress.url)
        env.setdefault("SLACK_CLIENT_ID", self.slack.oidc.client_id)
        env.setdefault("SLACK_CLIENT_SECRET", self.slack.oidc.client_secret)
        env.setdefault("VERIFIER_SECRET", VERIFIER_SECRET)
        return env

    async def start_bot(self, mode: str = "http", **extra: str) -> RunningBot:
        settings = Settings.from_env(self.env(mode, **extra))
        if settings.public_url:  # the Slack app's registered redirect URL (manifest oauth_config.redirect_urls)
            self.slack.oidc.redirect_urls.add(f"{settings.public_url}/arcade/verify/callback")
        bot = RunningBot(settings, self.providers)
        self.bots.append(bot)
        await bot.started()
        self.ingress.target = bot.url
        if mode == "socket":
            await self.slack.wait_socket_connected()
        else:
            self.slack.app_url = f"{bot.url}/slack/events"
        return bot


class RunningBot:
    def __init__(self, settings: Settings, providers: Iterable[AnyProvider] = SHIPPED) -> None:
        self.settings = settings
        self.stop = asyncio.Event()
        self.ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()  # the port it serves on
        self.task = asyncio.create_task(serve(settings, self.stop, self.ready, providers))

    @property
    def url(self) -> str:
        """Where the bot serves (loopback): Slack's events and /healthz; PUBLIC_URL is the ingress."""
        return f"http://127.0.0.1:{self.ready.result()}"

    async def started(self) -> None:
        either: set[asyncio.Future[Any]] = {self.ready, self.task}
        done, _ = await asyncio.wait(either, timeout=15, return_when=asyncio.FIRST_COMPLETED)
        if self.task in done:
            self.task.result()  # raises what serve() raised
        assert self.ready in done, "the bot did not become ready in 15 s"

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, timeout=15)


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    """Every button in a message's blocks (actions elements and section accessories)."""
    found: list[dict[str, Any]] = []
    for block in message.get("blocks") or []:
        if block.get("type") == "actions":
            found += [e for e in block.get("elements", []) if e.get("type") == "button"]
        accessory = block.get("accessory")
        if isinstance(accessory, dict) and accessory.get("type") == "button":
            found.append(accessory)
    return found


def text_of(message: dict[str, Any]) -> str:
    """All visible text of a message: the fallback and every text inside its blocks."""
    parts = [str(message.get("text") or "")]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                parts.append(node["text"])
            for value in node.values():
                if isinstance(value, dict | list):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.get("blocks") or [])
    return "\n".join(parts)
