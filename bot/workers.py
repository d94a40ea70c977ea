"""``WORKERS=N``: N copies of the bot on one machine from one command, supervised.

The supervisor runs no bot itself. It starts N ``python -m bot`` processes with ``WORKERS=1`` and
``BOT_WORKER=<n>``; they share the store (leases decide which one waits on which flow) and, in HTTP
mode, one port (``SO_REUSEPORT``: the kernel spreads connections over them). In Socket Mode each
opens its own connection, and Slack spreads requests over an app's connections.

A worker that dies is started again (after 1 s, doubling to 30 s while it keeps dying within a
minute). One that exits with code 2 (a setting or credential at fault) stops them all with code 2:
starting it again cannot help. SIGTERM or SIGINT is passed to every worker, which stop gracefully
(handing their leases back); any still running after ``STOP_GRACE`` seconds is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)

WORKER_ENV = "BOT_WORKER"  # set in each worker: its number, from 1
STOP_GRACE = 20.0
RESTART_FIRST, RESTART_CAP, STABLE_AFTER = 1.0, 30.0, 60.0
CONFIG_EXIT = 2


def worker_number(environ: Mapping[str, str]) -> int | None:
    """This process's worker number, or None when it is not a supervised worker."""
    value = environ.get(WORKER_ENV, "")
    return int(value) if value.isdigit() else None


async def supervise(count: int, environ: Mapping[str, str], *, host: str, port: int) -> int:
    """Run ``count`` workers until a signal arrives (exit 0) or one reports a setting at fault (exit 2).

    ``PORT=0`` (any free port) is settled here, once, so that every worker shares the same one: a
    socket of the supervisor's holds it (bound with ``SO_REUSEPORT``, never listening, so it takes no
    connections) while the workers run.
    """
    with contextlib.ExitStack() as held:
        if port == 0:
            reserved = held.enter_context(socket.socket(_family(host), socket.SOCK_STREAM))
            reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            reserved.bind((host, 0))
            environ = {**environ, "PORT": str(reserved.getsockname()[1])}
        return await _supervise(count, environ)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


async def _supervise(count: int, environ: Mapping[str, str]) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    outcome: list[int] = []
    keepers = [asyncio.create_task(_keep(n, environ, stop, outcome)) for n in range(1, count + 1)]
    log.info("workers.started count=%d", count)
    await asyncio.gather(*keepers)
    code = outcome[0] if outcome else 0
    log.info("workers.stopped exit=%d", code)
    return code


async def _keep(number: int, environ: Mapping[str, str], stop: asyncio.Event, outcome: list[int]) -> None:
    """Keep worker ``number`` running until ``stop`` is set."""
    env = {**environ, "WORKERS": "1", WORKER_ENV: str(number)}
    delay = RESTART_FIRST
    while not stop.is_set():
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", env=env)
        log.info("workers.worker_started worker=%d pid=%d", number, proc.pid)
        stopping = asyncio.create_task(stop.wait())
        exited = asyncio.create_task(proc.wait())
        await asyncio.wait({stopping, exited}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            exited.cancel()
            await _stop(proc, number)
            return
        stopping.cancel()
        code = exited.result()
        if code == CONFIG_EXIT:
            log.error("workers.worker_refused worker=%d exit=%d: stopping every worker", number, code)
            outcome.append(CONFIG_EXIT)
            stop.set()
            return
        delay = RESTART_FIRST if time.monotonic() - started > STABLE_AFTER else delay
        log.warning("workers.worker_died worker=%d pid=%d exit=%s restart_in=%.0fs", number, proc.pid, code, delay)
        try:
            await asyncio.wait_for(stop.wait(), timeout=delay)
        except TimeoutError:
            delay = min(delay * 2, RESTART_CAP)


async def _stop(proc: asyncio.subprocess.Process, number: int) -> None:
    if proc.returncode is None:
        try:
            proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            return
    try:
        await asyncio.wait_for(proc.wait(), timeout=STOP_GRACE)
    except TimeoutError:
        log.warning("workers.worker_killed worker=%d pid=%d after=%.0fs", number, proc.pid, STOP_GRACE)
        proc.kill()
        await proc.wait()


def default_count() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0))
