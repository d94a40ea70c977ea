"""Authorization flows: start, bounded wait, leases. Knows nothing about Slack.

A flow starts with Arcade's ``authorize``. If the user must consent, the flow is written to the
store and a waiter task long-polls Arcade (``status?wait=…``, at most 59 s a call) until the flow
completes, fails, or reaches its deadline. Errors while waiting (timeouts, 5xx, 429, dropped
connections) are retried with capped, jittered backoff until the deadline. When the flow ends,
its pending row becomes an outbox row in one transaction and the callback set with
``deliver_to`` is called; the caller decides what the user is told.

Several replicas share the work through leases in the store. The replica that starts a flow holds
it; ``keep_leases`` renews what this replica holds every third of ``lease_seconds``, stops waiters
whose rows another replica took, restarts what it holds but runs nothing for, and claims rows whose
leases ran out: a replica that died, one that stopped cleanly (``close`` hands its leases back at
once), and owed answers whose retry time came. If the store cannot be reached for a whole lease,
this replica stops waiting altogether, since another may have taken its rows by then.

The caller passes ``reply``, an opaque string saved with the flow (the Slack layer stores where
to answer); this module never looks inside it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Literal

from bot.arcade import MAX_WAIT, Arcade
from bot.errors import BotError, StoreUnavailable
from bot.models import Authorized, Need, OutboxItem, Outcome, PendingFlow, SlackUser
from bot.retry import backoff_delay, jitter
from bot.store import Store
from bot.tasks import Background

log = logging.getLogger(__name__)

MIN_POLL_INTERVAL = 1.0  # never re-poll faster than this, even if Arcade answers a long-poll early
DEFAULT_LEASE_SECONDS = 30.0
CLAIM_BATCH = 1_000  # rows one replica takes over per lease tick


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


def new_owner() -> str:
    """A name for this replica's leases, unique per process, readable in the store."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class AuthFlows:
    def __init__(
        self,
        arcade: Arcade,
        store: Store,
        *,
        timeout_seconds: float,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        owner: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._arcade = arcade
        self._store = store
        self._timeout = timeout_seconds
        self._lease = lease_seconds
        self.owner = owner or new_owner()
        self._clock = clock
        self._on_finished: OnFinished | None = None
        self._watching: dict[str, asyncio.Task[None]] = {}  # auth id -> this replica's waiter
        self._delivering: set[int] = set()  # outbox ids being handed to delivery
        self._good_until = 0.0  # this replica's leases run out then, unless renewed
        self._tasks = Background()

    def deliver_to(self, on_finished: OnFinished) -> None:
        """Where finished flows go (their outbox item is already durable). Set once, before ``keep_leases``."""
        self._on_finished = on_finished

    @property
    def waiting(self) -> int:
        return len(self._watching)

    async def start(self, user: SlackUser, reply: str, need: Need) -> Authorized | Prompt:
        """Authorize ``user`` for ``need``; if consent is needed, make sure exactly one waiter (on any
        replica) watches it. Each provider has its own pending flow."""
        result = await self._arcade.authorize(user, need)
        if isinstance(result, Authorized):
            return result
        now = self._clock()
        flow = PendingFlow(user, result.auth_id, result.url, reply, now, now + self._timeout, need.name)
        if await self._store.put_pending(flow, owner=self.owner, lease_seconds=self._lease):
            self._watch_flow(flow)
            await self._store.audit(user, "prompted", provider=need.name)
            log.info(
                "auth.prompted user=%s provider=%s auth_id=%s timeout=%ds",
                user.arcade_id,
                need.name,
                flow.auth_id,
                self._timeout,
            )
            return Prompt(flow, again=False)
        # Arcade handed back the authorization that is pending already: the same link, no second waiter.
        await self._store.update_reply(user, reply, need.name)
        current = await self._store.get_pending(user, need.name)
        log.info("auth.reprompted user=%s provider=%s auth_id=%s", user.arcade_id, need.name, result.auth_id)
        return Prompt(replace(current if current is not None else flow, reply=reply), again=True)

    def start_leases(self) -> None:
        """Keep this replica's leases, and take over the others' when they run out, until ``close``."""
        self._tasks.spawn(self._keep_leases(), name="auth-leases")

    async def _keep_leases(self) -> None:
        # The entry point ticks once before it reports ready, so the first tick here waits its turn.
        while True:
            await asyncio.sleep(self._lease / 3)
            try:
                await self.tick()
            except StoreUnavailable as exc:  # tried again at the next tick
                log.warning("lease.tick_failed owner=%s error=%s", self.owner, exc)
            except Exception:
                log.exception("lease.tick_failed owner=%s", self.owner)

    async def tick(self) -> tuple[int, int]:
        """Renew, repair and claim once; returns how many flows and owed answers were taken over."""
        # The store counts each lease from when its write runs; this replica's own view of when its
        # leases run out counts from before the call, so it never thinks them longer than they are.
        until = self._clock() + self._lease
        try:
            held = await self._store.leases.renew(self.owner, self._lease)
        except Exception as exc:  # noqa: BLE001 - whatever the engine raises: the store is unreachable
            if self._clock() >= self._good_until and self._watching:
                log.warning("lease.expired owner=%s waiting=%d: stopping every wait", self.owner, self.waiting)
                for task in list(self._watching.values()):
                    task.cancel()
            log.warning("lease.renew_failed owner=%s error=%s", self.owner, type(exc).__name__)
            return 0, 0
        self._good_until = until
        for auth_id, task in list(self._watching.items()):
            if auth_id not in held.flows:  # superseded, or taken by a replica that thought us dead
                task.cancel()
        idle_flows, idle_owed = set(held.flows - self._watching.keys()), set(held.outbox - self._delivering)
        if idle_flows or idle_owed:
            self._take(*await self._store.leases.held(self.owner, idle_flows, idle_owed))
        flows, owed = await self._store.leases.claim(self.owner, self._lease, limit=CLAIM_BATCH)
        self._take(flows, owed)
        if flows or owed:
            log.info("lease.claimed owner=%s flows=%d answers=%d", self.owner, len(flows), len(owed))
        return len(flows), len(owed)

    async def close(self) -> None:
        """Stop waiting and hand every lease back, so another replica (or the next start) takes over at once."""
        await self._tasks.close()
        try:
            released = await self._store.leases.release(self.owner)
        except Exception as exc:  # noqa: BLE001 - the leases then simply run out
            log.warning("lease.release_failed owner=%s error=%s", self.owner, type(exc).__name__)
        else:
            log.info("lease.released owner=%s rows=%d", self.owner, released)

    def _take(self, flows: list[PendingFlow], owed: list[OutboxItem]) -> None:
        for flow in flows:
            self._watch_flow(flow)
        for item in owed:
            self._deliver(item, None)

    def _watch_flow(self, flow: PendingFlow) -> None:
        if flow.auth_id not in self._watching:
            task = self._tasks.spawn(self._watch(flow), name=f"auth-wait-{flow.auth_id}")
            self._watching[flow.auth_id] = task
            task.add_done_callback(lambda done: self._forget(flow.auth_id, done))

    def _forget(self, auth_id: str, task: asyncio.Task[None]) -> None:
        if self._watching.get(auth_id) is task:
            del self._watching[auth_id]

    async def _watch(self, flow: PendingFlow) -> None:
        try:
            outcome = await self.wait(flow)
            kind: Outcome = "completed" if isinstance(outcome, Authorized) else outcome
            item = await self._store.finish(flow.user, flow.auth_id, kind, owner=self.owner, lease_seconds=self._lease)
        except asyncio.CancelledError:
            raise
        except StoreUnavailable as exc:  # the row stays ours: the next lease tick starts a new waiter
            log.warning("auth.finish_failed user=%s auth_id=%s error=%s", flow.user.arcade_id, flow.auth_id, exc)
            return
        except Exception:  # likewise, with the traceback of what went wrong
            log.exception("auth.wait_crashed user=%s auth_id=%s", flow.user.arcade_id, flow.auth_id)
            return
        if item is None:  # superseded by a newer flow for the same user
            return
        took = self._clock() - flow.created_at
        log.info("auth.%s user=%s auth_id=%s after=%.1fs", kind, flow.user.arcade_id, flow.auth_id, took)
        self._deliver(item, outcome if isinstance(outcome, Authorized) else None)

    def _deliver(self, item: OutboxItem, authorized: Authorized | None) -> None:
        if item.id not in self._delivering:
            self._delivering.add(item.id)
            self._tasks.spawn(self._hand_over(item, authorized), name=f"delivery-{item.id}")

    async def _hand_over(self, item: OutboxItem, authorized: Authorized | None) -> None:
        try:
            if self._on_finished is None:
                log.error("auth.undelivered id=%d: no delivery set; the outbox keeps it", item.id)
                return
            await self._on_finished(item, authorized)
        except StoreUnavailable as exc:  # the row stays ours: the next lease tick hands it over again
            log.warning("delivery.interrupted id=%d user=%s error=%s", item.id, item.user.arcade_id, exc)
        except Exception:  # likewise, with the traceback of what went wrong
            log.exception("delivery.crashed id=%d user=%s", item.id, item.user.arcade_id)
        finally:
            self._delivering.discard(item.id)

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
