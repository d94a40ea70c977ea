"""Bench-only subclasses of the test fakes: same HTTP contracts, but they scale to thousands of users.

The test fakes are written for a handful of users. At 5,000 waiting users three of their choices
would make the *fake* the bottleneck, so they are replaced here (and only here):

* ``FakeArcade`` wakes every long-poll on every approval (one ``asyncio.Condition``,
  ``notify_all``): 5,000 approvals x 5,000 waiters = 25 M wake-ups. ``ScalableArcade`` gives each
  flow its own ``asyncio.Event``.
* ``FakeArcade.pending_for`` and ``owner_of`` (called for every authorize, approval and Gmail
  call) scan every flow / connection; here they use indexes.
* ``FakeSlack`` drives the bot through one ``aiohttp`` session capped at 100 connections, so a
  burst of 1,000 commands would queue inside the fake and inflate ack times; ``BenchSlack`` uses
  an uncapped session, like Slack's many senders.

``BenchSlack`` also timestamps (``time.monotonic``, comparable across processes on Linux) the
first prompt and the first labels message each user receives, on any private route.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.arcade import Connection, FakeArcade, Flow
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_world import Args

LABEL_MARKER = "Receipts"  # a visible user label of the fake's default mailbox: only a labels list shows it
PROMPT_MARKER = "/_fake/oauth/consent"  # every authorization URL the fake Arcade hands out


def slack_id(arcade_user: str) -> str:
    """``slack:T1:U2`` (the bot's default naming), ``u2@example.com`` (its Slack-email naming, the fake
    Slack's emails) or ``U2`` (the baseline's) -> ``U2``."""
    if "@" in arcade_user:
        return arcade_user.split("@", 1)[0].upper()
    return arcade_user.rsplit(":", 1)[-1]


class ScalableArcade(FakeArcade):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inflight = 0  # status long-polls currently open
        self.approved_at: dict[str, float] = {}  # slack user id -> monotonic time the flow completed
        self._events: dict[str, asyncio.Event] = {}
        self._by_user: dict[str, list[Flow]] = {}  # arcade user id -> flows, oldest first
        self._by_slack: dict[str, str] = {}  # slack user id -> arcade user id
        self._token_key: dict[str, tuple[str, str]] = {}

    async def stop(self) -> None:
        self._closing = True
        for event in self._events.values():
            event.set()
        await super().stop()

    def pending_for(self, user_id: str) -> list[Flow]:
        return [f for f in self._by_user.get(user_id, ()) if f.status == "pending"]

    def owner_of(self, token: str) -> str | None:
        key = self._token_key.get(token)
        connection_id = self._token_connection.get(token)
        connection = self.connections.get(key) if key else None
        return self.tokens[token] if connection is not None and connection.id == connection_id else None

    def pending_count(self) -> int:
        return sum(1 for f in self.flows.values() if f.status == "pending")

    async def approve_slack_user(self, user: str) -> float | None:
        """Approve the newest pending flow of a Slack user; returns the monotonic time it flipped."""
        arcade_user = self._by_slack.get(user)
        pending = self.pending_for(arcade_user) if arcade_user else []
        if not pending:
            return None
        await self._settle(pending[-1], allow=True)
        return self.approved_at[user]

    def _new_flow(
        self, user_id: str, provider_id: str, scopes: frozenset[str], next_uri: str | None, *, status: str
    ) -> Flow:
        flow = super()._new_flow(user_id, provider_id, scopes, next_uri, status=status)
        self._by_user.setdefault(user_id, []).append(flow)
        self._by_slack[slack_id(user_id)] = user_id
        return flow

    def _mint(self, connection: Connection) -> str:
        token = super()._mint(connection)
        self._token_key[token] = (connection.user_id, connection.provider_id)
        return token

    async def _settle(self, flow: Flow, *, allow: bool, email: str | None = None) -> str | None:
        target = await super()._settle(flow, allow=allow, email=email)  # no one waits on its Condition
        self.approved_at[slack_id(flow.user_id)] = time.monotonic()
        event = self._events.pop(flow.auth_id, None)
        if event is not None:
            event.set()
        return target

    async def _status(self, request: web.Request) -> web.Response:
        auth_id = request.query.get("id", "")
        wait_text = request.query.get("wait", "0")
        flow = self.flows.get(auth_id)
        if not auth_id or not wait_text.isdigit() or int(wait_text) > self.wait_max or flow is None:
            return await super()._status(request)  # the same 400/404 answers as the test fake
        if flow.status == "pending" and int(wait_text) and not self._closing:
            event = self._events.setdefault(auth_id, asyncio.Event())
            self.inflight += 1
            try:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(int(wait_text)):
                        await event.wait()
            finally:
                self.inflight -= 1
            if flow.status == "pending" and not self._closing and self.timeout_mode == "408":
                return web.json_response({"name": "request_timeout", "message": "timed out"}, status=408)
        return web.json_response(self._body(flow))


class BenchSlack(FakeSlack):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.prompted_at: dict[str, float] = {}
        self.delivered_at: dict[str, float] = {}
        self.delivered_via: dict[str, str] = {}

    async def start(self) -> None:
        await super().start()
        if self._session is not None:
            await self._session.close()
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    def respond(self, path: str, raw: str) -> tuple[int, str]:
        status, text = super().respond(path, raw)
        hook = self._hooks.get(path)
        if status == 200 and hook is not None:
            self._saw(hook.user, raw, "response_url")
        return status, text

    def _post_message(self, args: Args) -> Args:
        answer = super()._post_message(args)
        channel = self.channels.get(str(answer.get("channel", "")))
        if answer.get("ok") and channel is not None and channel.im_user is not None:
            self._saw(channel.im_user, json.dumps(args), "dm")
        return answer

    def _post_ephemeral(self, args: Args) -> Args:
        answer = super()._post_ephemeral(args)
        if answer.get("ok"):
            self._saw(str(args.get("user", "")), json.dumps(args), "ephemeral")
        return answer

    def _saw(self, user: str, raw: str, via: str) -> None:
        now = time.monotonic()
        if PROMPT_MARKER in raw:
            self.prompted_at.setdefault(user, now)
        if LABEL_MARKER in raw and user not in self.delivered_at:
            self.delivered_at[user] = now
            self.delivered_via[user] = via
