"""Side experiment: where the memory of one open status long-poll goes, through the bot's own code.

    .venv/bin/python -m bench.pollmem [--users 5000] [--wait 20] [--variant bot] [--trace 25]

Starts the fake Arcade (its own process), creates ``--users`` pending flows, then opens one
``Arcade.poll(auth_id, --wait)`` per flow (bot/arcade.py, as ``authflow`` calls it) and, half-way
through the wait, prints RSS per open poll (RSS with every poll open minus RSS before, over
``--users``) and CPU per poll. ``--trace N`` also runs tracemalloc (N frames) and prints the Python
heap per open poll: the top tracebacks, then totals by package, by the innermost line of each
library (arcadepy, httpx, httpx_aiohttp, aiohttp, yarl, multidict, pydantic, asyncio, bot) and by
line. tracemalloc makes each poll ~25 times dearer, so with it the polls start in small batches
(use ``--users 2000 --wait 59``, all must be open before the wait is half over), and the RSS and
CPU figures of such a run mean nothing.

``--variant`` picks the poll client: ``bot`` is bot/arcade.py as it stands; the others are
candidates (see ``VARIANTS``). ``--gc`` runs ``gc.collect()`` and glibc ``malloc_trim(0)`` before
the measurement, to tell live memory from garbage the allocator keeps.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import json
import os
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from arcadepy import AsyncArcade, DefaultAioHttpClient, omit
from httpx_aiohttp import AiohttpTransport
from multidict import CIMultiDict, istr

from bench import procs
from bench.transport import _flows
from bot import arcade as bot_arcade
from bot.arcade import Arcade
from bot.arcade_client import PER_REQUEST

Poll = Callable[[str, int], Awaitable[object]]
POLL_TIMEOUT = httpx.Timeout(bot_arcade.POLL_READ_TIMEOUT, connect=5.0, pool=None)  # as arcadepy pollers had it
LIBS = ("arcadepy", "httpx_aiohttp", "httpx", "aiohttp", "yarl", "multidict", "pydantic", "asyncio", "bot", "bench")


def _sdk_poll(poller: AsyncArcade) -> Poll:
    """A poll through arcadepy (as bot/arcade.py polled before bot.arcade_poll)."""

    async def poll(auth_id: str, wait: int) -> object:
        return (await poller.auth.status(id=auth_id, wait=wait)).status

    return poll


@asynccontextmanager
async def _bot(base: str, key: str, users: int) -> AsyncIterator[Poll]:
    async with Arcade.open(api_key=key, base_url=base, scopes=("gmail.readonly",)) as arcade:
        yield arcade.poll


def _poller(key: str, base: str, http: dict[str, Any] | None = None, **arcade: Any) -> AsyncArcade:
    """A client built the way bot.arcade_client.new_client builds the poll client, plus the given options."""
    limits = httpx.Limits(
        max_connections=bot_arcade.POLL_CONNECTIONS, max_keepalive_connections=bot_arcade.POLL_CONNECTIONS
    )
    client = DefaultAioHttpClient(verify=httpx.create_ssl_context(), limits=limits, **(http or {}))
    timeout = POLL_TIMEOUT
    return AsyncArcade(api_key=key, base_url=base, max_retries=0, timeout=timeout, http_client=client, **arcade)


@asynccontextmanager
async def _no_stainless(base: str, key: str, users: int) -> AsyncIterator[Poll]:
    """Product decision, not applied: no X-Stainless-* telemetry headers (9 of the 16)."""
    probe = AsyncArcade(api_key=key, base_url=base)
    stainless = {name: omit for name in probe.default_headers if name.lower().startswith("x-stainless-")}
    per_call = {"x-stainless-retry-count": omit, "x-stainless-read-timeout": omit}
    async with _poller(key, base, default_headers=stainless) as poller:

        async def poll(auth_id: str, wait: int) -> object:
            return (await poller.auth.status(id=auth_id, wait=wait, extra_headers=per_call)).status

        yield poll


@asynccontextmanager
async def _static_on_httpx(base: str, key: str, users: int) -> AsyncIterator[Poll]:
    """The same headers on the wire, but arcadepy's constant ones set once on the httpx client
    (whose headers every request shares) instead of re-encoded by arcadepy for every request."""
    probe = AsyncArcade(api_key=key, base_url=base)
    static = {
        k: v
        for k, v in probe.default_headers.items()
        if isinstance(v, str) and k not in ("Authorization", "Content-Type")
    }
    async with _poller(key, base, {"headers": static}, default_headers=dict.fromkeys(static, omit)) as poller:
        yield _sdk_poll(poller)


@asynccontextmanager
async def _session(base: str, key: str, users: int) -> AsyncIterator[Poll]:
    """httpx-aiohttp's transport on our own aiohttp session: 4 KiB read buffer, no cookie jar."""
    connector = aiohttp.TCPConnector(limit=bot_arcade.POLL_CONNECTIONS, ssl=httpx.create_ssl_context())
    session = aiohttp.ClientSession(connector=connector, read_bufsize=4096, cookie_jar=aiohttp.DummyCookieJar())
    transport = AiohttpTransport(client=session)
    async with _poller(key, base, {"transport": transport}) as poller:
        yield _sdk_poll(poller)


@asynccontextmanager
async def _before(base: str, key: str, users: int) -> AsyncIterator[Poll]:
    """The poll client as bot/arcade.py built it before it shared the constant headers: arcadepy
    builds all 15 headers for each request, httpx copies them, aiohttp converts them again."""
    async with _poller(key, base) as poller:
        yield _sdk_poll(poller)


@asynccontextmanager
async def _shared_no_stainless(base: str, key: str, users: int) -> AsyncIterator[Poll]:
    """Product decision, not applied: bot/arcade.py's shared constant headers, minus X-Stainless-*."""
    probe = AsyncArcade(api_key=key, base_url=base)
    constant = {k: v for k, v in probe.default_headers.items() if isinstance(v, str) and k not in PER_REQUEST}
    connector = aiohttp.TCPConnector(limit=bot_arcade.POLL_CONNECTIONS, ssl=httpx.create_ssl_context())
    shared: CIMultiDict[str] = CIMultiDict()
    transport = AiohttpTransport(client=lambda: aiohttp.ClientSession(connector=connector, headers=shared))
    http = DefaultAioHttpClient(transport=transport)
    shared.extend((istr(k), v) for k, v in http.headers.items())
    shared.update({istr(k): v for k, v in constant.items() if not k.lower().startswith("x-stainless-")})
    http.headers.clear()
    timeout, omitted = POLL_TIMEOUT, dict.fromkeys(constant, omit)
    poller = AsyncArcade(
        api_key=key,
        base_url=base,
        max_retries=0,
        timeout=timeout,
        http_client=http,
        default_headers=omitted,  # type: ignore[arg-type]  # arcadepy drops a header given as omit; typed as str
    )
    async with poller:
        per_call = {"x-stainless-retry-count": omit, "x-stainless-read-timeout": omit}

        async def poll(auth_id: str, wait: int) -> object:
            return (await poller.auth.status(id=auth_id, wait=wait, extra_headers=per_call)).status

        yield poll


@asynccontextmanager
async def _raw(base: str, key: str, users: int) -> AsyncIterator[Poll]:
    """``with_raw_response``: the model is parsed only when asked for."""
    async with _poller(key, base) as poller:

        async def poll(auth_id: str, wait: int) -> object:
            return (await (await poller.auth.with_raw_response.status(id=auth_id, wait=wait)).parse()).status

        yield poll


@asynccontextmanager
async def _aiohttp(base: str, key: str, users: int) -> AsyncIterator[Poll]:
    """Reference, no arcadepy: a plain aiohttp GET (as bench.transport's ``aiohttp`` layout)."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(base, connector=connector, headers={"Authorization": key}) as session:

        async def poll(auth_id: str, wait: int) -> object:
            async with session.get("/v1/auth/status", params={"id": auth_id, "wait": str(wait)}) as response:
                return (await response.json())["status"]

        yield poll


VARIANTS: dict[str, Callable[[str, str, int], contextlib.AbstractAsyncContextManager[Poll]]] = {
    "bot": _bot,
    "no-stainless": _no_stainless,
    "static-on-httpx": _static_on_httpx,
    "session": _session,
    "before": _before,
    "shared-no-stainless": _shared_no_stainless,
    "raw": _raw,
    "aiohttp": _aiohttp,
}


def _where(trace: tracemalloc.Traceback) -> tuple[str, str]:
    """(library, line) of the innermost frame that belongs to one of LIBS, and the innermost line."""
    lib = "other"
    for frame in reversed(trace):  # tracemalloc lists the oldest frame first
        path = frame.filename
        for name in LIBS:
            if f"/{name}/" in path:
                lib = f"{name}:{Path(path).name}:{frame.lineno}"
                break
        if lib != "other":
            break
    inner = trace[-1]
    return lib, f"{Path(inner.filename).name}:{inner.lineno}"


def _report(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, users: int, top: int) -> None:
    by_lib: Counter[str] = Counter()
    by_line: Counter[str] = Counter()
    by_pkg: Counter[str] = Counter()
    for stat in after.compare_to(before, "traceback"):
        if stat.size_diff <= 0:
            continue
        lib, line = _where(stat.traceback)
        by_lib[lib] += stat.size_diff
        by_line[line] += stat.size_diff
        by_pkg[lib.split(":", 1)[0]] += stat.size_diff
    total = sum(by_pkg.values())
    stats = sorted((s for s in after.compare_to(before, "traceback") if s.size_diff > 0), key=lambda s: -s.size_diff)
    print("-- top tracebacks (innermost 6 frames)")
    for stat in stats[:top]:
        frames = " < ".join(
            f"{Path(f.filename).parent.name}/{Path(f.filename).name}:{f.lineno}" for f in reversed(stat.traceback[-6:])
        )
        print(f"  {stat.size_diff / users:8.0f} B  {stat.count_diff / users:5.1f} blocks  {frames}")
    print(f"python heap per open poll: {total / users / 1024:.2f} KB")
    for title, counter in (("by package", by_pkg), ("by innermost library line", by_lib), ("by line", by_line)):
        print(f"-- {title}")
        for key, size in counter.most_common(top):
            print(f"  {size / users:8.0f} B  {key}")


async def _inflight(ctl: str) -> int:
    """Long-polls the fake holds open right now (asked over a fresh connection, off this process's heap)."""
    reader, writer = await asyncio.open_connection(*ctl.removeprefix("http://").split(":"))
    writer.write(b"GET /ctl/state HTTP/1.0\r\n\r\n")
    body = (await reader.read()).split(b"\r\n\r\n", 1)[1]
    writer.close()
    return int(json.loads(body)["inflight"])


def _trim() -> None:
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


async def run(variant: str, users: int, wait: int, trace: int, collect: bool, top: int) -> None:
    log_dir = Path(tempfile.mkdtemp(prefix="bench-pollmem-"))
    fake = await procs.spawn_fakes("arcade", ["--uvloop"], log_dir)
    try:
        base, key = fake.info["arcade_url"], fake.info["api_key"]
        ids = await _flows(base, key, users)
        async with VARIANTS[variant](base, key, users) as poll:
            await poll(ids[0], 1)  # lazy imports, platform detection, the first connection
            if collect:
                _trim()
            pid = os.getpid()
            if trace:
                tracemalloc.start(trace)
                before = tracemalloc.take_snapshot()
            rss0, cpu0 = procs.rss_kb(pid), procs.cpu_seconds(pid)
            started = time.monotonic()
            if trace:  # tracemalloc slows each poll ~15-fold: start them in small batches, or connects time out
                tasks = []
                for at in range(0, users, 20):
                    tasks += [asyncio.ensure_future(poll(i, wait)) for i in ids[at : at + 20]]
                    await asyncio.sleep(0.02)
                every = asyncio.gather(*tasks, return_exceptions=True)
            else:
                every = asyncio.gather(*(poll(i, wait) for i in ids), return_exceptions=True)
            await asyncio.sleep(max(0.0, started + wait / 2 - time.monotonic()))
            while (inflight := await _inflight(fake.info["ctl"])) < users and time.monotonic() < started + wait - 5:  # noqa: ASYNC110
                await asyncio.sleep(1)
            if inflight < users:
                print(f"only {inflight} of {users} polls open at the measurement", flush=True)
            if collect:
                _trim()
            rss1 = procs.rss_kb(pid)
            if trace:
                after = tracemalloc.take_snapshot()
            answers = Counter(a if isinstance(a, str) else type(a).__name__ for a in await every)
            cpu = (procs.cpu_seconds(pid) - cpu0) / users * 1000
            print(f"{variant}: RSS/open poll {(rss1 - rss0) / users:5.1f} KB  CPU/poll {cpu:5.2f} ms  {dict(answers)}")
            if trace:
                tracemalloc.stop()
                _report(before, after, users, top)
    finally:
        await fake.stop()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pollmem", description=__doc__)
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--wait", type=int, default=20)
    parser.add_argument("--variant", default="bot", choices=sorted(VARIANTS))
    parser.add_argument("--trace", type=int, default=0, metavar="FRAMES")
    parser.add_argument("--gc", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    procs.raise_nofile()
    bot_arcade.log.disabled = True
    asyncio.run(run(args.variant, args.users, args.wait, args.trace, args.gc, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
