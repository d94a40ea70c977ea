"""The only module that calls Arcade. Its answers become our types (``bot.arcade_answers``).

arcadepy runs on its aiohttp transport, built in ``bot.arcade_client`` (the one place that reaches
into arcadepy, httpx and httpx-aiohttp beyond their documented options).

Two kinds of traffic, two clients, each with its own connector:

* ``authorize`` and the admin calls are short requests, retried on 408/429/5xx and connection
  errors (twice), honouring ``Retry-After``.
* Status long-polls hold a connection for up to 59 s each, one per waiting user, so they get a
  connector of their own and an ``authorize`` never queues behind them. They do not retry: the
  bounded wait in ``authflow`` owns backoff and deadlines. (aiohttp itself resends a GET once when
  the kept-alive connection it reused turns out to be closed.)

``authorize`` and the long-poll, the calls made once per command and once per delivery, go out as
plain aiohttp requests in arcadepy's wire format (``bot.arcade_http``): through the SDK's layers
each cost ~6x the request's own CPU. The rest go through arcadepy.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
import arcadepy
import httpx
from arcadepy import AsyncArcade

from bot import arcade_answers as answers
from bot.arcade_client import new_client
from bot.arcade_http import ArcadeHTTP
from bot.errors import ArcadeUnavailable, NotConfirmed, UserMismatch, VerificationClosed
from bot.identity import ArcadeIdentity, slack_ids
from bot.models import Authorization, Authorized, Need, SlackUser

log = logging.getLogger(__name__)

PROVIDER = "google"  # Gmail's Arcade provider, the one asked for when a call names none
MAX_WAIT = 59  # Arcade's documented maximum for /v1/auth/status?wait=
API_CONNECTIONS = 1_000  # a burst of /connect-gmail sends its authorize calls at once, not 100 at a time
API_READ_TIMEOUT = 20.0
API_TIMEOUT = httpx.Timeout(API_READ_TIMEOUT, connect=5.0)
RETRIES = 2  # for the short calls: 408, 409, 429, 5xx and connection errors
POLL_CONNECTIONS = 10_000  # long-polls in flight (one socket each) before any queues
POLL_READ_TIMEOUT = MAX_WAIT + 15.0  # outlasts the longest wait

PollResult = Authorized | Literal["pending", "failed"]


@dataclass(frozen=True, slots=True)
class Connection:
    """A grant Arcade holds for one of our users."""

    id: str
    scopes: tuple[str, ...]
    email: str | None
    user_info: dict[str, Any] = field(default_factory=dict, repr=False)  # Arcade's provider_user_info


@dataclass(frozen=True, slots=True)
class Confirmed:
    """Arcade accepted the verified user; the browser must land on ``next_uri`` once to finish."""

    auth_id: str
    next_uri: str | None


class Arcade:
    def __init__(
        self,
        api: AsyncArcade,
        hot: ArcadeHTTP,
        poller: ArcadeHTTP,
        scopes: tuple[str, ...],
        identity: ArcadeIdentity = slack_ids,
    ) -> None:
        self._api = api
        self._hot = hot
        self._poller = poller
        self._default = Need("gmail", PROVIDER, tuple(scopes))  # what a call that names no provider asks for
        self._identity = identity  # SlackUser -> Arcade user_id (bot.identity)

    @classmethod
    @asynccontextmanager
    async def open(
        cls, *, api_key: str, base_url: str, scopes: tuple[str, ...], identity: ArcadeIdentity = slack_ids
    ) -> AsyncIterator[Arcade]:
        tls = httpx.create_ssl_context()  # one TLS context for both clients: building one costs ~15 ms
        client = functools.partial(new_client, api_key=api_key, base_url=base_url, tls=tls)
        async with AsyncExitStack() as stack:
            api = client(max_retries=RETRIES, timeout=API_TIMEOUT, connections=API_CONNECTIONS)
            await stack.enter_async_context(api)
            http = functools.partial(ArcadeHTTP, api_key=api_key, base_url=base_url, tls=tls)
            hot = http(connections=API_CONNECTIONS, read_timeout=API_READ_TIMEOUT, retries=RETRIES)
            poller = http(connections=POLL_CONNECTIONS, read_timeout=POLL_READ_TIMEOUT)
            for each in (hot, poller):
                await stack.enter_async_context(each)
            yield cls(api, hot, poller, scopes, identity)

    async def authorize(self, user: SlackUser, need: Need | None = None) -> Authorization:
        """Ask Arcade for a token covering ``need``'s scopes (only those: Arcade adds the ones the
        user granted before, so a shared grant keeps working); a pending flow is reused by Arcade."""
        need = need or self._default
        user_id = await self._identity(user)
        body = {
            "user_id": user_id,
            "auth_requirement": {"provider_id": need.arcade_id, "oauth2": {"scopes": list(need.scopes)}},
        }
        try:
            answer = await self._hot.post("/v1/auth/authorize", body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("arcade.error call=authorize error=%s", type(exc).__name__)
            raise ArcadeUnavailable(f"Arcade authorize failed: {type(exc).__name__}") from None
        if not 200 <= answer.status < 300:  # arcadepy takes any 2xx
            raise answers.status_error(answer.status, "authorize")
        result = answers.to_authorization(answer.body) if isinstance(answer.body, dict) else None
        if result is None:
            status = answer.body.get("status") if isinstance(answer.body, dict) else None
            raise ArcadeUnavailable(f"authorize answered status={status!r} without a usable body")
        return result

    async def poll(self, auth_id: str, wait: int) -> PollResult:
        """One long-poll of ``auth_id``: returns when it completes or fails, or after ``wait`` s."""
        wait = max(1, min(wait, MAX_WAIT))
        try:
            polled = await self._poller.get("/v1/auth/status", {"id": auth_id, "wait": str(wait)})
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("arcade.error call=status error=%s", type(exc).__name__)
            raise ArcadeUnavailable(f"Arcade status failed: {type(exc).__name__}") from None
        status = polled.status
        if status in (400, 404):
            # An id Arcade does not know (its spec declares 400 here; a 404 is tolerated): asking again cannot help.
            log.info("arcade.status_unknown auth_id=%s", auth_id)
            return "failed"
        if status == 408:  # older Engines answer a long-poll timeout with 408
            return "pending"
        if status == 429:  # no new poll before Arcade said so (within this poll's own wait)
            await asyncio.sleep(answers.retry_seconds(polled.retry_after, limit=wait))
        if not 200 <= status < 300:
            raise answers.status_error(status, "status")
        body = polled.body
        if not isinstance(body, dict):
            raise ArcadeUnavailable(f"Arcade status answered {status} without a JSON object")
        if body.get("status") == "failed":
            return "failed"
        result = answers.to_authorization(body)
        return result if isinstance(result, Authorized) else "pending"

    async def connections(self, user: SlackUser, provider_id: str = PROVIDER) -> list[Connection]:
        """This user's connections to one Arcade provider, filtered here too: some API versions ignore the filter."""
        found: list[Connection] = []
        user_id = await self._identity(user)
        try:
            pages = self._api.admin.user_connections.list(
                user={"id": user_id},
                provider={"id": provider_id},
                extra_query={"user_id": user_id, "provider_id": provider_id},
            )
            async for item in pages:
                if item.user_id == user_id and item.provider_id == provider_id and item.id:
                    info = item.provider_user_info if isinstance(item.provider_user_info, dict) else {}
                    found.append(Connection(item.id, tuple(item.scopes or ()), answers.email_of(info), dict(info)))
        except arcadepy.APIError as exc:
            raise answers.translate(exc, "user_connections.list") from None
        return found

    async def disconnect(self, user: SlackUser, provider_id: str = PROVIDER) -> int:
        """Remove this user's grant for one Arcade provider, so the next ``authorize`` starts a new flow."""
        removed = 0
        for connection in await self.connections(user, provider_id):
            try:
                await self._api.admin.user_connections.delete(connection.id)
            except arcadepy.NotFoundError:
                continue
            except arcadepy.APIError as exc:
                raise answers.translate(exc, "user_connections.delete") from None
            removed += 1
        log.info("arcade.disconnected user=%s provider=%s removed=%d", user.arcade_id, provider_id, removed)
        return removed

    async def confirm_user(self, flow_id: str, user: SlackUser) -> Confirmed:
        """Tell Arcade that the browser finishing ``flow_id`` belongs to ``user`` (custom verifier).

        Raises ``UserMismatch`` when the flow was started for someone else (as a 400, or as a 200
        carrying ``user_mismatch``), ``VerificationClosed`` when the flow no longer awaits
        verification (400 ``Bad request``, or an unknown flow).
        """
        user_id = await self._identity(user)
        try:
            response = await self._api.auth.confirm_user(flow_id=flow_id, user_id=user_id)
        except arcadepy.BadRequestError as exc:
            if answers.is_mismatch(exc.body):
                raise UserMismatch("confirm_user answered user_mismatch") from None
            if answers.is_closed(exc.body):
                log.info("arcade.verification_closed status=400")
                raise VerificationClosed("confirm_user answered 400: not awaiting verification") from None
            log.info("arcade.not_confirmed status=400")
            raise NotConfirmed("confirm_user answered 400 without saying why") from None
        except arcadepy.NotFoundError:
            raise VerificationClosed("confirm_user answered 404: unknown flow") from None
        except arcadepy.APIError as exc:
            raise answers.translate(exc, "confirm_user") from None
        body = response.to_dict()
        if answers.is_mismatch(body):
            raise UserMismatch("confirm_user answered 200 carrying user_mismatch")
        auth_id, next_uri = body.get("auth_id"), body.get("next_uri")
        if not isinstance(auth_id, str) or not auth_id:
            raise ArcadeUnavailable("confirm_user answered 200 without an auth_id")
        return Confirmed(auth_id, next_uri if isinstance(next_uri, str) and next_uri else None)
