"""Child processes (fake hosts, the bot, the baseline) and what /proc says about them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
WANTED_NOFILE = 65_536
# Configuration the children get only from the bench, never from the bench's own environment.
OWN_PREFIXES = (
    "SLACK_",
    "ARCADE_",
    "GMAIL_",
    "DATABASE_",
    "PUBLIC_",
    "VERIFIER_",
    "AUTH_",
    "HOST",
    "PORT",
    "WORKERS",
    "LEASE_",
)


def raise_nofile() -> int:
    """Raise this process's open-files limit (children inherit it); returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for target in (WANTED_NOFILE, hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, target), max(hard, target)))
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_kb(pid: int) -> int:
    """VmRSS of ``pid`` in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (all its threads), from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (the workers of a ``WORKERS=N`` supervisor), from /proc."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            found += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return sorted(set(found))


def total(read: Callable[[int], float], pids: list[int]) -> float:
    """``read`` summed over ``pids``, skipping any that exited meanwhile."""
    values = []
    for pid in pids:
        with contextlib.suppress(OSError):
            values.append(read(pid))
    return sum(values)


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kb = int(Path("/proc/meminfo").read_text().splitlines()[0].split()[1])
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "nofile_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }


@dataclass
class Child:
    """A spawned process, its log file, and the time it was spawned (monotonic)."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    spawned_at: float
    info: dict[str, Any] = field(default_factory=dict)
    _log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    async def stop(self, grace: float = 10.0) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            for _ in range(int(grace / 0.1)):
                if not self.alive():
                    break
                await asyncio.sleep(0.1)
            if self.alive():
                self.proc.kill()
        await asyncio.to_thread(self.proc.wait)
        if self._log is not None:
            self._log.close()


def spawn(name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> Child:
    """Start ``argv`` from the project root with ``env`` (on top of ours); stdout+stderr to a log file."""
    log_path = log_dir / f"{name}.log"
    log = log_path.open("wb")
    started = time.monotonic()
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(OWN_PREFIXES)}
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=inherited | env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    return Child(name, proc, log_path, started, _log=log)


async def spawn_fakes(role: str, args: list[str], log_dir: Path) -> Child:
    """Start a fake host (``bench.fakes_host``) and read its JSON info line."""
    argv = [sys.executable, "-m", "bench.fakes_host", "--role", role, *args]
    log_path = log_dir / f"fakes-{role}.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, start_new_session=True)  # noqa: ASYNC220
    assert proc.stdout is not None
    line = await asyncio.to_thread(proc.stdout.readline)
    if not line:
        raise RuntimeError(f"fake host {role} did not start; see {log_path}")
    return Child(f"fakes-{role}", proc, log_path, time.monotonic(), json.loads(line), log)


def py_spy() -> str | None:
    """The py-spy executable (``pip install py-spy``), next to this Python or on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Recorder:
    """``py-spy record`` of ``pid`` into ``path`` until stopped, sampling the GIL holder only.

    ``fmt`` "raw" writes collapsed stacks (for ``bench.profile.hotspots``), "flamegraph" an SVG.
    ``nonblocking`` samples without pausing the process, so what is measured meanwhile stays honest.
    """

    def __init__(self, pid: int, path: Path, *, fmt: str = "raw", nonblocking: bool = False) -> None:
        spy = py_spy()
        if spy is None:
            raise RuntimeError("py-spy is not installed: pip install py-spy")
        self.path = path
        argv = [spy, "record", "--gil", "--pid", str(pid), "--rate", "200", "--format", fmt, "--output", str(path)]
        argv += ["--nonblocking"] if nonblocking else []
        self._proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    async def stop(self) -> str | None:
        """Stop recording; returns an error text, or None when the file was written."""
        self._proc.send_signal(signal.SIGINT)
        _, err = await asyncio.to_thread(self._proc.communicate)
        return None if self.path.exists() else err.decode(errors="replace")[-500:]
