"""The throughput issue's two bursts together: commands arrive while waiting users approve.

``mixed`` puts ``size`` fresh users into the waiting state and waits until the process is idle.
Then, from one start shared by both fake hosts, ``burst`` fresh users send ``/connect-gmail``
evenly over one second while ``burst`` of the waiting users approve over the same second. Acks and
approval -> labels are timed as in the separate phases. CPU and the busiest fake are read over
the whole phase, until every approver has labels and every new user has a prompt, so the CPU per
completed flow includes the command burst's work (acks, authorizations started, prompts). The
new users are then left to settle into waiting, so the run ends clean.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from bench.harness import busiest_fake

if TYPE_CHECKING:
    from bench.scenarios import Run

LEAD_S = 0.1  # from sending both control requests to the shared start: time for both to arrive
SUB_PHASE_CPU = ("target_cpu_s", "cpu_ms_per_flow")  # each over its own half only: read over the phase instead
CPU_INCLUDES = "the command burst's work: acks, authorizations started, prompts"


async def mixed(run: Run, size: int, burst: int) -> dict[str, Any]:
    """``burst`` commands in one second while ``burst`` of ``size`` waiting users approve in the same second."""
    waiting = run.users(size)
    quiesced = [await run.quiesce()]
    fill = await run.fill(waiting)
    settled = await run.settle(waiting)
    quiesced.append(await run.quiesce())
    fresh, approvers = run.users(burst), waiting[:burst]
    before, since = run.cpu(), time.monotonic()
    start_at = since + LEAD_S
    ack, approval = await asyncio.gather(run.burst(fresh, start_at=start_at), run.approve(approvers, start_at=start_at))
    prompted = await run.wait_prompted(fresh)
    until, after = time.monotonic(), run.cpu()
    for entry in (ack, approval):
        for key in SUB_PHASE_CPU:
            entry.pop(key, None)
    delivered = int(approval["delivered"])
    cpu_s = after["target"] - before["target"]
    return {
        "waiting": size,
        "burst": burst,
        "ack": ack,
        "approval": approval | {"settled": settled},
        "burst_prompted": prompted,
        "phase_s": round(until - start_at, 2),
        "target_cpu_s": round(cpu_s, 2),
        "cpu_ms_per_flow": round(cpu_s * 1000 / delivered, 3) if delivered else None,
        "cpu_includes": CPU_INCLUDES,
        "busiest_fake_cpu_pct": busiest_fake(before, after, until - since),
        "fill": fill,
        "quiesced_s": quiesced,
        "burst_settled": await run.settle(fresh),
    }
