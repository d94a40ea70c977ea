"""Replicas share the work through the store: real ``python -m bot`` processes on one SQLite file
or one PostgreSQL database.

Each pending authorization is waited on by one replica at a time (the fake Arcade records any
status call that begins while another for the same authorization is still open); a replica that
is SIGKILLed loses its waits to the others once its leases run out; a clean stop hands them back
at once; ``WORKERS=N`` runs N supervised workers on one port from one command.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from tests.databases import fresh_postgres_database, pg_ctl
from tests.support import BotProcess, label_lists, prompts, settle
from tests.world import TEAM, World, arcade_user, buttons, text_of

pytestmark = pytest.mark.serial  # real replicas under load, and a PostgreSQL outage: scripts/test runs it alone

LEASE = 6  # seconds; renewed every 2 s
POLL_CAP = 2  # the fake answers a still-pending long-poll after 2 s, so a dead replica's polls end before takeover


def _users(count: int, prefix: str = "U0REP") -> list[str]:
    return [f"{prefix}{n:06d}" for n in range(count)]


async def _replicas(
    stack: AsyncExitStack, world: World, tmp_path: Path, count: int, mode: str, database: str | None = None
) -> list[BotProcess]:
    extra = {"LEASE_SECONDS": str(LEASE)}
    if database is not None:
        extra["DATABASE_URL"] = database
    if mode == "socket":
        world.slack.spread_socket_envelopes()
    first = BotProcess(world, tmp_path / "replica-0.log", mode=mode, **extra)
    extra["PUBLIC_URL"] = first.env["PUBLIC_URL"]  # one public URL for all, as behind a load balancer
    bots = [first, *(BotProcess(world, tmp_path / f"replica-{n}.log", mode=mode, **extra) for n in range(1, count))]
    for bot in bots:
        await stack.enter_async_context(bot)
    if mode == "socket":
        await world.slack.wait_for(lambda: world.slack.open_sockets() == count, timeout=10)
    return bots


async def _ask(world: World, bots: list[BotProcess], users: list[str], mode: str) -> None:
    """Send each user's /connect-gmail, spread over the replicas (in HTTP mode by URL, in Socket Mode by Slack)."""
    for n, user in enumerate(users):
        if mode == "http":
            world.slack.app_url = f"{bots[n % len(bots)].url}/slack/events"
        ack = await world.slack.slash_command(user, team_id=TEAM, mode=mode)
        assert ack.status == 200


def _answered_once(world: World, users: list[str]) -> bool:
    return all(len(label_lists(world, u)) == 1 for u in users)


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_a_replica_killed_mid_wait_loses_nobody_and_nobody_is_answered_twice(
    world: World, tmp_path: Path, mode: str, database_url: str
) -> None:
    world.arcade.wait_cap = POLL_CAP
    users = _users(300)
    async with AsyncExitStack() as stack:
        bots = await _replicas(stack, world, tmp_path, 3, mode, database_url)
        await _ask(world, bots, users, mode)
        await world.slack.wait_for(lambda: all(prompts(world, u) for u in users), timeout=60)

        await bots[0].kill()
        killed_at = time.monotonic()
        for user in users:
            await world.arcade.approve(arcade_user(user))
        await world.slack.wait_for(lambda: all(label_lists(world, u) for u in users), timeout=LEASE + 30)
        took = time.monotonic() - killed_at
        await settle(2)

        counts = {u: len(label_lists(world, u)) for u in users}
        assert set(counts.values()) == {1}, {u: c for u, c in counts.items() if c != 1}
        assert all(len(prompts(world, u)) == 1 for u in users)
        assert world.arcade.double_polls == []
        assert took < LEASE + 5, took  # the dead replica's users too: its leases ran out, the others took over
        assert all("Traceback" not in bot.output() for bot in bots[1:])


async def test_a_clean_stop_hands_the_waits_over_at_once(world: World, tmp_path: Path) -> None:
    world.arcade.wait_cap = POLL_CAP
    users = _users(30, "U0HAND")
    async with AsyncExitStack() as stack:
        bots = await _replicas(stack, world, tmp_path, 2, "http")
        world.slack.app_url = f"{bots[0].url}/slack/events"
        await _ask(world, bots[:1], users, "http")  # every wait starts on the first replica
        await world.slack.wait_for(lambda: all(prompts(world, u) for u in users), timeout=30)

        assert bots[0].proc is not None
        bots[0].proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(bots[0].proc.wait(), timeout=10)
        assert "lease.released" in bots[0].output()
        stopped_at = time.monotonic()
        for user in users:
            await world.arcade.approve(arcade_user(user))
        await world.slack.wait_for(lambda: _answered_once(world, users), timeout=LEASE)
        assert time.monotonic() - stopped_at < LEASE  # well before the lease would have run out
        await settle()
        assert _answered_once(world, users)
        assert world.arcade.double_polls == []


async def test_a_second_command_on_another_replica_resends_the_same_link(world: World, tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        bots = await _replicas(stack, world, tmp_path, 2, "http")
        await _ask(world, bots, ["U0TWICE001", "U0TWICE001"], "http")  # one command on each replica
        await world.slack.wait_for(lambda: len(prompts(world, "U0TWICE001")) == 2)
        first, second = prompts(world, "U0TWICE001")  # the two replicas answer in either order
        assert [b.get("url") for b in buttons(first)] == [b.get("url") for b in buttons(second)]
        assert sorted("already have a link waiting" in text_of(p) for p in (first, second)) == [False, True]
        await settle()
        assert len(world.arcade.pending_for(arcade_user("U0TWICE001"))) == 1
        assert world.arcade.double_polls == []


async def test_workers_share_one_port_restart_a_dead_worker_and_stop_together(world: World, tmp_path: Path) -> None:
    users = _users(40, "U0WORK")
    async with BotProcess(world, tmp_path / "workers.log", WORKERS="2", LEASE_SECONDS=str(LEASE)) as bot:
        await world.slack.wait_for(lambda: bot.output().count("bot.ready") == 2, timeout=20)
        ready = [line for line in bot.output().splitlines() if "bot.ready" in line]
        assert len({line.split("owner=")[1].split()[0] for line in ready}) == 2  # two processes
        assert len({line.split("web=")[1].split()[0] for line in ready}) == 1  # on one port (PORT=0 settled once)
        await _ask(world, [bot], users, "http")
        await world.slack.wait_for(lambda: all(prompts(world, u) for u in users), timeout=30)
        for user in users:
            await world.arcade.approve(arcade_user(user))
        await world.slack.wait_for(lambda: _answered_once(world, users), timeout=30)

        pid = int(next(line for line in bot.output().splitlines() if "workers.worker_started" in line).split("pid=")[1])
        os.kill(pid, signal.SIGKILL)
        await world.slack.wait_for(lambda: "workers.worker_died" in bot.output(), timeout=10)
        await world.slack.wait_for(lambda: bot.output().count("bot.ready") == 3, timeout=20)

        assert bot.proc is not None
        started = time.monotonic()
        bot.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(bot.proc.wait(), timeout=25) == 0
        assert time.monotonic() - started < 25
        assert bot.output().count("lease.released") == 2  # each worker stopped cleanly


async def test_a_rolling_restart_under_a_trickle_loses_and_doubles_nothing(
    world: World, tmp_path: Path, database_url: str
) -> None:
    """Each replica in turn is stopped (SIGTERM) and started again while commands and approvals keep
    arriving: every user is answered once, and every command is acknowledged within Slack's 3 s."""
    world.arcade.wait_cap = POLL_CAP
    async with AsyncExitStack() as stack:
        bots = await _replicas(stack, world, tmp_path, 3, "http", database_url)
        asked: list[str] = []
        acks: list[float] = []
        stop = asyncio.Event()
        draining: set[int] = set()  # the replica being restarted: out of rotation, as a load balancer does

        async def trickle() -> None:
            n = 0
            while not stop.is_set():
                user = f"U0ROLL{n:05d}"
                live = [b for n, b in enumerate(bots) if n not in draining]
                world.slack.app_url = f"{live[n % len(live)].url}/slack/events"
                started = time.monotonic()
                ack = await world.slack.slash_command(user, team_id=TEAM)
                acks.append(time.monotonic() - started)
                assert ack.status == 200
                asked.append(user)
                n += 1
                await asyncio.sleep(0.05)

        async def approve() -> None:
            approved: set[str] = set()
            while not stop.is_set() or len(approved) < len(asked):
                for user in [u for u in asked if u not in approved and prompts(world, u)]:
                    await world.arcade.approve(arcade_user(user))
                    approved.add(user)
                await asyncio.sleep(0.1)

        workers = [asyncio.create_task(trickle()), asyncio.create_task(approve())]
        for n, bot in enumerate(bots):
            await asyncio.sleep(1.5)
            assert bot.proc is not None
            draining.add(n)
            await asyncio.sleep(0.2)  # a command already on its way there lands first
            bot.proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(bot.proc.wait(), timeout=10)
            await bot.start()
            draining.discard(n)
        await asyncio.sleep(1.5)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*workers), timeout=30)

        await world.slack.wait_for(lambda: all(label_lists(world, u) for u in asked), timeout=LEASE + 10)
        await settle(2)
        assert len(asked) > 40
        assert _answered_once(world, asked), {u: len(label_lists(world, u)) for u in asked}
        assert max(acks) < 3.0
        assert world.arcade.double_polls == []
        assert sum(bot.output().count("lease.released") for bot in bots) == 3


async def test_postgresql_down_for_10_seconds_loses_no_flow(world: World, tmp_path: Path) -> None:
    """The database stops while users wait: the bot keeps acknowledging, tells a user who asks
    meanwhile that it could not, and once the database is back every waiting user is answered once."""
    world.arcade.wait_cap = POLL_CAP
    users = _users(20, "U0PGDOWN")
    async with fresh_postgres_database() as url, AsyncExitStack() as stack:
        pg_ctl("status")  # skips unless the test run owns the server (scripts/test starts one)
        [bot] = await _replicas(stack, world, tmp_path, 1, "http", url)
        await _ask(world, [bot], users, "http")
        await world.slack.wait_for(lambda: all(prompts(world, u) for u in users), timeout=20)

        pg_ctl("stop", "-m", "fast")
        try:
            started = time.monotonic()
            ack = await world.slack.slash_command("U0PGASKER1", team_id=TEAM)
            assert ack.status == 200
            assert time.monotonic() - started < 3.0
            await world.slack.wait_for(
                lambda: any("database" in text_of(m) for m in world.slack.private_to("U0PGASKER1", TEAM)), timeout=25
            )
            await asyncio.sleep(max(0.0, 10 - (time.monotonic() - started)))
        finally:
            pg_ctl("start")
        for user in users:
            await world.arcade.approve(arcade_user(user))
        await world.slack.wait_for(lambda: _answered_once(world, users), timeout=LEASE + 20)
        await settle()
        assert _answered_once(world, users)
        assert bot.proc is not None
        assert bot.proc.returncode is None  # no crash
        assert "Traceback" not in bot.output()
