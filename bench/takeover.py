"""Takeover after a SIGKILL: two replicas on one store, one killed while its users wait.

    python -m bench.takeover                                  # 1,000 waiting on the killed one, LEASE_SECONDS 30 and 5
    python -m bench.takeover --leases 5 --database postgresql  # on a fresh database on TEST_DATABASE_URL's server

Two ``python -m bot`` processes (``WORKERS=1`` each, on their own port, HTTP mode, zero-latency
fakes) share one store. ``--waiting`` users send ``/connect-gmail`` to the first replica and as many
to the second; once everyone is prompted and both replicas are idle, the first is SIGKILLed and
right after it every user approves within one second. Measured: the time from the kill until each
of the killed replica's users has their labels (its leases run out ``LEASE_SECONDS`` after its last
renewal; the survivor claims the rows at its next tick, every ``LEASE_SECONDS / 3``), the
survivor's own users' approval->labels, and whether anyone was answered twice (2 s after the last
answer) or any authorization polled by two replicas at once (the fake Arcade records it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import procs
from bench.database import ENGINES, default_server, owners
from bench.harness import RunConfig
from bench.scenarios import Run
from bench.stats import summary

RESULTS = Path(__file__).resolve().parent / "results"
SETTLE = 2.0  # seconds after the last answer for a doubled one to show up


async def takeover(args: argparse.Namespace, lease: int, log_dir: Path) -> dict[str, Any]:
    cfg = RunConfig("bot", "http", "zero", (), (args.waiting,), 0.0, args.limit, True)
    cfg = replace(cfg, database=args.database, postgres_url=args.postgres_url)
    async with Run(cfg, log_dir) as run:
        extra = {"LEASE_SECONDS": str(lease)}
        victim, survivor = run.spawn_target("victim", extra), run.spawn_target("survivor", extra)
        ports = [await run.wait_ready(victim), await run.wait_ready(survivor)]
        doomed, kept = run.users(args.waiting), run.users(args.waiting)
        for child, port, users in ((victim, ports[0], doomed), (survivor, ports[1], kept)):
            run.target, run.port = child, port
            await run.fill(users)
            await run.settle(users)
            await run.quiesce()
        per_owner = sorted((await owners(run.database_url)).values(), reverse=True)
        victim.proc.kill()
        killed = time.monotonic()
        everyone = doomed + kept
        approved: dict[str, float] = (await run.ctl(run.arcade, "/ctl/approve", {"users": everyone}))["approved"]
        deadline = killed + lease * 4 / 3 + args.limit
        while True:
            progress = await run.ctl(run.slack, "/ctl/progress", {"users": everyone})
            if len(progress["delivered"]) >= len(everyone) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(SETTLE)
        progress = await run.ctl(run.slack, "/ctl/progress", {"users": everyone})
        state = await run.ctl(run.arcade, "/ctl/state")
        await victim.stop()
    delivered: dict[str, float] = progress["delivered"]
    taken = sorted(delivered[u] - killed for u in doomed if u in delivered)
    return {
        "lease_seconds": lease,
        "database": args.database,
        "waiting_per_replica": args.waiting,
        "waits_per_replica_before_kill": per_owner,
        "approved": len(approved),
        "approved_over_s": round(max(approved.values()) - killed, 3) if approved else None,
        "killed_replica_answered": len(taken),
        "takeover_first_s": round(taken[0], 2) if taken else None,
        "takeover_all_s": round(taken[-1], 2) if len(taken) == len(doomed) else None,
        "survivor_approval_to_labels": summary([delivered[u] - approved[u] for u in kept if u in delivered]),
        "answered_twice": len(progress["twice"]),
        "double_polls": state["double_polls"],
        "survivor_claims": survivor.log_path.read_text(errors="replace").count("lease.claimed"),
    }


def row(r: dict[str, Any]) -> str:
    s = r["survivor_approval_to_labels"]
    took = f"{r['takeover_all_s']:.1f}" if r["takeover_all_s"] is not None else "did not finish"
    cells = [
        f"{r['lease_seconds']}",
        r["database"],
        " / ".join(f"{n:,}" for n in r["waits_per_replica_before_kill"]),
        f"{r['takeover_first_s']}",
        took,
        f"{r['killed_replica_answered']:,}/{r['waiting_per_replica']:,}",
        f"{s['p50_ms']} / {s['p99_ms']}",
        f"{r['answered_twice']}",
        f"{r['double_polls']}",
    ]
    return "| " + " | ".join(cells) + " |"


HEADER = (
    "| LEASE_SECONDS | store | waits per replica | kill -> first of its users answered (s) "
    "| kill -> last of its users answered (s) | its users answered | survivor's users p50 / p99 (ms) "
    "| answered twice | double polls |\n|---|---|---|---|---|---|---|---|---|"
)


async def main_async(args: argparse.Namespace) -> int:
    procs.raise_nofile()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log_dir = Path(tempfile.mkdtemp(prefix=f"bench-takeover-{stamp}-"))
    results = []
    for lease in args.leases:
        print(f"takeover: LEASE_SECONDS={lease}, {args.waiting:,} waiting per replica, {args.database}", flush=True)
        (log_dir / str(lease)).mkdir()
        load_before = os.getloadavg()[0]  # another job on the machine shows here
        results.append(await takeover(args, lease, log_dir / str(lease)))
        results[-1]["load_1min"] = [load_before, os.getloadavg()[0]]
        print(row(results[-1]), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{stamp}-takeover.json"
    doc = {"command": "python -m bench.takeover " + " ".join(sys.argv[1:]), "machine": procs.machine()}
    out.write_text(json.dumps(doc | {"logs": str(log_dir), "runs": results}, indent=2))
    print(f"\n{HEADER}\n" + "\n".join(row(r) for r in results) + f"\n\nresults: {out}", flush=True)
    return 0


def main() -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.takeover", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--waiting", type=int, default=1000, help="users waiting on each replica")
    p.add_argument("--leases", type=lambda t: [int(x) for x in t.split(",")], default=[30, 5], help="LEASE_SECONDS")
    p.add_argument("--database", choices=ENGINES, default="sqlite")
    p.add_argument("--postgres-url", default=default_server(), help="server for postgresql (TEST_DATABASE_URL)")
    p.add_argument("--limit", type=float, default=60.0, help="seconds to wait beyond the lease for the answers")
    return asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
