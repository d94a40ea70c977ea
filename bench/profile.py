"""Where the bot spends its time: py-spy rounds, and hotspots from py-spy's raw (collapsed) stacks.

``profile_bot`` runs the bot once more (apart from the measured runs, because py-spy pauses the
process to sample it) for three rounds: a burst of 1,000 commands and 1,000 waiting users
approving, both as raw stacks, and the approvals again as a flame graph SVG for people. Only the
thread holding the GIL is sampled (``--gil``): pool threads idling in C would otherwise look busy.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from pathlib import Path
from typing import Any

from bench import procs
from bench.harness import RunConfig
from bench.scenarios import Run

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")
PATH_PREFIXES = ("site-packages/", "/work/main/")


def _short(file: str) -> str:
    for prefix in PATH_PREFIXES:
        if prefix in file:
            return file.split(prefix, 1)[1]
    if "/lib/python3" in file:  # the standard library
        return "stdlib/" + file.split("/lib/python3", 1)[1].split("/", 1)[-1]
    return file


def _frame(raw: str) -> tuple[str, str]:
    match = FRAME.match(raw.strip())
    return (raw.strip(), "?") if match is None else (match["func"], _short(match["file"]))


def _package(file: str) -> str:
    parts = file.split("/")
    if parts[0] == "stdlib" and len(parts) > 1:
        return "stdlib:" + parts[1].removesuffix(".py")
    return parts[0].removesuffix(".py")


def hotspots(collapsed: Path, top: int = 15) -> dict[str, Any]:
    """Self and inclusive shares of samples by function, and self share by package."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";")]
        total += count
        func, file = frames[-1]
        own[f"{func} ({file})"] += count
        packages[_package(file)] += count
        for name in {f"{fn} ({fl})" for fn, fl in frames}:
            inclusive[name] += count

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / max(1, total), 1)) for name, n in counter.most_common(top)]

    return {"samples": total, "self": share(own), "inclusive": share(inclusive), "packages": share(packages)}


def hotspots_text(spots: dict[str, Any]) -> str:
    lines = [f"py-spy samples (GIL holder): {spots['samples']}", "", "Top self time (% of samples):"]
    lines += [f"  {pct:5.1f}%  {name}" for name, pct in spots["self"]]
    lines += ["", "Top inclusive time (% of samples):"]
    lines += [f"  {pct:5.1f}%  {name}" for name, pct in spots["inclusive"]]
    lines += ["", "Self time by package:"]
    lines += [f"  {pct:5.1f}%  {name}" for name, pct in spots["packages"]]
    return "\n".join(lines)


async def profile_bot(cfg: RunConfig, log_dir: Path, out_dir: Path, size: int) -> dict[str, Any]:
    """Profile the bot: a burst of ``size`` commands, then ``size`` waiting users approving (raw, then SVG)."""
    if procs.py_spy() is None:
        return {"skipped": "py-spy not installed (pip install py-spy)"}
    report: dict[str, Any] = {}
    async with Run(cfg, log_dir) as run:
        await run.start_target()
        assert run.target is not None
        pid = run.target.pid
        for name, fmt, file in (
            ("burst", "raw", "burst.txt"),
            ("approval", "raw", "approval.txt"),
            ("approval", "flamegraph", "approval.svg"),
        ):
            users = run.users(size)
            recorder = procs.Recorder(pid, out_dir / file, fmt=fmt) if name == "burst" else None
            await asyncio.sleep(1.0 if recorder else 0.0)  # let py-spy attach
            measured = await run.burst(users)
            await run.settle(users)
            if recorder is None:
                recorder = procs.Recorder(pid, out_dir / file, fmt=fmt)
                await asyncio.sleep(1.0)
                measured = await run.approve(users)
            error = await recorder.stop()
            entry: dict[str, Any] = {"file": str(recorder.path), "measured_while_profiling": measured}
            if error:
                entry["error"] = error
            elif fmt == "raw":
                entry["hotspots"] = hotspots(recorder.path)
            report[f"{name}_{fmt}"] = entry
    return report
