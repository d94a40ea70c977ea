"""Side experiment: what one waiting user's long-poll costs, by HTTP client layout.

    .venv/bin/python -m bench.transport [--users 5000] [--wait 10] [--rounds 3]

``--users`` pending flows at the fake Arcade (its own process) are long-polled ``--rounds`` times
each with ``wait=--wait`` from this process, through:

* ``httpx-256``: arcadepy clients on httpx pools of 256 connections, sharded by auth id;
* ``httpx-32``: the same with pools of 32 connections;
* ``arcadepy-aiohttp``: one arcadepy client on arcadepy's ``DefaultAioHttpClient`` (httpx's API
  over an aiohttp connector, the ``arcadepy[aiohttp]`` extra) as it comes, its connector sized to
  ``--users``: arcadepy builds every header for each request;
* ``bot``: the bot's poll client (``bot.arcade_client.new_client``), sized to ``--users``: the same, but
  with the constant headers set once as the aiohttp session's defaults;
* ``aiohttp``: plain ``GET /v1/auth/status`` on one aiohttp session with an unlimited connector.

Printed per layout: RSS per open long-poll, CPU per poll, and how far the last round ran behind
its schedule (a layout that cannot renew N polls per ``wait`` seconds falls behind).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import httpx
from arcadepy import AsyncArcade, DefaultAioHttpClient

from bench import procs
from bot.arcade_client import new_client

Poll = Callable[[str], Awaitable[object]]


async def _flows(base: str, key: str, users: int) -> list[str]:
    headers = {"Authorization": f"Bearer {key}"}
    requirement = {"provider_id": "google", "oauth2": {"scopes": ["gmail.readonly"]}}
    async with httpx.AsyncClient(base_url=base, headers=headers) as client:
        ids = []
        for i in range(users):
            answer = await client.post("/v1/auth/authorize", json={"user_id": f"u{i}", "auth_requirement": requirement})
            ids.append(str(answer.json()["id"]))
    return ids


async def _measure(layout: str, poll: Poll, ids: list[str], wait: int, rounds: int) -> str:
    pid = os.getpid()
    rss0, cpu0 = procs.rss_kb(pid), procs.cpu_seconds(pid)

    async def user(auth_id: str) -> None:
        for _ in range(rounds):
            await poll(auth_id)

    every = asyncio.gather(*(user(i) for i in ids))
    await asyncio.sleep(wait / 2)
    rss1, started = procs.rss_kb(pid), time.monotonic()
    await every
    behind = time.monotonic() - started - (rounds - 0.5) * wait
    cpu = (procs.cpu_seconds(pid) - cpu0) / (len(ids) * rounds) * 1000
    per_poll = (rss1 - rss0) / len(ids)
    return f"{layout:16s} RSS/long-poll {per_poll:5.1f} KB  CPU/poll {cpu:5.2f} ms  behind schedule {behind:+6.1f} s"


async def run(layout: str, users: int, wait: int, rounds: int) -> str:
    log_dir = Path(tempfile.mkdtemp(prefix="bench-transport-"))
    fake = await procs.spawn_fakes("arcade", ["--uvloop"], log_dir)
    try:
        base, key = fake.info["arcade_url"], fake.info["api_key"]
        ids = await _flows(base, key, users)
        if layout.startswith("httpx-"):
            size = int(layout.removeprefix("httpx-"))
            limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
            timeout = httpx.Timeout(wait + 15.0, connect=5.0, pool=None)
            shards = [
                AsyncArcade(
                    api_key=key,
                    base_url=base,
                    max_retries=0,
                    http_client=httpx.AsyncClient(limits=limits, timeout=timeout),
                )
                for _ in range(-(-users // size) + 1)
            ]

            async def arcadepy_poll(auth_id: str) -> object:
                shard = shards[zlib.crc32(auth_id.encode()) % len(shards)]
                return (await shard.auth.status(id=auth_id, wait=wait)).status

            try:
                return await _measure(layout, arcadepy_poll, ids, wait, rounds)
            finally:
                await asyncio.gather(*(s.close() for s in shards))
        if layout == "bot":
            timeout = httpx.Timeout(wait + 15.0, connect=5.0, pool=None)
            tls = httpx.create_ssl_context()
            poller = new_client(api_key=key, base_url=base, max_retries=0, timeout=timeout, connections=users, tls=tls)

            async def bot_poll(auth_id: str) -> object:
                return (await poller.auth.status(id=auth_id, wait=wait)).status

            async with poller:
                return await _measure(layout, bot_poll, ids, wait, rounds)
        if layout == "arcadepy-aiohttp":
            # httpx-aiohttp sizes its aiohttp connector from httpx's max_connections (None would mean aiohttp's 100)
            limits = httpx.Limits(max_connections=users, max_keepalive_connections=users)
            timeout = httpx.Timeout(wait + 15.0, connect=5.0, pool=None)
            client = AsyncArcade(
                api_key=key,
                base_url=base,
                max_retries=0,
                http_client=DefaultAioHttpClient(limits=limits, timeout=timeout),
            )

            async def aiohttp_arcadepy_poll(auth_id: str) -> object:
                return (await client.auth.status(id=auth_id, wait=wait)).status

            async with client:
                return await _measure(layout, aiohttp_arcadepy_poll, ids, wait, rounds)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(
            base, connector=connector, headers={"Authorization": f"Bearer {key}"}
        ) as session:

            async def aiohttp_poll(auth_id: str) -> object:
                async with session.get("/v1/auth/status", params={"id": auth_id, "wait": str(wait)}) as response:
                    return (await response.json())["status"]

            return await _measure(layout, aiohttp_poll, ids, wait, rounds)
    finally:
        await fake.stop()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.transport", description=__doc__)
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--wait", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--layouts", default="httpx-256,httpx-32,arcadepy-aiohttp,bot,aiohttp")
    args = parser.parse_args()
    layouts = args.layouts.split(",")
    if len(layouts) > 1:  # one fresh process per layout: no sockets or ports left over from the previous one
        print(f"{args.users} long-polls, wait={args.wait}s, {args.rounds} rounds", flush=True)
        for layout in layouts:
            argv = [sys.executable, "-m", "bench.transport", "--layouts", layout]
            argv += ["--users", str(args.users), "--wait", str(args.wait), "--rounds", str(args.rounds)]
            subprocess.run(argv, cwd=procs.ROOT, check=False)
        return 0
    procs.raise_nofile()
    print(asyncio.run(run(layouts[0], args.users, args.wait, args.rounds)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
