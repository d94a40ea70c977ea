"""A stateful fake of the Arcade Engine auth API, served over real HTTP on loopback.

Point arcadepy at it with ``AsyncArcade(api_key=fake.api_key, base_url=fake.base_url)``.
It runs inside the test's event loop (aiohttp ``AppRunner`` + ``TCPSite`` on 127.0.0.1, port 0)
and implements what the bot uses (see shared/contracts/arcade.md §3, §4, §8.3):

- ``POST /v1/auth/authorize``: completed + fresh token when a connection covers the scopes,
  else the same pending flow for the same (user, provider, scopes), else a new flow asking for
  requested + granted scopes whose ``url`` is this server's consent page.
- ``GET /v1/auth/status?id=&wait=``: long-poll on the flow's own ``asyncio.Event`` (no busy
  polling, and an approval wakes only that flow's waiters, so thousands of open long-polls stay
  cheap); on timeout 200 + pending body, or HTTP 408 with ``timeout_mode="408"``.
- ``GET /v1/admin/user_connections`` (all three filter spellings), ``DELETE .../{id}``, health.
- ``GET``/``PUT /v1/admin/settings/session_verification``: the verifier setting (``verifier_url``;
  ``settings_readable = False`` answers 403, a key that may not read it).
- ``GET /_fake/oauth/consent?state=<flow_id>&decision=allow|deny``: the "browser" (as do
  :meth:`FakeArcade.approve` / :meth:`FakeArcade.deny`).

Fault switches (:meth:`fail_next`, :meth:`drop_next`, :meth:`set_latency`) act before the API
key check, like a proxy in front of the Engine. User verification: with ``verifier_url`` set,
consent goes through the custom-verifier stage of ``arcade_verify`` (redirect to the verifier,
``confirm_user``, ``next_uri`` landing); without it, consent completes the flow at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.arcade_verify import Verification
from tests.fakes.served import Served

ROUTES = frozenset(
    {
        "authorize",
        "status",
        "user_connections",
        "delete_connection",
        "health",
        "confirm_user",
        "confirm_user_cloud",
        "session_verification",
    }
)
_ERROR_NAMES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 408: "request_timeout"}
_USER_KEYS = ("user_id", "user.id", "user[id]")
_PROVIDER_KEYS = ("provider_id", "provider.id", "provider[id]")
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Call:
    """One HTTP request the fake received (header names lowercased)."""

    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any] | None
    headers: dict[str, str]
    at: float


@dataclass
class Flow:
    """An authorization; ``status`` is pending, completed or failed."""

    auth_id: str
    flow_id: str
    user_id: str
    provider_id: str
    scopes: frozenset[str]
    status: str
    url: str
    next_uri: str | None
    created_at: float


@dataclass
class Connection:
    """A user's grant for one provider."""

    id: str
    user_id: str
    provider_id: str
    scopes: set[str]
    email: str
    info: dict[str, Any] = field(default_factory=dict)  # more of the provider's user info (a GitHub login)

    @property
    def user_info(self) -> dict[str, Any]:
        return {"email": self.email, **self.info}


@dataclass(frozen=True)
class TokenGrant:
    """What a token minted for a connection still stands for."""

    user_id: str
    provider_id: str
    scopes: frozenset[str]
    connection_id: str


@dataclass
class _Fault:
    status: int | None  # None: close the connection without answering
    remaining: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"name": _ERROR_NAMES.get(status, "error"), "message": message}, status=status)


def _checked(route: str) -> str:
    if route not in ROUTES:
        raise ValueError(f"unknown route {route!r}; expected one of {sorted(ROUTES)}")
    return route


def default_email(user_id: str) -> str:
    """``slack:T1:U2`` -> ``slack-t1-u2@example.com``."""
    local = re.sub(r"[^a-z0-9._-]+", "-", user_id.lower()).strip("-") or "user"
    return f"{local}@example.com"


class FakeArcade(Served):
    """In-memory Arcade Engine; state and switches are plain attributes for tests to inspect."""

    def __init__(self, *, api_key: str = "arc-test-key", timeout_mode: str = "200") -> None:
        if timeout_mode not in ("200", "408"):
            raise ValueError(f"timeout_mode must be '200' or '408', not {timeout_mode!r}")
        self.api_key = api_key
        self.timeout_mode = timeout_mode
        self.base_url = ""
        self.calls: list[Call] = []
        self.flows: dict[str, Flow] = {}
        self.connections: dict[tuple[str, str], Connection] = {}
        self.tokens: dict[str, str] = {}
        self.ignore_connection_filters = False
        self.wait_max = 59
        self.wait_cap: float | None = None  # answer a long-poll still pending after this many seconds
        self.in_flight: dict[str, int] = {}  # auth id -> status calls being answered now
        self.double_polls: list[tuple[str, float]] = []  # a status call that began while another was open
        self.verifier_url: str | None = None  # the custom verifier Arcade redirects to after consent
        self.settings_readable = True  # False: the API key may not read the verifier setting (403)
        self.consent_email: str | None = None  # the Google account that consents when the link names none
        self.url_padding = ""  # appended to authorization URLs (long provider scopes and state make long URLs)
        self.verification = Verification(self)
        self.inflight = 0  # status long-polls open right now
        self._token_connection: dict[str, str] = {}
        self._token_key: dict[str, tuple[str, str]] = {}  # token -> its connection's (user, provider)
        self._by_user: dict[str, list[Flow]] = {}  # user id -> their flows, oldest first
        self._settled: dict[str, asyncio.Event] = {}  # auth id -> set when that flow stops pending
        self._faults: dict[str, list[_Fault]] = {route: [] for route in ROUTES}
        self._latency: dict[str | None, float] = {}
        self._closing = False

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        router = app.router
        router.add_post("/v1/auth/authorize", self._authorize, name="authorize")
        router.add_get("/v1/auth/status", self._status, name="status")
        router.add_get("/v1/admin/user_connections", self._list_connections, name="user_connections")
        connection_path = "/v1/admin/user_connections/{id}"
        router.add_delete(connection_path, self._delete_connection, name="delete_connection")
        router.add_get("/v1/health", self._health, name="health")
        settings_path = "/v1/admin/settings/session_verification"
        router.add_route("*", settings_path, self._session_verification, name="session_verification")  # GET, PUT
        router.add_get("/_fake/oauth/consent", self._consent, name="consent")
        self.verification.add_routes(router)
        self.base_url = await self._serve(app)

    async def stop(self) -> None:
        self._closing = True
        for event in self._settled.values():
            event.set()  # release long-polls so shutdown does not wait for them
        await self._unserve()

    # -- inspection and the "browser" ------------------------------------------------------------

    def owner_of(self, token: str) -> str | None:
        """The user of a token whose connection still exists, else None."""
        grant = self.grant_of(token)
        return grant.user_id if grant is not None else None

    def grant_of(self, token: str) -> TokenGrant | None:
        """Whose token it is, for which provider and scopes, while its connection still exists."""
        key = self._token_key.get(token)
        connection = self.connections.get(key) if key is not None else None
        if connection is None or connection.id != self._token_connection[token]:
            return None
        return TokenGrant(connection.user_id, connection.provider_id, frozenset(connection.scopes), connection.id)

    def pending_for(self, user_id: str, provider_id: str | None = None) -> list[Flow]:
        """That user's pending flows (for one provider, if named), oldest first."""
        flows = [f for f in self._by_user.get(user_id, ()) if f.status == "pending"]
        return [f for f in flows if provider_id is None or f.provider_id == provider_id]

    def users(self) -> list[str]:
        """Every user id that has had a flow, in the order of their first one."""
        return list(self._by_user)

    async def approve(
        self,
        user_id: str,
        *,
        email: str | None = None,
        scope: str | None = None,
        provider_id: str | None = None,
        info: dict[str, Any] | None = None,
    ) -> str:
        """Complete the user's newest pending flow (asking for ``scope``, for ``provider_id``, if
        named) as if they consented; returns its auth id. ``info``: more of the account's user info."""
        flow = self._newest_pending(user_id, scope, provider_id)
        await self._settle(flow, allow=True, email=email, info=info)
        return flow.auth_id

    async def deny(self, user_id: str, *, scope: str | None = None, provider_id: str | None = None) -> str:
        """Fail the user's newest pending flow as if they refused consent; returns its auth id."""
        flow = self._newest_pending(user_id, scope, provider_id)
        await self._settle(flow, allow=False)
        return flow.auth_id

    def connect(
        self,
        user_id: str,
        scopes: Iterable[str],
        *,
        email: str | None = None,
        provider_id: str = "google",
        info: dict[str, Any] | None = None,
    ) -> Connection:
        """Create (or widen) a grant directly, without a flow."""
        return self._upsert(user_id, provider_id, set(scopes), email, info)

    # -- fault switches --------------------------------------------------------------------------

    def fail_next(
        self,
        route: str,
        status: int,
        *,
        times: int = 1,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` requests to ``route`` with ``status`` (queued in order)."""
        self._queue(route, _Fault(status, times, body, dict(headers or {})))

    def drop_next(self, route: str, *, times: int = 1) -> None:
        """Close the connection of the next ``times`` requests to ``route`` without answering."""
        self._queue(route, _Fault(None, times))

    def set_latency(self, route: str | None, seconds: float) -> None:
        """Delay every request to ``route`` (``None``: to every route without its own delay)."""
        self._latency[None if route is None else _checked(route)] = seconds

    # -- internals -------------------------------------------------------------------------------

    def _queue(self, route: str, fault: _Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("times must be >= 1")
        self._faults[_checked(route)].append(fault)

    def _take_fault(self, route: str) -> _Fault | None:
        queue = self._faults.get(route)
        if not queue:
            return None
        queue[0].remaining -= 1
        return queue.pop(0) if queue[0].remaining == 0 else queue[0]

    def _newest_pending(self, user_id: str, scope: str | None = None, provider_id: str | None = None) -> Flow:
        pending = [f for f in self.pending_for(user_id, provider_id) if scope is None or scope in f.scopes]
        if not pending:
            raise LookupError(f"no pending flow for {user_id!r}")
        return pending[-1]

    def _upsert(
        self, user_id: str, provider: str, scopes: set[str], email: str | None, info: dict[str, Any] | None = None
    ) -> Connection:
        key = (user_id, provider)
        connection = self.connections.get(key)
        if connection is None:
            email_ = email or default_email(user_id)
            connection = Connection(f"conn_{secrets.token_hex(8)}", user_id, provider, set(), email_)
            self.connections[key] = connection
        connection.scopes |= scopes
        if email:
            connection.email = email
        connection.info |= info or {}
        return connection

    def _mint(self, connection: Connection) -> str:
        token = f"ya29.fake-{secrets.token_hex(16)}"
        self.tokens[token] = connection.user_id
        self._token_connection[token] = connection.id
        self._token_key[token] = (connection.user_id, connection.provider_id)
        return token

    async def _settle(
        self, flow: Flow, *, allow: bool, email: str | None = None, info: dict[str, Any] | None = None
    ) -> str | None:
        """Apply the user's decision; returns where the browser goes next (None: a 200 page)."""
        if flow.status != "pending":
            raise ValueError(f"flow {flow.auth_id} is {flow.status}, not pending")
        if allow:
            self._upsert(flow.user_id, flow.provider_id, set(flow.scopes), email, info)
            flow.status = "completed"
        else:
            flow.status = "failed"
        self._wake(flow)
        return self._after_consent(flow)

    def _wake(self, flow: Flow) -> None:
        event = self._settled.pop(flow.auth_id, None)
        if event is not None:
            event.set()

    def _after_consent(self, flow: Flow) -> str | None:
        # Where the browser goes once the flow is settled. With a custom verifier, consent does not
        # settle the flow: _consent hands it to arcade_verify, which calls finalise() later.
        return flow.next_uri

    async def finalise(self, flow: Flow, *, email: str | None) -> str | None:
        """Complete a verified flow (the first ``next_uri`` landing); returns where the browser goes."""
        return await self._settle(flow, allow=True, email=email)

    async def revoke(self, flow: Flow) -> None:
        """Fail ``flow`` and drop the grant it created (a replayed ``next_uri`` landing)."""
        flow.status = "failed"
        self.connections.pop((flow.user_id, flow.provider_id), None)
        self._wake(flow)

    def _body(self, flow: Flow) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": flow.auth_id,
            "status": flow.status,
            "provider_id": flow.provider_id,
            "scopes": sorted(flow.scopes),
            "user_id": flow.user_id,
        }
        if flow.status == "pending":
            body["url"] = flow.url
        elif flow.status == "completed":
            connection = self.connections.get((flow.user_id, flow.provider_id))
            if connection is None or not flow.scopes <= connection.scopes:
                body["status"] = "failed"  # the grant was deleted after this flow completed
            else:
                body["context"] = {"token": self._mint(connection), "user_info": connection.user_info}
        return body

    @web.middleware
    async def _middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        parsed: Any = None
        if request.can_read_body and request.content_type == "application/json":
            with contextlib.suppress(ValueError):
                parsed = await request.json()
        body = parsed if isinstance(parsed, dict) else None
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.calls.append(Call(request.method, request.path, dict(request.query), body, headers, time.monotonic()))
        route = request.match_info.route.name or ""
        delay = self._latency.get(route, self._latency.get(None, 0.0)) if route in ROUTES else 0.0
        if delay > 0:
            await asyncio.sleep(delay)
        fault = self._take_fault(route)
        if fault is not None and fault.status is None:
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # aiohttp treats this as the client having gone away
        if fault is not None and fault.status is not None:
            message = f"injected {fault.status}"
            payload = fault.body or {"name": _ERROR_NAMES.get(fault.status, "error"), "message": message}
            return web.json_response(payload, status=fault.status, headers=fault.headers)
        if route in ROUTES and route != "health" and not self._authorized(request):
            return _error(401, "missing or invalid API key")
        if request.method == "POST" and request.content_type != "application/json":
            return _error(415, "Content-Type must be application/json")
        return await handler(request)

    def _authorized(self, request: web.Request) -> bool:
        value = request.headers.get("Authorization", "")
        return value in (self.api_key, f"Bearer {self.api_key}")

    async def _authorize(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "body is not valid JSON")
        if not isinstance(body, dict):
            return _error(400, "body must be a JSON object")
        user_id, requirement, next_uri = (body.get(k) for k in ("user_id", "auth_requirement", "next_uri"))
        if not isinstance(user_id, str) or not user_id or not isinstance(requirement, dict):
            return _error(400, "user_id and auth_requirement are required")
        provider_id = requirement.get("provider_id") or requirement.get("id")
        oauth2 = requirement.get("oauth2") or {}
        scopes = (oauth2.get("scopes") or []) if isinstance(oauth2, dict) else None
        if not isinstance(provider_id, str) or not isinstance(scopes, list):
            return _error(400, "auth_requirement needs provider_id or id, and oauth2.scopes as a list")
        if not all(isinstance(s, str) for s in scopes) or not isinstance(next_uri, str | None):
            return _error(400, "scopes must be strings and next_uri a string")
        requested = frozenset(scopes)
        connection = self.connections.get((user_id, provider_id))
        granted = frozenset(connection.scopes) if connection else frozenset()
        if connection is not None and requested <= granted:
            flow = self._new_flow(user_id, provider_id, granted, next_uri, status="completed")
            return web.json_response(self._body(flow))
        wanted = requested | granted
        for flow in self.pending_for(user_id):
            if flow.provider_id == provider_id and flow.scopes == wanted:
                return web.json_response(self._body(flow))
        flow = self._new_flow(user_id, provider_id, wanted, next_uri, status="pending")
        return web.json_response(self._body(flow))

    def _new_flow(
        self, user_id: str, provider_id: str, scopes: frozenset[str], next_uri: str | None, *, status: str
    ) -> Flow:
        flow_id = str(uuid.uuid4())
        url = f"{self.base_url}/_fake/oauth/consent?state={flow_id}{self.url_padding}" if status == "pending" else ""
        auth_id = f"ac_{secrets.token_hex(12)}"
        flow = Flow(auth_id, flow_id, user_id, provider_id, scopes, status, url, next_uri, time.time())
        self.flows[flow.auth_id] = flow
        self._by_user.setdefault(user_id, []).append(flow)
        return flow

    async def _status(self, request: web.Request) -> web.Response:
        auth_id = request.query.get("id", "")
        if self.in_flight.get(auth_id):
            self.double_polls.append((auth_id, time.monotonic()))
        self.in_flight[auth_id] = self.in_flight.get(auth_id, 0) + 1
        try:
            return await self._answer_status(request, auth_id)
        finally:
            self.in_flight[auth_id] -= 1

    async def _answer_status(self, request: web.Request, auth_id: str) -> web.Response:
        if not auth_id:
            return _error(400, "id is required")
        wait_text = request.query.get("wait", "0")
        if not wait_text.isdigit() or int(wait_text) > self.wait_max:
            return _error(400, f"wait must be an integer from 0 to {self.wait_max}")
        wait = int(wait_text) if self.wait_cap is None else min(int(wait_text), self.wait_cap)
        flow = self.flows.get(auth_id)
        if flow is None:  # the spec declares 400/401/415/500 here, no 404
            return _error(400, f"authorization {auth_id} not found")
        if flow.status == "pending" and wait and not self._closing:
            settled = self._settled.setdefault(flow.auth_id, asyncio.Event())
            self.inflight += 1
            try:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await settled.wait()
            finally:
                self.inflight -= 1
            if flow.status == "pending" and not self._closing and self.timeout_mode == "408":
                return _error(408, "timed out waiting for the authorization to complete")
        return web.json_response(self._body(flow))

    async def _list_connections(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            limit = int(query.get("limit", "25"))
            offset = int(query.get("offset", "0"))
        except ValueError:
            return _error(400, "limit and offset must be integers")
        if limit < 1 or offset < 0:
            return _error(400, "limit must be >= 1 and offset >= 0")
        user = next((query[k] for k in _USER_KEYS if k in query), None)
        provider = next((query[k] for k in _PROVIDER_KEYS if k in query), None)
        items = [
            c
            for c in self.connections.values()
            if self.ignore_connection_filters
            or ((user is None or c.user_id == user) and (provider is None or c.provider_id == provider))
        ]
        page = items[offset : offset + limit]
        return web.json_response(
            {
                "items": [self._connection_item(c) for c in page],
                "limit": limit,
                "offset": offset,
                "page_count": len(page),
                "total_count": len(items),
            }
        )

    @staticmethod
    def _connection_item(connection: Connection) -> dict[str, Any]:
        return {
            "id": connection.id,
            "connection_id": connection.id,
            "connection_status": "active",
            "provider_id": connection.provider_id,
            "provider_type": "oauth2",
            "provider_user_info": connection.user_info,
            "scopes": sorted(connection.scopes),
            "user_id": connection.user_id,
        }

    async def _delete_connection(self, request: web.Request) -> web.Response:
        connection_id = request.match_info["id"]
        for key, connection in self.connections.items():
            if connection.id == connection_id:
                del self.connections[key]
                return web.Response(status=204)
        return _error(404, f"connection {connection_id} not found")

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"healthy": True})

    async def _session_verification(self, request: web.Request) -> web.Response:
        if request.method not in ("GET", "PUT"):
            return _error(405, "GET or PUT")
        if not self.settings_readable:
            return _error(403, "this API key may not manage the project's settings")
        if request.method == "PUT":
            body: Any = await request.json()
            url = body.get("verifier_url") if isinstance(body, dict) else None
            if not isinstance(url, str | None):
                return _error(400, "verifier_url must be a string")
            self.verifier_url = url or None
        return web.json_response(
            {
                "unsafe_skip_verification": False,
                "unsafe_skip_verification_choice_allowed": False,
                "verifier_url": self.verifier_url or "",  # empty: Arcade's own verifier
            }
        )

    async def _consent(self, request: web.Request) -> web.Response:
        flow = next((f for f in self.flows.values() if f.flow_id == request.query.get("state")), None)
        decision = request.query.get("decision", "allow")
        if flow is None:
            return web.Response(status=404, text="unknown authorization")
        if decision not in ("allow", "deny") or flow.status != "pending":
            return web.Response(status=400, text=f"authorization is {flow.status}")
        email = request.query.get("email") or self.consent_email
        if decision == "allow" and self.verifier_url:
            raise web.HTTPSeeOther(self.verification.await_verification(flow, email))
        target = await self._settle(flow, allow=decision == "allow", email=email)
        if target:
            raise web.HTTPSeeOther(target)
        outcome = "complete" if flow.status == "completed" else "denied"
        return web.Response(text=f"<p>Authorization {outcome}.</p>", content_type="text/html")
