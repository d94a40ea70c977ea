"""Helpers for the reliability, security and load tests.

``BotProcess`` runs the real bot as a separate process (``python -m bot``, HTTP mode unless
``mode="socket"``) for tests that kill it, signal it or watch it refuse to start: the fakes keep
running in the test's event loop and the bot talks to them over loopback exactly as in production.
``kill`` is SIGKILL: no shutdown code runs, like a crash or an OOM kill. With the custom verifier
(the default), the fake Arcade's verifier setting is pointed at the bot, as a deployer would.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import aiohttp

import bot
from bot.verifier import CALLBACK_PATH, VERIFY_PATH
from tests.fakes.served import Served
from tests.world import TEAM, World, buttons

LABELS_HEADER = "Your Gmail labels"
_READY = re.compile(r"bot\.ready mode=\S+ web=\S+:(\d+)")  # the port the bot bound
GMAIL_SCOPE = "https://www.googleapis.com/auth/gmail.readonly"


def is_labels(message: dict[str, Any]) -> bool:
    """A labels list: the message (or posted payload) has the "Your Gmail labels" header block."""
    blocks = message.get("blocks")
    if isinstance(blocks, str):  # a form-encoded post
        return LABELS_HEADER in blocks
    return any(
        isinstance(b, dict) and b.get("type") == "header" and LABELS_HEADER in str(b.get("text")) for b in blocks or []
    )


def label_lists(world: World, user: str, team: str = TEAM) -> list[dict[str, Any]]:
    return [m for m in world.slack.private_to(user, team) if is_labels(m)]


def prompts(world: World, user: str, team: str = TEAM) -> list[dict[str, Any]]:
    return [m for m in world.slack.private_to(user, team) if buttons(m)]


async def settle(seconds: float = 1.0) -> None:
    """Give a wrongly duplicated message the time to show up before counting."""
    await asyncio.sleep(seconds)


class BotProcess(Served):
    def __init__(self, world: World, log: Path, *, mode: str = "http", **extra: str) -> None:
        # The child runs the same ``bot`` package these tests import, wherever the checkout is.
        root = str(Path(bot.__file__).resolve().parent.parent)
        # One process unless a test asks for WORKERS: the default is one per core.
        base = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": root, "WORKERS": "1"}
        self.env = {**base, **world.env(mode, **extra)}
        self.port = 0  # the bot binds any free port; read back from its bot.ready line at each start
        if self.env.get("ARCADE_USER_VERIFIER", "custom") == "custom":
            world.arcade.verifier_url = f"{self.env['PUBLIC_URL']}{VERIFY_PATH}"
            world.slack.oidc.redirect_urls.add(f"{self.env['PUBLIC_URL']}{CALLBACK_PATH}")
        self.log = log
        self.world = world
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0
        self._out: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout: float = 20.0) -> None:  # noqa: ASYNC109 - a plain bound reads best in tests
        """Spawn the bot and wait until it serves and has finished its start-up work (``bot.ready``)."""
        proc = await self.spawn()
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while True:
                if proc.returncode is not None:
                    raise AssertionError(f"the bot exited with {proc.returncode}:\n{self.output()[-3000:]}")
                ready = _READY.findall(self.output())
                if len(ready) >= self.starts:
                    self.port = int(ready[-1])
                    if await _healthy(session, self.url):
                        self.world.slack.app_url = f"{self.url}/slack/events"
                        self.world.ingress.target = self.url
                        return
                if time.monotonic() > deadline:
                    raise AssertionError(f"the bot was not ready in {timeout} s:\n{self.output()[-3000:]}")
                await asyncio.sleep(0.05)

    async def spawn(self, *args: str) -> asyncio.subprocess.Process:
        """Start ``python -m bot *args`` without waiting for anything."""
        assert self.proc is None or self.proc.returncode is not None, "already running"
        self.starts += 1
        if self._out is not None:  # the previous run ended on its own (a signal, an exit)
            self._out.close()
        self._out = self.log.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *args,
            env=self.env,
            cwd=self.log.parent,  # no stray .env is read
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )
        return self.proc

    async def exited(self, timeout: float) -> int:  # noqa: ASYNC109 - a plain bound reads best in tests
        """Wait up to ``timeout`` seconds for the process to end; its exit code."""
        assert self.proc is not None
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"the bot still runs after {timeout} s:\n{self.output()[-3000:]}") from None

    def signal(self, signum: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    async def kill(self) -> None:
        """SIGKILL, and reap it."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._out is not None:
            self._out.close()
            self._out = None

    def output(self) -> str:
        """Everything the bot wrote to stdout and stderr so far (all runs)."""
        return self.log.read_text("utf-8", errors="replace") if self.log.exists() else ""

    async def stop(self) -> None:
        await self.kill()


async def _healthy(session: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with session.get(f"{url}/healthz", timeout=aiohttp.ClientTimeout(total=1)) as response:
            return response.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


def has_labels(world: World, user: str, team: str = TEAM) -> bool:
    return bool(label_lists(world, user, team))
