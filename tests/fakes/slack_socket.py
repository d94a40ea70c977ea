"""The Socket Mode side of the fake Slack (slack.md §4.1).

One-shot tickets issued by ``apps.connections.open``, the ``GET /link/`` websocket, a ``hello`` on
connect, envelopes sent over the newest open connection, acks matched to envelopes by id, and the
``disconnect`` message Slack sends before it drops a connection. Ping frames are answered by aiohttp
(``autoping``), as slack_sdk expects.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web


@dataclass(frozen=True)
class SocketAck:
    """What came back for one envelope: whether it was acked in time, and the ack's ``payload``."""

    acked: bool
    payload: dict[str, Any] | None
    elapsed: float


class SocketModeLink:
    """Tickets, open websockets and envelopes awaiting their ack."""

    def __init__(self, app_id: str) -> None:
        self.app_id = app_id
        self.connections = 0  # accepted connections so far
        self.received: list[dict[str, Any]] = []  # every JSON message the client sent, in order
        self._tickets: set[str] = set()
        self._sockets: list[web.WebSocketResponse] = []
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._changed = asyncio.Event()  # set whenever a connection opens or closes
        # Slack spreads an app's envelopes over its open connections; False: always the newest one.
        self.spread = False
        self._turn = 0

    def issue_ticket(self) -> str:
        ticket = secrets.token_hex(16)
        self._tickets.add(ticket)
        return ticket

    @property
    def connected(self) -> bool:
        return self._newest() is not None

    def _newest(self) -> web.WebSocketResponse | None:
        open_sockets = [ws for ws in self._sockets if not ws.closed]
        return open_sockets[-1] if open_sockets else None

    def _next(self) -> web.WebSocketResponse | None:
        open_sockets = [ws for ws in self._sockets if not ws.closed]
        self._turn += 1
        return open_sockets[self._turn % len(open_sockets)] if open_sockets else None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid_ticket")
        self._tickets.discard(ticket)  # single use, like Slack's
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        self.connections += 1
        self._changed.set()
        hello = {
            "type": "hello",
            "num_connections": sum(not s.closed for s in self._sockets),
            "debug_info": {
                "host": f"applink-fake-{self.connections}",
                "build_number": 10,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self.app_id},
        }
        await ws.send_str(json.dumps(hello))
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._on_text(message.data)
        finally:
            self._sockets.remove(ws)
            self._changed.set()
        return ws

    def _on_text(self, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        self.received.append(message)
        waiter = self._pending.pop(str(message.get("envelope_id")), None)
        if waiter is not None and not waiter.done():
            waiter.set_result(message)

    async def send(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        ack_within: float,
        retry_attempt: int | None = None,
        retry_reason: str | None = None,
    ) -> SocketAck:
        """Send one envelope (over the newest connection, or in turn over every open one with ``spread``)
        and wait up to ``ack_within`` seconds for its ack."""
        ws = self._next() if self.spread else self._newest()
        if ws is None:
            raise AssertionError("no Socket Mode connection is open: start the client first")
        envelope_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": kind,
            "accepts_response_payload": kind == "slash_commands",
        }
        if kind == "events_api":
            envelope["retry_attempt"] = retry_attempt or 0
            envelope["retry_reason"] = retry_reason or ""
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[envelope_id] = waiter
        started = time.perf_counter()
        await ws.send_str(json.dumps(envelope))
        try:
            reply = await asyncio.wait_for(waiter, ack_within)
        except TimeoutError:
            self._pending.pop(envelope_id, None)
            return SocketAck(acked=False, payload=None, elapsed=time.perf_counter() - started)
        body = reply.get("payload")
        return SocketAck(
            acked=True,
            payload=body if isinstance(body, dict) else None,
            elapsed=time.perf_counter() - started,
        )

    async def disconnect(self, reason: str, *, grace: float = 2.0) -> None:
        """Send ``disconnect``, give the client ``grace`` seconds to move, then close the connection."""
        ws = self._newest()
        if ws is None:
            raise AssertionError("no Socket Mode connection is open")
        await ws.send_str(json.dumps({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}}))
        try:
            async with asyncio.timeout(grace):
                while not ws.closed and self._newest() is ws:
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            pass
        if not ws.closed:
            await ws.close(code=WSCloseCode.GOING_AWAY, message=reason.encode())

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
        for waiter in self._pending.values():
            waiter.cancel()
        self._pending.clear()
