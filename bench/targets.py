"""The issue's targets, checked on the bot's runs: met, not met, or n/a (not measured in this run).

Zero-latency runs, per mode (with workers and store when not one worker on SQLite): acks of a
1,000-command burst; approval -> labels at 1,000 and 5,000 waiting; CPU per completed flow;
memory; Arcade's request rate while waiting; the baseline comparison; the mixed bursts (1,000
commands while 1,000 of 5,000 approve). Realistic-latency runs: approval -> labels at 100
waiting. A target without a limit is there for information.
"""

from __future__ import annotations

from bench.report import Result, bot_setup, fmt, get, p99_or_bound

MIXED_ISSUE = (5000, 1000)  # the issue's mixed bursts: users waiting, commands (and approvers) in the second


class Checks:
    """The checks of one run, in order."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.rows: list[Result] = []

    def add(self, name: str, value: float | None, limit: float | None, *, at_least: bool = False) -> Result:
        met = None if value is None or limit is None else (value >= limit if at_least else value <= limit)
        self.rows.append({"mode": self.mode, "target": name, "value": value, "limit": limit, "met": met})
        return self.rows[-1]


def check(results: list[Result]) -> list[Result]:
    """Every target, per bot run: zero-latency runs first (as planned), then realistic ones."""
    rows: list[Result] = []
    for bot in (r for r in results if r["impl"] == "bot"):
        mode = bot["mode"] + (f" ({bot_setup(bot)})" if bot_setup(bot) != "1 worker, sqlite" else "")
        if bot["latency"] != "zero":
            checks = Checks(f"{mode}, {bot['latency']} latency")
            value = p99_or_bound(get(bot, "approval", "100"))[0]
            checks.add("approval->delivery p99 <= 300 ms, 100 waiting", value, 300.0)
            rows += checks.rows
            continue
        base = next(
            (r for r in results if (r["impl"], r["latency"], r["mode"]) == ("baseline", "zero", bot["mode"])), None
        )
        checks = Checks(mode)
        _zero_latency(checks, bot, base)
        _mixed(checks, bot)
        rows += checks.rows
    return rows


def _zero_latency(checks: Checks, bot: Result, base: Result | None) -> None:
    add = checks.add
    add("ack p99 <= 50 ms, 1,000 commands in 1 s", p99_or_bound(get(bot, "ack", "1000"))[0], 50)
    for n, limit in (("1000", 250.0), ("5000", 3000.0)):
        value = p99_or_bound(get(bot, "approval", n))[0]
        add(f"approval->delivery p99 <= {limit:,g} ms, {int(n):,} waiting", value, limit)
    add("CPU per completed flow <= 1.0 ms, 1,000 waiting", get(bot, "approval", "1000", "cpu_ms_per_flow"), 1.0)
    at_5000 = (get(bot, "memory", "pending") or 0) >= 5000  # at 100 pending, warm-up costs dominate
    add(
        "RSS per pending authorization <= 30 KB, 5,000 pending",
        get(bot, "memory", "per_pending_kb") if at_5000 else None,
        30,
    )
    waited = get(bot, "window", "memory", "pending") or 0
    if waited > (get(bot, "memory", "pending") or 0):
        add(
            f"RSS per pending authorization <= 30 KB, {waited:,} waiting",
            get(bot, "window", "memory", "per_pending_kb"),
            30,
        )
    workers = int(bot.get("workers", 1))
    add(f"idle RSS <= 120 MB{' per worker' if workers > 1 else ''}", bot["idle_rss_kb"] / 1024 / workers, 120)
    if "window" in bot:
        window = bot["window"]
        long_enough = window["seconds"] >= 59  # shorter windows may see no renewal at all
        row = add(
            "Arcade requests <= 1.2 / pending / minute", window["per_pending_per_min"] if long_enough else None, 1.2
        )
        if long_enough and window["per_pending_per_min"] < 0.8:  # 59-s polls: each waiting user renews once a minute
            row["note"] = (
                f"renewals late: {window['requests']:,} status calls for {window['pending']:,} waiting users in "
                f"{window['seconds']:g} s, {window['long_polls_open_at_end']:,} long-polls open at the end"
            )
    (b, b_cut), (s, _) = p99_or_bound(get(bot, "approval", "1000")), p99_or_bound(get(base, "approval", "1000"))
    # An unfinished baseline's p99 is at least its give-up time (or "never"), so s / b is a lower bound.
    better = None if not b or not s or b_cut else s / b
    add(">= 10x better p99 than the baseline, 1,000 waiting", better, 10, at_least=True)


def _mixed(checks: Checks, bot: Result) -> None:
    """The mixed bursts' acks against the target at the issue's sizes; other sizes are shown in a note."""
    entry = get(bot, "mixed")
    ack = p99_or_bound(get(entry, "ack"))[0]
    delivery = p99_or_bound(get(entry, "approval"))[0]
    issue = entry is not None and (entry["waiting"], entry["burst"]) == MIXED_ISSUE
    row = checks.add("ack p99 <= 50 ms, 1,000 commands while 1,000 of 5,000 approve", ack if issue else None, 50)
    info = checks.add("approval->delivery p99 while commands arrive, 1,000 of 5,000 approving", delivery, None)
    if entry is not None and not issue:
        sizes = f"{entry['burst']:,} commands while {entry['burst']:,} of {entry['waiting']:,} approve"
        row["note"] = f"measured at {sizes}: {fmt(ack, 2)} ms"
        info["target"] = (
            f"approval->delivery p99 while commands arrive, {entry['burst']:,} of {entry['waiting']:,} approving"
        )


def table(checks: list[Result]) -> str:
    lines = ["| mode | target | measured | met |", "|---|---|---|---|"]
    for c in checks:
        met = "n/a" if c["met"] is None else ("**met**" if c["met"] else "**not met**")
        met = "for information" if c["limit"] is None else met
        note = f" ({c['note']})" if c.get("note") else ""
        lines.append(f"| {c['mode']} | {c['target']} | {fmt(c['value'], 2)} | {met}{note} |")
    return "\n".join(lines)
