"""bot.work.AfterAck: the work behind an ack is bounded, reported when it fails, stopped at shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.errors import BotError
from bot.slack.work import AfterAck


class Reports:
    def __init__(self) -> None:
        self.seen: list[tuple[Exception, dict[str, Any]]] = []

    async def __call__(self, error: Exception, body: dict[str, Any]) -> None:
        self.seen.append((error, body))


async def test_no_more_than_the_limit_run_at_once_and_all_run() -> None:
    running, most, done = 0, 0, []
    work = AfterAck(Reports(), limit=3)

    def job(n: int) -> Any:
        async def run() -> None:
            nonlocal running, most
            running += 1
            most = max(most, running)
            await asyncio.sleep(0.01)
            running -= 1
            done.append(n)

        return run

    for n in range(20):
        work.run({}, job(n))
    for _ in range(100):
        if len(done) == 20:
            break
        await asyncio.sleep(0.01)
    assert sorted(done) == list(range(20))
    assert most == 3


async def test_a_failure_is_reported_with_its_request_and_does_not_stop_the_others() -> None:
    reports = Reports()
    work = AfterAck(reports, limit=1)
    finished = asyncio.Event()

    async def fails() -> None:
        raise BotError("Arcade said no")

    async def succeeds() -> None:
        finished.set()

    work.run({"user_id": "U1"}, fails)
    work.run({"user_id": "U2"}, succeeds)
    await asyncio.wait_for(finished.wait(), 1)
    assert [(str(e), body) for e, body in reports.seen] == [("Arcade said no", {"user_id": "U1"})]


async def test_close_cancels_waiting_and_running_work_without_reporting_it() -> None:
    reports = Reports()
    work = AfterAck(reports, limit=1)
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.sleep(3600)

    work.run({}, forever)
    work.run({}, forever)  # waits for the slot
    await asyncio.wait_for(started.wait(), 1)
    await asyncio.wait_for(work.close(), 1)
    assert reports.seen == []
