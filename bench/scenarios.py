"""One run: fresh fakes + one implementation (bot or baseline) in one mode, through every scenario.

For sizes ``[100, 1000, 5000]``: start-up and idle RSS; then per size N a fresh batch of N users
sends ``/connect-gmail`` (a measured one-second burst when N is an ack size, else unmeasured
chunks of 1,000 a second), every one of them is prompted and waiting, and all N approve within
one second. RSS is read at the largest size before its approvals. With a window, a last batch of
max(sizes) users then waits ``window`` seconds while Arcade's request rate and the process's CPU
are read (py-spy records the bot meanwhile, without pausing it), and approves at the end, when the
users' 59-s long-polls come back and are renewed together. Last, with mixed sizes, the two bursts
together (``bench.mixed``): commands arrive while waiting users approve. Each batch starts once
the process is idle again. Every wait is bounded: by ``limit``, or by ``stall`` seconds without
progress while the process sits idle; what did not finish is reported as such.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from bench import procs
from bench.database import owners
from bench.harness import Harness, busiest_fake
from bench.mixed import mixed
from bench.stats import summary

FILL_CHUNK = 1000
CPU_SAMPLE_EVERY = 5.0
IDLE_CPU = 0.10  # below 10% of a core the implementation is doing nothing worth waiting for


class Stall:
    """Progress watch: stalled after ``seconds`` without progress *while the process sat idle*.

    A busy process (a queue draining) is waited for, up to the phase's time limit.
    """

    def __init__(self, run: Run, seconds: float) -> None:
        self._run, self._seconds = run, seconds
        self._seen, self._moved, self._cpu = -1, time.monotonic(), run.target_cpu()

    def stalled(self, count: int) -> bool:
        now, cpu = time.monotonic(), self._run.target_cpu()
        if count != self._seen:
            self._seen, self._moved, self._cpu = count, now, cpu
            return False
        idle = (cpu - self._cpu) / max(now - self._moved, 1e-3) < IDLE_CPU
        return now - self._moved >= self._seconds and idle


class Run(Harness):
    async def quiesce(self, limit: float = 90.0) -> float:
        """Wait until the implementation is idle (less than 10% of a core over 1 s); returns the wait."""
        started = time.monotonic()
        while time.monotonic() - started < limit:
            cpu = self.target_cpu()
            await asyncio.sleep(1.0)
            if self.target_cpu() - cpu < IDLE_CPU:
                break
        return round(time.monotonic() - started, 1)

    async def burst(self, users: list[str], spread: float = 1.0, start_at: float | None = None) -> dict[str, Any]:
        """``len(users)`` commands from as many users, evenly spread over ``spread`` seconds (from ``start_at``)."""
        if self.cfg.mode == "http":  # sent from this process (bench.sender), signed by the fake
            requests = (await self.ctl(self.slack, "/ctl/commands", {"users": users}))["requests"]
            url, start = f"http://127.0.0.1:{self.port}/slack/events", start_at or time.monotonic() + 0.05
            before, since = self.cpu(), time.monotonic()
            acks = await self.sender.burst(url, requests, start, spread / max(1, len(users)))
        else:
            body = {"users": users, "spread": spread, "mode": self.cfg.mode, "start_at": start_at}
            before, since = self.cpu(), time.monotonic()
            acks = (await self.ctl(self.slack, "/ctl/burst", body))["acks"]
        until, after = time.monotonic(), self.cpu()
        sent = [a[3] for a in acks]
        result: dict[str, Any] = summary([a[2] for a in acks]) | {
            "not_acked": sum(1 for a in acks if a[1] != 200),
            "sent_over_s": round(max(sent) - min(sent), 3),
            "target_cpu_s": round(after["target"] - before["target"], 2),
            "busiest_fake_cpu_pct": busiest_fake(before, after, until - since),
            "fake_slack_lag_p99_ms": await self.lag_p99_ms(since, until),
        }
        if start_at is not None:
            result["first_sent_after_start_ms"] = round((min(sent) - start_at) * 1000, 1)
        return result

    async def fill(self, users: list[str]) -> dict[str, Any]:
        """Unmeasured commands, 1,000 a second, each chunk prompted before the next is sent."""
        not_acked, started = 0, time.monotonic()
        for start in range(0, len(users), FILL_CHUNK):
            chunk = users[start : start + FILL_CHUNK]
            not_acked += int((await self.burst(chunk))["not_acked"])
            if await self.wait_prompted(chunk, started + self.cfg.limit) < len(chunk):
                return {"sent": start + len(chunk), "not_acked": not_acked, "stopped": "prompts stalled"}
        return {"sent": len(users), "not_acked": not_acked, "took_s": round(time.monotonic() - started, 1)}

    async def wait_prompted(self, users: list[str], deadline: float | None = None) -> int:
        """How many of ``users`` got their prompt, waiting until all did, progress stalls or ``deadline``."""
        deadline = deadline or time.monotonic() + self.cfg.limit
        stall = Stall(self, self.cfg.stall)
        while True:
            prompted = int((await self.ctl(self.slack, "/ctl/progress", {"users": users}))["prompted"])
            if prompted >= len(users) or time.monotonic() >= deadline or stall.stalled(prompted):
                return prompted
            await asyncio.sleep(0.1)

    async def settle(self, users: list[str]) -> dict[str, Any]:
        """Wait until every user was prompted and the number of open long-polls stops changing."""
        prompted = await self.wait_prompted(users)
        previous, stable_since, deadline = -1, time.monotonic(), time.monotonic() + 15
        while True:
            state = await self.ctl(self.arcade, "/ctl/state")
            if state["inflight"] != previous:
                previous, stable_since = state["inflight"], time.monotonic()
            elif time.monotonic() - stable_since >= 1.0 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        settled = {"prompted": prompted, "pending": state["pending"], "long_polls_open": state["inflight"]}
        if self.cfg.impl == "bot":  # how the waits are spread over the workers (lease owners in the store)
            settled["per_worker"] = sorted((await owners(self.database_url)).values(), reverse=True)
        return settled

    async def approve(self, users: list[str], start_at: float | None = None) -> dict[str, Any]:
        """All ``users`` approve within one second (from ``start_at``); approval -> labels delivered, per user."""
        before, phase_start = self.cpu(), time.monotonic()
        body = {"users": users, "start_at": start_at}
        approved: dict[str, float] = (await self.ctl(self.arcade, "/ctl/approve", body))["approved"]
        first = min(approved.values(), default=phase_start)
        progress: dict[str, Any] = {"delivered": {}, "via": {}}
        stall, reason = Stall(self, self.cfg.stall), None
        while True:
            progress = await self.ctl(self.slack, "/ctl/progress", {"users": users})
            count = len(progress["delivered"])
            if count >= len(users):
                break
            if time.monotonic() >= first + self.cfg.limit:
                reason = "time limit"
                break
            if stall.stalled(count):
                reason = f"no progress for {self.cfg.stall:g} s, process idle"
                break
            if count >= len(approved):  # the others had no pending authorization to approve
                reason = f"only {len(approved)} had an authorization to approve"
                break
            await asyncio.sleep(0.05)
        finished, after = time.monotonic(), self.cpu()
        delivered: dict[str, float] = progress["delivered"]
        latencies = [delivered[u] - approved[u] for u in approved if u in delivered]
        done = len(latencies) == len(users)
        result: dict[str, Any] = summary(latencies) | {
            "waiting": len(users),
            "approved": len(approved),
            "approved_over_s": round(max(approved.values()) - first, 3) if approved else None,
            "delivered": len(latencies),
            "finished": done,
            "gave_up_after_s": None if done else round(finished - first, 1),
            "gave_up_because": reason,
            "via": progress["via"],
            "answered_twice": len(progress.get("twice", [])),
            "cpu_ms_per_flow": round((after["target"] - before["target"]) * 1000 / len(latencies), 3)
            if latencies
            else None,
            "busiest_fake_cpu_pct": busiest_fake(before, after, finished - phase_start),
            "fake_slack_lag_p99_ms": await self.lag_p99_ms(first, finished),
        }
        if start_at is not None and approved:
            result["first_approved_after_start_ms"] = round((first - start_at) * 1000, 1)
        return result

    async def window(self, seconds: float, profile_to: Path | None) -> dict[str, Any]:
        """Arcade requests per pending authorization per minute (counted at the fake), and CPU meanwhile."""
        assert self.target is not None
        pending = int((await self.ctl(self.arcade, "/ctl/state"))["pending"])
        recorder = procs.Recorder(self.target.pid, profile_to, nonblocking=True) if profile_to else None
        since = at = time.monotonic()
        cpu_start = cpu = self.target_cpu()
        timeline: list[float] = []
        while at - since < seconds - 0.01:
            await asyncio.sleep(min(CPU_SAMPLE_EVERY, seconds - (at - since)))
            now, now_cpu = time.monotonic(), self.target_cpu()
            timeline.append(round((now_cpu - cpu) / (now - at) * 100, 1))
            at, cpu = now, now_cpu
        until = at
        calls = await self.ctl(self.arcade, "/ctl/calls", {"since": since, "until": until})
        open_at_end = (await self.ctl(self.arcade, "/ctl/state"))["inflight"]
        result: dict[str, Any] = {
            "seconds": round(until - since, 1),
            "pending": pending,
            "requests": calls["total"],
            "by_path": calls["by_path"],
            "per_pending_per_min": round(calls["total"] / max(1, pending) / ((until - since) / 60), 3),
            "target_cpu_pct": round((cpu - cpu_start) / (until - since) * 100, 2),
            "target_cpu_pct_every_5s": timeline,
            "long_polls_open_at_end": open_at_end,
            "rss_kb": self.target_rss_kb(),
        }
        if recorder is not None:
            error = await recorder.stop()
            result["profile"] = {"file": str(recorder.path)} | ({"error": error} if error else {})
        return result

    def memory(self, pending: int, idle_rss_kb: int) -> dict[str, Any]:
        """RSS (summed over the working processes) with ``pending`` users waiting, and per pending user."""
        rss = self.target_rss_kb()
        return {
            "pending": pending,
            "rss_kb": rss,
            "per_pending_kb": round((rss - idle_rss_kb) / max(1, pending), 2),
            "threads": int(procs.total(procs.thread_count, self.target_pids())),
        }

    async def execute(self, profile_dir: Path | None = None) -> dict[str, Any]:
        """Every scenario of the run, in order; ``profile_dir``: where py-spy writes the waiting profile."""
        cfg = self.cfg
        result: dict[str, Any] = {"impl": cfg.impl, "mode": cfg.mode, "latency": cfg.latency}
        if cfg.impl == "bot":
            result |= {"workers": cfg.workers, "database": cfg.database}
        result |= await self.start_target()
        assert self.target is not None
        result |= {"ack": {}, "approval": {}, "fill": {}}
        biggest = max(cfg.sizes)
        for size in sorted(set(cfg.ack_sizes) | set(cfg.sizes)):
            users = self.users(size)
            result.setdefault("quiesced_s", []).append(await self.quiesce())  # each scenario starts idle
            if size in cfg.ack_sizes:
                result["ack"][str(size)] = await self.burst(users)
            else:
                result["fill"][str(size)] = await self.fill(users)
            settled = await self.settle(users)
            if size == biggest:
                result["memory"] = self.memory(settled["pending"], result["idle_rss_kb"])
            if size in cfg.sizes:
                result["approval"][str(size)] = await self.approve(users) | {"settled": settled}
            print(f"  {cfg.impl}/{cfg.mode}/{cfg.latency}: {size:,} users done", flush=True)
        if cfg.window > 0:
            users = self.users(cfg.window_size or biggest)
            result["quiesced_s"].append(await self.quiesce())
            fill = await self.fill(users)
            settled = await self.settle(users)
            memory = self.memory(settled["pending"], result["idle_rss_kb"])
            one_process = cfg.impl == "baseline" or cfg.workers == 1  # py-spy follows one process
            profile = profile_dir / f"waiting-{cfg.mode}.txt" if profile_dir and one_process else None
            window = await self.window(cfg.window, profile) | {"fill": fill, "settled": settled, "memory": memory}
            result["window"] = window
            result["approval_after_window"] = await self.approve(users) | {"settled": settled}
            print(f"  {cfg.impl}/{cfg.mode}/{cfg.latency}: {cfg.window:g}-s waiting window done", flush=True)
        if cfg.mixed_size and cfg.mixed_burst:  # last: its unapproved waiting users stay pending
            result["mixed"] = await mixed(self, cfg.mixed_size, cfg.mixed_burst)
            what = f"{cfg.mixed_burst:,} commands while {cfg.mixed_burst:,} of {cfg.mixed_size:,} approve"
            print(f"  {cfg.impl}/{cfg.mode}/{cfg.latency}: mixed bursts ({what}) done", flush=True)
        return result
