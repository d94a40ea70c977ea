"""Load benchmark: the real bot (``python -m bot``) against the guide's baseline (``bench.baseline``).

    .venv/bin/python -m bench            # full run (~11 min on 2 cores)
    .venv/bin/python -m bench --quick    # 100 users, zero latency, both modes (~30 s)
    .venv/bin/python -m bench --quick --mixed-size 500 --mixed-burst 100  # and small mixed bursts

Each run starts two fake hosts (fake Slack; fake Arcade + Gmail) and the implementation as
separate processes, drives it like Slack does and prints Markdown tables; the figures, machine
info and targets go to ``bench/results/<timestamp>.json``, py-spy output to
``bench/results/<timestamp>-profile/``. Not part of the test suite; see docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import procs, report, targets
from bench.database import ENGINES, default_server
from bench.harness import LATENCIES, RunConfig
from bench.profile import hotspots, hotspots_text, profile_bot
from bench.scenarios import Run

RESULTS = Path(__file__).resolve().parent / "results"
MIXED_SIZE, MIXED_BURST = 5000, 1000  # the throughput issue's: 1,000 commands while 1,000 of 5,000 approve


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def _names(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="100 users, zero latency, no window, no profile")
    p.add_argument("--modes", type=_names, default=("http", "socket"), help="http,socket")
    p.add_argument("--impls", type=_names, default=("bot", "baseline"), help="bot,baseline")
    p.add_argument("--latencies", type=_names, default=("zero", "realistic"), help=",".join(LATENCIES))
    p.add_argument("--ack-sizes", type=_ints, default=(100, 1000), help="commands sent within one second")
    p.add_argument("--sizes", type=_ints, default=(100, 1000, 5000), help="waiting users who approve (zero latency)")
    p.add_argument("--realistic-sizes", type=_ints, default=(100, 1000), help="waiting users, realistic latency")
    p.add_argument("--window", type=float, default=60.0, help="seconds of the waiting window (first mode; 0: off)")
    p.add_argument("--limit", type=float, default=60.0, help="seconds before a phase is reported as not finished")
    p.add_argument("--stall", type=float, default=10.0, help="seconds without progress before a phase is given up")
    p.add_argument("--profile-size", type=int, default=1000, help="waiting users in the py-spy rounds (0: off)")
    p.add_argument("--workers", type=_ints, default=(1,), help="the bot's WORKERS, one bot run per value: 1,2")
    p.add_argument("--databases", type=_names, default=("sqlite",), help="the bot's store: " + ",".join(ENGINES))
    p.add_argument("--postgres-url", default=default_server(), help="server for postgresql runs (TEST_DATABASE_URL)")
    p.add_argument("--window-size", type=int, default=0, help="users waiting through the window (0: max of --sizes)")
    p.add_argument("--no-uvloop", dest="uvloop", action="store_false", help="run the fakes on asyncio's own loop")
    mixed = "the bot, zero latency, last in each run; off in --quick unless given; 0: off"
    p.add_argument("--mixed-size", type=int, help=f"users waiting before the mixed bursts (5000; {mixed})")
    p.add_argument(
        "--mixed-burst", type=int, help=f"commands in 1 s while as many waiting users approve (1000; {mixed})"
    )
    args = p.parse_args(argv)
    asked = args.mixed_size is not None or args.mixed_burst is not None
    if args.quick:
        args.latencies, args.ack_sizes, args.sizes, args.realistic_sizes = ("zero",), (100,), (100,), (100,)
        args.window, args.profile_size = 0.0, 0
    if args.quick and not asked:
        args.mixed_size = args.mixed_burst = 0
    args.mixed_size = MIXED_SIZE if args.mixed_size is None else args.mixed_size
    args.mixed_burst = MIXED_BURST if args.mixed_burst is None else args.mixed_burst
    if args.mixed_size and args.mixed_burst > args.mixed_size:
        p.error("--mixed-burst: the approvers come from the --mixed-size waiting users, so at most that many")
    return args


def plan(args: argparse.Namespace) -> list[RunConfig]:
    configs = []
    for latency in args.latencies:
        sizes = args.sizes if latency == "zero" else args.realistic_sizes
        ack_sizes = tuple(n for n in args.ack_sizes if n <= max(sizes))
        for index, mode in enumerate(args.modes):
            window = args.window if latency == "zero" and index == 0 else 0.0
            base = RunConfig("bot", mode, latency, ack_sizes, sizes, window, args.limit, args.uvloop, args.stall)
            base = replace(base, postgres_url=args.postgres_url, window_size=args.window_size)
            if latency == "zero":
                base = replace(base, mixed_size=args.mixed_size, mixed_burst=args.mixed_burst)
            if "bot" in args.impls:
                configs += [replace(base, workers=w, database=d) for d in args.databases for w in args.workers]
            if "baseline" in args.impls:
                configs.append(replace(base, impl="baseline", mixed_size=0, mixed_burst=0))
    return configs


def git_state() -> dict[str, Any]:
    def git(*cmd: str) -> str:
        done = subprocess.run(["git", *cmd], cwd=procs.ROOT, capture_output=True, text=True, check=False)  # noqa: S607
        return done.stdout

    dirty = [line[3:] for line in git("status", "--porcelain", "bot").splitlines() if line.strip()]
    return {"commit": git("rev-parse", "HEAD").strip(), "bot_files_uncommitted": dirty}


async def main_async(args: argparse.Namespace) -> int:
    nofile = procs.raise_nofile()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(parents=True, exist_ok=True)
    profile_dir = RESULTS / f"{stamp}-profile"
    if args.window or args.profile_size:
        profile_dir.mkdir()
    log_dir = Path(tempfile.mkdtemp(prefix=f"bench-{stamp}-"))
    started = time.monotonic()
    doc: dict[str, Any] = {
        "started": stamp,
        "command": "python -m bench " + " ".join(sys.argv[1:]),
        "machine": procs.machine() | {"nofile_limit_children": nofile},
        "git": git_state(),
        "latency_profiles_s": LATENCIES,
        "logs": str(log_dir),
        "runs": [],
    }
    print(f"machine: {json.dumps(doc['machine'])}\nlogs: {log_dir}", flush=True)
    for cfg in plan(args):
        mixed = f" mixed={cfg.mixed_burst}/{cfg.mixed_size}" if cfg.mixed_size and cfg.mixed_burst else ""
        print(f"run {cfg.name} sizes={cfg.sizes} window={cfg.window:g}s{mixed}", flush=True)
        run_logs = log_dir / cfg.name
        run_logs.mkdir()
        try:
            load_before = os.getloadavg()[0]  # another job on the machine shows here
            async with Run(cfg, run_logs) as run:
                doc["runs"].append(await run.execute(profile_dir))
            doc["runs"][-1]["load_1min"] = [load_before, os.getloadavg()[0]]
        except Exception as exc:  # one broken run must not lose the others
            print(f"  FAILED: {exc!r} (logs in {run_logs})", flush=True)
            doc["runs"].append({"impl": cfg.impl, "mode": cfg.mode, "latency": cfg.latency, "error": repr(exc)})
            doc["runs"][-1] |= {"workers": cfg.workers, "database": cfg.database} if cfg.impl == "bot" else {}
    profiles: dict[str, Any] = {}
    for entry in doc["runs"]:
        waiting = entry.get("window", {}).get("profile", {})
        if waiting.get("file") and "error" not in waiting:
            waiting["hotspots"] = hotspots(Path(waiting["file"]))
            profiles[f"waiting_{entry['mode']}"] = waiting
    if args.profile_size and "bot" in args.impls:
        print(f"profiling the bot: {args.profile_size:,} commands, then {args.profile_size:,} approvals", flush=True)
        cfg = RunConfig("bot", "http", "zero", (), (args.profile_size,), 0.0, args.limit, args.uvloop, args.stall)
        cfg = replace(cfg, workers=1)  # py-spy follows one process
        (log_dir / "profile").mkdir()
        profiles |= await profile_bot(cfg, log_dir / "profile", profile_dir, args.profile_size)
    doc["profile"] = profiles
    runs = [r for r in doc["runs"] if "error" not in r]
    doc["targets"] = targets.check(runs)
    doc["elapsed_s"] = round(time.monotonic() - started, 1)
    out = RESULTS / f"{stamp}.json"
    out.write_text(json.dumps(doc, indent=2))
    print(report.table(runs))
    print(report.workers_table(runs))
    print("\n**Targets (zero-latency fakes unless the mode says otherwise)**\n")
    print(targets.table(doc["targets"]))
    for name, entry in profiles.items():
        if "hotspots" in entry:
            print(f"\n**py-spy: {name.replace('_', ' ')}** ({entry['file']})\n")
            print(hotspots_text(entry["hotspots"]))
    print(f"\nresults: {out}\nelapsed: {doc['elapsed_s']} s", flush=True)
    return 0


def main() -> int:
    return asyncio.run(main_async(parse_args()))


if __name__ == "__main__":
    sys.exit(main())
