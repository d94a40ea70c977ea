"""Slash commands in HTTP mode, sent and timed from the harness's own process.

The fake Slack also serves the bot's Web API calls and ``response_url`` posts. During a burst of
1,000 commands next to 1,000 deliveries its event loop lagged by up to a second (p99), so acks
timed there measured the fake as much as the bot. Here the fake only builds and signs the
requests (``/ctl/commands``). This process, which waits on nothing else meanwhile, sends them:
- each on a new connection;
- from ``SENDERS`` loopback addresses, as Slack's senders do;
- each at its slot.
It times the acks against Slack's 3-s deadline.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from bench.fakes_host import SENDERS

ACK_DEADLINE = 3.0  # s: Slack shows the user operation_timeout after that


class CommandSender:
    def __init__(self) -> None:
        self._sessions: list[aiohttp.ClientSession] = []
        self._sent = 0

    async def __aenter__(self) -> CommandSender:
        for n in range(SENDERS):
            connector = aiohttp.TCPConnector(limit=0, force_close=True, local_addr=(f"127.0.0.{n + 2}", 0))
            self._sessions.append(aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for session in self._sessions:
            await session.close()

    async def burst(self, url: str, requests: list[list[Any]], start: float, step: float) -> list[list[Any]]:
        """``requests``: ``[user, body, headers]`` each, sent at ``start + i * step`` (monotonic);
        returns ``[user, status, elapsed, sent]`` each, status 0 when not acked within 3 s."""

        async def one(index: int, user: str, body: str, headers: dict[str, str]) -> list[Any]:
            await asyncio.sleep(max(0.0, start + index * step - time.monotonic()))
            self._sent += 1
            session = self._sessions[self._sent % len(self._sessions)]
            sent, started = time.monotonic(), time.perf_counter()
            try:
                timeout = aiohttp.ClientTimeout(total=ACK_DEADLINE)
                async with session.post(url, data=body.encode(), headers=headers, timeout=timeout) as response:
                    await response.read()
                    status = response.status
            except (TimeoutError, aiohttp.ClientError):
                status = 0
            return [user, status, time.perf_counter() - started, sent]

        return await asyncio.gather(*(one(i, *request) for i, request in enumerate(requests)))
