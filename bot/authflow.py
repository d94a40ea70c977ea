"""Authorization flows: start, bounded wait, resume. Knows nothing about Slack.

A flow starts with Arcade's ``authorize``. If the user must consent, the flow is written to the
store and a waiter task long-polls Arcade (``status?wait=…``, at most 59 s a call) until the flow
completes, fails, or reaches its deadline. Errors while waiting (timeouts, 5xx, 429, dropped
connections) are retried with capped, jittered backoff until the deadline. When the flow ends,
its pending row becomes an outbox row in one transaction and the callback set with
``deliver_to`` is called; the caller decides what the user is told. At start-up ``resume`` restarts a waiter for every
pending row, so a restart loses nobody.

The caller passes ``reply``, an opaque string saved with the flow (the Slack layer stores where
to answer); this module never looks inside it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Literal

from bot.arcade import MAX_WAIT, Arcade
from bot.errors import BotError
from bot.models import Authorized, OutboxItem, Outcome, PendingFlow, SlackUser
from bot.retry import backoff_delay, jitter
from bot.store import Store
from bot.tasks import Background

log = logging.getLogger(__name__)

MIN_POLL_INTERVAL = 1.0  # never re-poll faster than this, even if Arcade answers a long-poll early


def _poll_wait() -> float:
    """A long-poll length a little below Arcade's maximum, jittered so that users who started
    together do not all renew together."""
    return MAX_WAIT - jitter.uniform(0.0, 9.0)


OnFinished = Callable[[OutboxItem, Authorized | None], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Prompt:
    """The user must open ``flow.url``. ``again`` is True when that link was already sent once."""

    flow: PendingFlow
    again: bool


class AuthFlows:
    def __init__(
        self,
        arcade: Arcade,
        store: Store,
        *,
        timeout_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._arcade = arcade
        self._store = store
        self._timeout = timeout_seconds
        self._on_finished: OnFinished | None = None
        self._clock = clock
        self._waiting: dict[SlackUser, str] = {}  # user -> auth id being waited on
        self._tasks = Background()

    def deliver_to(self, on_finished: OnFinished) -> None:
        """Where finished flows go (their outbox item is already durable). Set once, before ``resume``."""
        self._on_finished = on_finished

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def start(self, user: SlackUser, reply: str) -> Authorized | Prompt:
        """Authorize ``user``; if consent is needed, make sure exactly one waiter watches the flow."""
        result = await self._arcade.authorize(user)
        if isinstance(result, Authorized):
            return result
        if self._waiting.get(user) == result.auth_id:
            flow = await self._store.get_pending(user)
            if flow is not None and flow.auth_id == result.auth_id:
                await self._store.update_reply(user, reply)
                log.info("auth.reprompted user=%s auth_id=%s", user.arcade_id, result.auth_id)
                return Prompt(replace(flow, reply=reply), again=True)
        now = self._clock()
        flow = PendingFlow(user, result.auth_id, result.url, reply, now, now + self._timeout)
        # Claim the user before the first await, so a concurrent start sees this flow.
        self._waiting[user] = flow.auth_id
        await self._store.put_pending(flow)
        await self._store.audit(user, "prompted")
        self._spawn(flow)
        log.info("auth.prompted user=%s auth_id=%s timeout=%ds", user.arcade_id, flow.auth_id, self._timeout)
        return Prompt(flow, again=False)

    async def resume(self) -> int:
        """Start a waiter for every pending flow in the store (called once at start-up)."""
        flows = await self._store.all_pending()
        for flow in flows:
            self._waiting[flow.user] = flow.auth_id
            self._spawn(flow)
        log.info("auth.resumed count=%d", len(flows))
        return len(flows)

    async def close(self) -> None:
        """Stop waiting. Pending rows stay in the store and are resumed at the next start."""
        await self._tasks.close()

    def _spawn(self, flow: PendingFlow) -> None:
        self._tasks.spawn(self._watch(flow), name=f"auth-wait-{flow.auth_id}")

    async def _watch(self, flow: PendingFlow) -> None:
        try:
            outcome = await self.wait(flow)
            kind: Outcome = "completed" if isinstance(outcome, Authorized) else outcome
            item = await self._store.finish(flow.user, flow.auth_id, kind)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("auth.wait_crashed user=%s auth_id=%s", flow.user.arcade_id, flow.auth_id)
            return
        finally:
            if self._waiting.get(flow.user) == flow.auth_id:
                del self._waiting[flow.user]
        if item is None:  # superseded by a newer flow for the same user
            return
        took = self._clock() - flow.created_at
        log.info("auth.%s user=%s auth_id=%s after=%.1fs", kind, flow.user.arcade_id, flow.auth_id, took)
        if self._on_finished is None:
            log.error("auth.undelivered id=%d: no delivery set; the outbox keeps it for the next start", item.id)
            return
        await self._on_finished(item, outcome if isinstance(outcome, Authorized) else None)

    async def wait(self, flow: PendingFlow) -> Authorized | Literal["failed", "expired"]:
        """Long-poll until completed (``Authorized``), ``"failed"`` or ``"expired"``."""
        attempt = 0
        while True:
            remaining = flow.deadline - self._clock()
            if remaining <= 0:
                return "expired"
            started = time.monotonic()
            try:
                result = await self._arcade.poll(flow.auth_id, math.ceil(min(remaining, _poll_wait())))
            except BotError as exc:
                delay = min(backoff_delay(attempt), remaining)
                attempt += 1
                log.info("auth.poll_retry auth_id=%s in=%.1fs reason=%s", flow.auth_id, delay, exc)
                await asyncio.sleep(delay)
                continue
            attempt = 0
            if result != "pending":
                return result
            if time.monotonic() - started < MIN_POLL_INTERVAL:
                await asyncio.sleep(MIN_POLL_INTERVAL)
