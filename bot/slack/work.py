"""Work after the ack: bounded, tracked, and never silent.

Bolt runs with ``process_before_response``: a listener acknowledges and returns at once, and Bolt
answers Slack as soon as it returns (otherwise Bolt polls for the ack every 10 ms, a floor under
every ack). What the request asked for runs here as a task:

* at most ``LIMIT`` at once; the rest wait their turn without touching the event loop, so a
  burst of commands cannot crowd out the acks of the commands after it;
* a failure is reported to the user the way the app's error handler does it (``report``);
* tasks are kept until done and cancelled at shutdown. A request still waiting for its slot then
  is dropped, as one half-answered was before this existed (its user asks again); flows already
  started and answers already owed live in the store and survive.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from bot.tasks import Background

# Measured with bench/ (1,000 commands in 1 s, zero-latency fakes): fewer slots give quicker acks
# (p50 7 ms at 32, 24 ms at 128); more slots keep more requests moving when each Arcade or Slack
# call takes ~50-100 ms (estimated: 64 slots at ~150 ms a request, ~400 requests/s).
LIMIT = 64

Report = Callable[[Exception, dict[str, Any]], Awaitable[None]]


class AfterAck:
    def __init__(self, report: Report, limit: int = LIMIT) -> None:
        self._report = report
        self._slots = asyncio.Semaphore(limit)
        self._tasks = Background()

    def run(self, body: dict[str, Any], work: Callable[[], Awaitable[None]]) -> None:
        """Start ``work`` for the request ``body`` once a slot is free; return at once."""
        self._tasks.spawn(self._run(body, work))

    async def _run(self, body: dict[str, Any], work: Callable[[], Awaitable[None]]) -> None:
        try:
            async with self._slots:
                await work()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported to the user and logged by ``report``
            await self._report(exc, body)

    async def close(self) -> None:
        await self._tasks.close()
