"""The printed tables (Markdown, so they paste into docs/performance.md); the targets are in ``bench.targets``."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

Result = dict[str, Any]
Row = tuple[str, str, str, str]
Pair = tuple[Result | None, Result | None]  # the bot's run and the baseline's, either may be missing
NONE = "-"


def get(node: Any, *path: str) -> Any:
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def getter(*path: str) -> Callable[[Any], Any]:
    return lambda node: get(node, *path)


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return NONE
    return "inf" if math.isinf(value) else f"{value:,.{digits}f}"


def _unfinished(entry: Result | None) -> bool:
    return entry is not None and "finished" in entry and not entry["finished"]


def latency_cell(entry: Result | None) -> str:
    """``p50 / p99``; for a phase that did not finish, how far it got and why."""
    if not entry:
        return NONE
    cell = f"{fmt(entry.get('p50_ms'))} / {fmt(entry.get('p99_ms'))}"
    if _unfinished(entry):
        why = entry.get("gave_up_because") or "time limit"
        cell = f"did not finish: {entry['delivered']:,}/{entry['waiting']:,} delivered in {entry['gave_up_after_s']} s"
        cell += f" ({why})"
        if entry["delivered"]:
            cell += f"; those: {fmt(entry.get('p50_ms'))} / {fmt(entry.get('p99_ms'))}"
    if entry.get("not_acked"):
        cell += f" ({entry['not_acked']:,} not acked within Slack's 3 s)"
    return cell


def p99_or_bound(entry: Result | None) -> tuple[float | None, bool]:
    """p99 in ms, and whether it is only a lower bound (the phase did not finish: its p99 is at least that long)."""
    if not entry:
        return None, False
    if _unfinished(entry):
        if entry["delivered"] < 0.99 * entry["waiting"]:  # over 1% never got labels: the p99 is "never"
            return math.inf, True
        return float(entry["gave_up_after_s"]) * 1000, True
    if entry.get("not_acked"):
        return 3000.0, True
    return entry.get("p99_ms"), False


def ratio(bot: tuple[float | None, bool], base: tuple[float | None, bool]) -> str:
    """bot/baseline; a bound when one side is a bound, nothing when both are."""
    (b, b_cut), (s, s_cut) = bot, base
    if b is None or s is None or s == 0 or (b_cut and s_cut):
        return NONE
    if math.isinf(s):
        return "~0 (baseline: never, for over 1%)"
    if math.isinf(b):
        return "inf (bot: never, for over 1%)"
    return f"{'<= ' if s_cut else '>= ' if b_cut else ''}{b / s:.3g}x"


def _value(runs: Pair, label: str, fn: Callable[[Result | None], float | None], digits: int = 1) -> Row:
    b, s = fn(runs[0]), fn(runs[1])
    return label, fmt(b, digits), fmt(s, digits), ratio((b, False), (s, False))


def _latency(runs: Pair, label: str, *path: str) -> Row:
    b, s = get(runs[0], *path), get(runs[1], *path)
    return label, latency_cell(b), latency_cell(s), ratio(p99_or_bound(b), p99_or_bound(s))


def _rows(bot: Result | None, base: Result | None) -> list[Row]:
    def value(label: str, fn: Callable[[Result | None], float | None], digits: int = 1) -> Row:
        return _value((bot, base), label, fn, digits)

    def latency(label: str, *path: str) -> Row:
        return _latency((bot, base), label, *path)

    def mb(kb: Any) -> float | None:
        return None if kb is None else float(kb) / 1024

    rows = [value("start-up to ready (s)", lambda r: get(r, "startup_s"), 2)]
    rows.append(value("idle RSS (MB)", lambda r: mb(get(r, "idle_rss_kb"))))
    ack_sizes = sorted({int(k) for r in (bot, base) if r for k in r.get("ack", {})})
    rows += [latency(f"ack p50 / p99 (ms), {n:,} commands in 1 s", "ack", str(n)) for n in ack_sizes]
    sizes = sorted({int(k) for r in (bot, base) if r for k in r.get("approval", {})})
    rows += [latency(f"approval->labels p50 / p99 (ms), {n:,} waiting", "approval", str(n)) for n in sizes]
    window = get(bot, "window", "seconds") or get(base, "window", "seconds")
    if window:
        waiting = get(bot, "window", "pending") or get(base, "window", "pending") or 0
        label = f"approval->labels p50 / p99 (ms), {waiting:,} waiting for {window:g} s (59-s polls renewing)"
        rows.append(latency(label, "approval_after_window"))
    for n in sizes:
        rows.append(
            value(f"CPU per completed flow (ms), {n:,} waiting", getter("approval", str(n), "cpu_ms_per_flow"), 2)
        )
    rows.append(value("pending users when memory was read (the largest batch)", getter("memory", "pending"), 0))
    rows.append(value("RSS then (MB)", lambda r: mb(get(r, "memory", "rss_kb"))))
    rows.append(value("RSS per pending authorization (KB)", getter("memory", "per_pending_kb")))
    rows.append(value("threads then", getter("memory", "threads"), 0))
    if window:
        rows.append(value("pending during the window", lambda r: get(r, "window", "pending"), 0))
        rows.append(value("RSS then (MB)", lambda r: mb(get(r, "window", "memory", "rss_kb"))))
        rows.append(value("RSS per pending authorization then (KB)", getter("window", "memory", "per_pending_kb")))
        rows.append(value("Arcade requests / pending / minute", lambda r: get(r, "window", "per_pending_per_min"), 3))
        rows.append(value("long-polls open at the end of the window", getter("window", "long_polls_open_at_end"), 0))
        rows.append(value("CPU while waiting (% of a core)", lambda r: get(r, "window", "target_cpu_pct")))
    if ack_sizes:
        top = str(ack_sizes[-1])
        label = f"busiest fake's CPU, {int(top):,}-command burst (% of a core)"
        rows.append(value(label, lambda r: get(r, "ack", top, "busiest_fake_cpu_pct")))
    if sizes:
        top = str(sizes[-1])
        label = f"busiest fake's CPU, approvals of {int(top):,} (% of a core)"
        rows.append(value(label, lambda r: get(r, "approval", top, "busiest_fake_cpu_pct")))
    return rows + _mixed_rows((bot, base))


def _mixed_rows(runs: Pair) -> list[Row]:
    """The mixed bursts (``bench.mixed``): commands arriving while waiting users approve; the bot's runs only."""
    entry = get(runs[0], "mixed") or get(runs[1], "mixed")
    if not entry:
        return []
    burst, size = entry["burst"], entry["waiting"]

    def delivered(run: Result | None) -> str:
        approval = get(run, "mixed", "approval")
        if not approval:
            return NONE
        done = "finished" if approval["finished"] else "did not finish"
        return f"{approval['delivered']:,} of {approval['waiting']:,}, {done}"

    def started(run: Result | None) -> str:
        mixed = get(run, "mixed")
        if not mixed:
            return NONE
        first = get(mixed, "ack", "first_sent_after_start_ms"), get(mixed, "approval", "first_approved_after_start_ms")
        return f"{fmt(first[0])} / {fmt(first[1])}"

    return [
        _latency(
            runs,
            f"mixed: ack p50 / p99 (ms), {burst:,} commands in 1 s while {burst:,} of {size:,} approve",
            "mixed",
            "ack",
        ),
        _value(runs, "mixed: ack max (ms)", getter("mixed", "ack", "max_ms")),
        _value(runs, "mixed: commands not acked within Slack's 3 s", getter("mixed", "ack", "not_acked"), 0),
        _latency(
            runs, f"mixed: approval->labels p50 / p99 (ms), the {burst:,} approving meanwhile", "mixed", "approval"
        ),
        ("mixed: approvers given labels", delivered(runs[0]), delivered(runs[1]), NONE),
        ("mixed: first command / first approval after the shared start (ms)", started(runs[0]), started(runs[1]), NONE),
        _value(
            runs,
            "mixed: CPU per completed flow (ms), the command burst's work included",
            getter("mixed", "cpu_ms_per_flow"),
            2,
        ),
        _value(runs, "mixed: busiest fake's CPU over the phase (% of a core)", getter("mixed", "busiest_fake_cpu_pct")),
    ]


def bot_setup(run: Result) -> str:
    """``1 worker, sqlite`` for a bot run (empty for the baseline)."""
    if "workers" not in run:
        return ""
    return f"{run['workers']} worker{'s' if run['workers'] > 1 else ''}, {run['database']}"


def table(results: list[Result]) -> str:
    """One Markdown table per bot run (and latency, mode): bot, baseline, bot/baseline (p99 for latencies)."""
    out: list[str] = []
    keys = sorted({(r["latency"], r["mode"]) for r in results}, key=lambda k: (k[0] != "zero", k[1] != "http"))
    for latency, mode in keys:
        runs = [r for r in results if (r["latency"], r["mode"]) == (latency, mode)]
        base = next((r for r in runs if r["impl"] == "baseline"), None)
        bots: list[Result | None] = [r for r in runs if r["impl"] == "bot"]
        for bot in bots or [None]:
            setup = f", bot on {bot_setup(bot)}" if bot else ""
            out += [
                f"\n**{mode} mode, {latency}-latency fakes{setup}**\n",
                "| metric | bot | baseline | bot/baseline |",
            ]
            out.append("|---|---|---|---|")
            out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in _rows(bot, base)]
    return "\n".join(out)


def workers_table(results: list[Result]) -> str:
    """The approval burst per worker count, side by side with one worker: what more cores buy."""
    bots = [r for r in results if r["impl"] == "bot"]
    if len({r["workers"] for r in bots}) < 2:
        return ""
    out = ["\n**Workers: approval burst, zero-latency fakes**\n"]
    out += [
        "| mode, store | waiting | workers | approval->labels p50 / p99 (ms) | p99 vs 1 worker | CPU per flow (ms) "
        "| waits per worker |",
        "|---|---|---|---|---|---|---|",
    ]
    groups = sorted({(r["latency"], r["mode"], r["database"]) for r in bots})
    for latency, mode, engine in groups:
        runs = sorted(
            (r for r in bots if (r["latency"], r["mode"], r["database"]) == (latency, mode, engine)),
            key=lambda r: int(r["workers"]),
        )
        sizes = sorted({int(k) for r in runs for k in r.get("approval", {})})
        for n in sizes:
            first = p99_or_bound(get(runs[0], "approval", str(n)))
            for run in runs:
                entry = get(run, "approval", str(n))
                split = " / ".join(f"{c:,}" for c in get(entry, "settled", "per_worker") or [])
                cells = [f"{mode}, {engine}", f"{n:,}", str(run["workers"]), latency_cell(entry)]
                cells += [ratio(p99_or_bound(entry), first), fmt(get(entry, "cpu_ms_per_flow"), 2), split]
                out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)
