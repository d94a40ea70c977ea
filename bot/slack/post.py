"""Slack's two hottest calls as plain aiohttp POSTs: ``chat.postMessage`` (each answer's DM) and a
``response_url`` (each prompt, and its replacement once the user has approved).

slack_sdk's clients build, log and wrap each call in layers that cost more CPU than the request
itself (on the bench machine, ~600 µs a ``chat.postMessage`` against ~330 µs for the same POST on
aiohttp). These two calls run once or twice per command and per delivery, so they go out here; every
other call stays on slack_sdk. What is kept from slack_sdk is what matters on the wire and after it:
the JSON body and headers its clients send, and its retry handlers (``bot.slack.retries``:
connection errors, 429 with ``Retry-After``, 5xx, "not now" answers), run through slack_sdk's own
retry-handler interface.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import ClientSession
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

log = logging.getLogger(__name__)

JSON = "application/json;charset=utf-8"  # as slack_sdk sends a JSON body


@dataclass(frozen=True, slots=True)
class Posted:
    """Slack's answer: HTTP status, the JSON body (``None`` if not JSON) and the raw bytes."""

    status: int
    body: Any
    raw: bytes


class SlackPost:
    def __init__(self, session: ClientSession, handlers: Sequence[AsyncRetryHandler]) -> None:
        self._session = session
        self._handlers = tuple(handlers)

    async def web_api(self, url: str, token: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A Web API method called with a JSON body: its answer, or ``SlackApiError`` as slack_sdk
        raises it (not HTTP 200, or ``ok`` not true), once the retry handlers have given up."""
        headers = {"Content-Type": JSON, "Authorization": f"Bearer {token}"}
        posted = await self.post(url, payload, headers)
        body = posted.body
        if posted.status == 200 and isinstance(body, dict) and body.get("ok") is True:
            return body
        answer = body if isinstance(body, dict) else {"ok": False, "error": f"http_{posted.status}"}
        message = f"The request to the Slack API failed. (url: {url}, status: {posted.status})"
        raise SlackApiError(message, answer)  # type: ignore[no-untyped-call]

    async def post(self, url: str, payload: dict[str, Any], headers: dict[str, str]) -> Posted:
        """One POST of ``payload`` as JSON, tried again while a retry handler asks for it.

        Errors no handler takes (e.g. a timeout) are raised as aiohttp raised them."""
        data = orjson.dumps(payload)
        state = RetryState()
        while True:
            state.next_attempt_requested = False
            try:
                async with self._session.post(url, data=data, headers=headers) as response:
                    raw = await response.read()
                    posted = Posted(response.status, _json(raw), raw)
                    answer_headers = response.headers
            except Exception as exc:
                if not await self._retry(state, url, headers, payload, error=exc):
                    raise
                continue
            body = posted.body
            if posted.status == 200 and not (isinstance(body, dict) and body.get("ok") is False):
                return posted  # the usual case: no handler to ask
            seen = HttpResponse(
                status_code=posted.status,
                headers={k: [v] for k, v in answer_headers.items()},
                body=body if isinstance(body, dict) else None,
                data=None if isinstance(body, dict) else raw,
            )
            if not await self._retry(state, url, headers, payload, response=seen):
                return posted

    async def _retry(
        self,
        state: RetryState,
        url: str,
        headers: dict[str, str],
        payload: dict[str, Any],
        *,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        """Asks each handler in turn, as slack_sdk does; the first that takes it waits, then True."""
        shown = {k: ("(redacted)" if k == "Authorization" else v) for k, v in headers.items()}
        request = HttpRequest(method="POST", url=url, headers=shown, body_params=payload)  # type: ignore[arg-type]
        for handler in self._handlers:
            if await handler.can_retry_async(state=state, request=request, response=response, error=error):
                await handler.prepare_for_next_attempt_async(
                    state=state, request=request, response=response, error=error
                )
                return state.next_attempt_requested
        return False


def _json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except ValueError:
        return None
