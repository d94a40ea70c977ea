"""What the bench times on the fakes, through their public hooks only.

``Deliveries`` timestamps (``time.monotonic``, comparable across processes on Linux) the first
prompt and the first labels list each user receives on any private route, from the fake Slack's
``on_visible``. ``approve`` completes a Slack user's newest pending flow at the fake Arcade, whose
Arcade user id depends on the implementation's naming.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from bot.verifier import START_PATH
from tests.fakes.arcade import FakeArcade

LABEL_MARKER = "Receipts"  # a visible user label of the fake's default mailbox: only a labels list shows it
# Every authorization URL the fake Arcade hands out, and the bot's own start link in front of it
# (custom verifier mode, its default): a prompt shows one of them.
PROMPT_MARKERS = ("/_fake/oauth/consent", f"{START_PATH}/")
PRIVATE_ROUTES = ("response_url", "ephemeral", "dm")


def slack_id(arcade_user: str) -> str:
    """``slack:T1:U2`` (the bot's default naming), ``u2@example.com`` (its Slack-email naming, the fake
    Slack's emails) or ``U2`` (the baseline's) -> ``U2``."""
    if "@" in arcade_user:
        return arcade_user.split("@", 1)[0].upper()
    return arcade_user.rsplit(":", 1)[-1]


class Deliveries:
    """Set as the fake Slack's ``on_visible``."""

    def __init__(self) -> None:
        self.prompted_at: dict[str, float] = {}
        self.delivered_at: dict[str, float] = {}
        self.delivered_via: dict[str, str] = {}
        self.answers: dict[str, int] = {}  # messages listing labels, per user: above 1 is an answer twice

    def __call__(self, via: str, record: dict[str, Any]) -> None:
        if via not in PRIVATE_ROUTES:
            return
        now, user, raw = time.monotonic(), str(record.get("user", "")), json.dumps(record)
        if any(marker in raw for marker in PROMPT_MARKERS):
            self.prompted_at.setdefault(user, now)
        if LABEL_MARKER in raw:
            self.answers[user] = self.answers.get(user, 0) + 1
            self.delivered_at.setdefault(user, now)
            self.delivered_via.setdefault(user, via)


async def approve(arcade: FakeArcade, users: list[str], slots: list[float]) -> dict[str, float]:
    """Approve each Slack user's newest pending flow, each not before its slot (monotonic); returns
    when each flipped, for those that had one."""
    by_slack = {slack_id(arcade_user): arcade_user for arcade_user in arcade.users()}
    approved: dict[str, float] = {}
    for user, slot in zip(users, slots, strict=True):  # one after the other, each at its slot (or late, and timed so)
        await asyncio.sleep(max(0.0, slot - time.monotonic()))
        arcade_user = by_slack.get(user)
        if arcade_user is not None and arcade.pending_for(arcade_user):
            await arcade.approve(arcade_user)
            approved[user] = time.monotonic()
    return approved


def pending(arcade: FakeArcade) -> int:
    return sum(1 for flow in arcade.flows.values() if flow.status == "pending")
