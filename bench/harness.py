"""The plumbing of one run: two fake hosts, the implementation under test, and how to talk to them."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp

from bench import procs
from bench.database import database
from bench.sender import CommandSender
from bench.stats import summary
from bot.verifier import VERIFY_PATH

LATENCIES: dict[str, dict[str, float]] = {
    "zero": {"slack": 0.0, "arcade": 0.0, "gmail": 0.0},
    "realistic": {"slack": 0.05, "arcade": 0.06, "gmail": 0.08},
}
AUTH_TIMEOUT = 3600  # longer than any run: nobody's link expires during the bench
READY_TIMEOUT = 60.0
PUBLIC_URL = "http://127.0.0.1"  # the bot's, not exercised (so not its unknown port); Arcade's verifier points there
READY_LINE = re.compile(r"\.ready\b.*? web=\S+:(\d+)")  # bot.ready / baseline.ready name the port they bound


@dataclass(frozen=True)
class RunConfig:
    impl: str  # "bot" | "baseline"
    mode: str  # "http" | "socket"
    latency: str  # key of LATENCIES
    ack_sizes: tuple[int, ...]  # commands sent within one second, one batch per size
    sizes: tuple[int, ...]  # waiting users who approve within one second, one batch per size
    window: float  # seconds of the waiting window with max(sizes) fresh users (0: skip)
    limit: float  # the longest any one phase may take
    uvloop: bool  # run the fakes on uvloop
    stall: float = 10.0  # give up on a phase after this long without progress
    workers: int = 1  # the bot's WORKERS: above 1, a supervisor whose children are the workers
    database: str = "sqlite"  # "sqlite" (a file in a temp dir) | "postgresql" (a fresh database on postgres_url)
    postgres_url: str = ""  # the server PostgreSQL runs create their database on
    window_size: int = 0  # fresh users waiting through the window (0: max(sizes))
    mixed_size: int = 0  # users waiting when the mixed bursts begin (0: no mixed bursts)
    mixed_burst: int = 0  # commands in the mixed bursts' second, and waiting users approving in it (0: none)

    @property
    def name(self) -> str:
        """``bot-http-zero``, and the workers and engine when they are not the default."""
        extra = f"-{self.workers}w-{self.database}" if self.impl == "bot" else ""
        return f"{self.impl}-{self.mode}-{self.latency}{extra}"


class Harness:
    """Starts the fake hosts on entry and stops everything on exit; ``start_target`` spawns the implementation."""

    def __init__(self, cfg: RunConfig, log_dir: Path) -> None:
        self.cfg = cfg
        self.log_dir = log_dir
        self.port = 0  # the implementation binds any free port (PORT=0); read back from its log once ready
        self.slack: procs.Child | None = None
        self.arcade: procs.Child | None = None
        self.target: procs.Child | None = None
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        self.sender = CommandSender()  # HTTP mode's slash commands (bench.sender)
        self._batch = 0
        self._db_dir = tempfile.TemporaryDirectory(prefix="bench-db-")
        self._stack = contextlib.AsyncExitStack()
        self.database_url = ""

    async def __aenter__(self) -> Self:
        where = Path(self._db_dir.name)
        self.database_url = await self._stack.enter_async_context(
            database(self.cfg.database, where, self.cfg.postgres_url)
        )
        lat = LATENCIES[self.cfg.latency]
        extra = ["--uvloop"] if self.cfg.uvloop else []
        self.slack = await procs.spawn_fakes("slack", ["--latency", str(lat["slack"]), *extra], self.log_dir)
        arcade_args = ["--arcade-latency", str(lat["arcade"]), "--gmail-latency", str(lat["gmail"]), *extra]
        arcade_args += ["--verifier-url", f"{PUBLIC_URL}{VERIFY_PATH}"]
        self.arcade = await procs.spawn_fakes("arcade", arcade_args, self.log_dir)
        await self._stack.enter_async_context(self.sender)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for child in (self.target, self.slack, self.arcade):
            if child is not None:
                await child.stop()
        await self.session.close()
        await self._stack.aclose()
        self._db_dir.cleanup()

    async def ctl(self, host: procs.Child | None, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call a fake host's control API (GET without a body, POST with one)."""
        assert host is not None
        url = host.info["ctl"] + path
        request = self.session.post(url, json=body) if body is not None else self.session.get(url)
        async with request as response:
            response.raise_for_status()
            answer: dict[str, Any] = await response.json()
            return answer

    def env(self) -> dict[str, str]:
        """The implementation's environment: every URL points at the fakes."""
        assert self.slack is not None
        assert self.arcade is not None
        s, a = self.slack.info, self.arcade.info
        env = {
            "SLACK_BOT_TOKEN": s["bot_token"],
            "SLACK_SIGNING_SECRET": s["signing_secret"],
            "SLACK_API_URL": s["api_url"],
            "SLACK_APP_TOKEN": s["app_token"] if self.cfg.mode == "socket" else "",
            "ARCADE_API_KEY": a["api_key"],
            "ARCADE_BASE_URL": a["arcade_url"],
            "GMAIL_API_URL": a["gmail_url"],
            "DATABASE_URL": self.database_url,
            "HOST": "127.0.0.1",
            "PORT": "0",
            "AUTH_TIMEOUT_SECONDS": str(AUTH_TIMEOUT),
            "LOG_LEVEL": "INFO",
        }
        if self.cfg.impl == "bot":
            # The bot's default (custom) user verifier, configured but not exercised: the fake Arcade
            # has no verifier stage, so an approval flips the flow to completed directly.
            env |= {
                "WORKERS": str(self.cfg.workers),
                "ARCADE_USER_VERIFIER": "custom",
                "PUBLIC_URL": PUBLIC_URL,
                "SLACK_CLIENT_ID": "1111111111.2222222222",
                "SLACK_CLIENT_SECRET": "bench-client-secret",
                "VERIFIER_SECRET": "bench-verifier-secret-0123456789abcdef",
            }
        return env

    def users(self, count: int) -> list[str]:
        """``count`` Slack user ids nobody used yet in this run."""
        self._batch += 1
        return [f"U{self._batch:02d}{i:07d}" for i in range(count)]

    def target_pids(self) -> list[int]:
        """The processes doing the work: a supervisor's workers (``WORKERS`` > 1), else the process itself."""
        assert self.target is not None
        if self.cfg.impl == "bot" and self.cfg.workers > 1:
            return procs.children(self.target.pid)
        return [self.target.pid]

    def target_cpu(self) -> float:
        """CPU seconds so far, summed over the implementation's working processes."""
        return procs.total(procs.cpu_seconds, self.target_pids())

    def target_rss_kb(self) -> int:
        """VmRSS summed over the implementation's working processes."""
        return int(procs.total(procs.rss_kb, self.target_pids()))

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of the implementation and of each fake host."""
        fakes = {"fakes_slack": self.slack, "fakes_arcade": self.arcade}
        return {"target": self.target_cpu()} | {name: procs.cpu_seconds(c.pid) for name, c in fakes.items() if c}

    async def lag_p99_ms(self, since: float, until: float) -> float | None:
        """p99 event-loop lag of the fake Slack (the fake that times acks) over an interval."""
        lags = (await self.ctl(self.slack, "/ctl/lag", {"since": since, "until": until}))["lags"]
        p99 = summary(lags)["p99_ms"]
        return None if p99 is None else float(p99)

    def spawn_target(self, name: str, extra: dict[str, str] | None = None) -> procs.Child:
        """Spawn the implementation (``python -m bot`` or the baseline) with ``extra`` on top of ``env()``."""
        module = "bot" if self.cfg.impl == "bot" else "bench.baseline"
        return procs.spawn(name, [sys.executable, "-m", module], self.env() | (extra or {}), self.log_dir)

    async def start_target(self) -> dict[str, Any]:
        """Spawn the implementation; time from spawn to ready (/healthz answers, or socket connected)."""
        self.target = self.spawn_target(self.cfg.impl)
        self.port = await self.wait_ready(self.target, self.cfg.workers if self.cfg.impl == "bot" else 1)
        startup = time.monotonic() - self.target.spawned_at
        await asyncio.sleep(2.0)  # let start-up work settle before reading idle memory
        return {"startup_s": round(startup, 3), "idle_rss_kb": self.target_rss_kb()}

    async def wait_ready(self, child: procs.Child, processes: int = 1) -> int:
        """Wait until ``processes`` of ``child`` reported ready (and, in Socket Mode, connected); its port."""
        while not await self._ready(child, processes):
            if not child.alive():
                raise RuntimeError(f"{child.name} exited at start-up:\n{child.log_tail()}")
            if time.monotonic() - child.spawned_at > READY_TIMEOUT:
                raise RuntimeError(f"{child.name} not ready after {READY_TIMEOUT:g} s:\n{child.log_tail()}")
            await asyncio.sleep(0.01)
        return int(READY_LINE.findall(child.log_path.read_text(errors="replace"))[-1])

    async def _ready(self, child: procs.Child, processes: int) -> bool:
        bound = READY_LINE.findall(child.log_path.read_text(errors="replace"))
        if len(bound) < processes:
            return False
        if self.cfg.mode == "socket":
            return int((await self.ctl(self.slack, "/ctl/socket"))["connections"]) >= processes
        try:
            async with self.session.get(f"http://127.0.0.1:{bound[-1]}/healthz") as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False


def busiest_fake(before: dict[str, float], after: dict[str, float], seconds: float) -> float:
    """The highest CPU use (% of one core) of the two fake hosts over a phase: near 100 means fake-bound."""
    fakes = ("fakes_slack", "fakes_arcade")
    return round(max(after[f] - before[f] for f in fakes) / max(seconds, 0.1) * 100, 1)
