"""The only module that talks to Gmail: its REST API over the bot's own aiohttp client.

Two calls per listing, both on the event loop: ``labels.list``, then one batch of ``labels.get``
(Google's batch endpoint, ``bot.gmail_batch``) for the unread counts. google-api-python-client
did the same calls through a thread pool, httplib2 and the ``email`` package; measured with
bench/ (docs/performance.md), that cost more CPU than everything else in a finished flow but the
Slack calls, so the two documented requests are made directly (gmail.md §4 names direct REST as
the way out when the executor is the bottleneck).

* The user's token rides on each request only, as ``Authorization: Bearer``; connections are
  kept alive and shared, headers never are.
* At most ``max_connections`` requests are in flight at once; each has a timeout.
* Errors are read as Google documents them: 401, and 403 with an auth reason, mean the token is
  refused (Arcade owns refreshing, so it is never refreshed here); 429, 5xx and rate-limit 403s are
  retried ``NUM_RETRIES`` times with backoff, honouring ``Retry-After``, then reported.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson

from bot import google_errors
from bot.errors import BotError, GmailAuthError, GmailRateLimited, GmailUnavailable
from bot.gmail_batch import batch_body, batch_uri, parse_batch
from bot.labels import from_api
from bot.models import Label
from bot.retry import backoff_delay

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 15.0
NUM_RETRIES = 2  # 429, 5xx and rate-limit 403s, like google-api-python-client's num_retries
RETRY_AFTER_CAP = 10.0  # s: a longer Retry-After is reported as "slow down" instead of waited out
BATCH_SIZE = 25  # labels.get per batch request: Google advises ≤ 50, and users report 429s above ~20-50
MAX_COUNTED = 101  # Inbox + the first 100 user labels get unread counts: ≤ 101 quota units per listing
_ACCEPT = {"Accept": "application/json"}


class Gmail:
    def __init__(self, session: aiohttp.ClientSession, api_url: str) -> None:
        root = api_url.rstrip("/")
        self._session = session
        self._labels_uri = f"{root}/gmail/v1/users/me/labels"
        # The batch endpoint is Google's documented /batch/gmail/v1 on the same host.
        self._batch_uri = batch_uri(root)

    @classmethod
    @asynccontextmanager
    async def open(
        cls, api_url: str, *, max_connections: int = 64, request_timeout: float = REQUEST_TIMEOUT
    ) -> AsyncIterator[Gmail]:
        """A Gmail client with its own connection pool, closed on exit."""
        connector = aiohttp.TCPConnector(limit=max_connections, ttl_dns_cache=300)
        # Per request once it has a connection: time spent queued for one of the pool's
        # connections (a burst of finished flows) is not Gmail being slow.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=request_timeout, sock_read=request_timeout)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            yield cls(session, api_url)

    async def list_labels(self, token: str, *, unread: bool = True) -> list[Label]:
        """Every label; with ``unread``, Inbox and user labels carry their unread counts."""
        body = await self._get_json(self._labels_uri, token)
        found = body.get("labels", [])
        raw = [item for item in found if isinstance(item, dict) and isinstance(item.get("id"), str)]
        if unread:
            wanted = [item["id"] for item in raw if item["id"] == "INBOX" or item.get("type") == "user"]
            counts = await self._unread(token, wanted[:MAX_COUNTED])
            raw = [{**item, "threadsUnread": counts[item["id"]]} if item["id"] in counts else item for item in raw]
        return [label for label in map(from_api, raw) if label is not None]

    async def _get_json(self, uri: str, token: str) -> dict[str, Any]:
        headers = {**_ACCEPT, "Authorization": f"Bearer {token}"}
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                async with self._session.get(uri, params={"alt": "json"}, headers=headers) as response:
                    status, content = response.status, await response.read()
                    retry_after = _seconds(response.headers.get("Retry-After"))
            except (TimeoutError, aiohttp.ClientError) as exc:
                if attempt >= NUM_RETRIES:
                    log.warning("gmail.error call=labels.list error=%s", type(exc).__name__)
                    raise GmailUnavailable(f"Gmail unreachable: {type(exc).__name__}") from None
            else:
                if status == 200:
                    answer = _json(content)
                    if answer is None:
                        raise GmailUnavailable("Gmail answered 200 without a JSON object")
                    return answer
                error = _translate(status, content)
                again = isinstance(error, GmailRateLimited) or status >= 500
                if not again or attempt >= NUM_RETRIES or (retry_after or 0.0) > RETRY_AFTER_CAP:
                    raise error
            delay = backoff_delay(attempt) if retry_after is None else retry_after
            attempt += 1
            await asyncio.sleep(delay)

    async def _unread(self, token: str, label_ids: list[str]) -> dict[str, int]:
        """``threadsUnread`` per label (what Gmail's sidebar shows: unread conversations, not
        messages) through batched ``labels.get``. Counts are a nicety: a failed part or batch
        leaves those labels without a count instead of failing the listing."""
        counts: dict[str, int] = {}
        for start in range(0, len(label_ids), BATCH_SIZE):
            chunk = label_ids[start : start + BATCH_SIZE]
            content_type, body = batch_body(self._labels_uri, chunk)
            headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
            try:
                async with self._session.post(self._batch_uri, data=body, headers=headers) as response:
                    status, content = response.status, await response.read()
                    answer_type = response.headers.get("Content-Type", "")
            except (TimeoutError, aiohttp.ClientError) as exc:
                log.warning("gmail.unread_skipped error=%s", type(exc).__name__)
                break
            if status != 200:
                log.warning("gmail.unread_skipped status=%d", status)
                break
            for label_id, answer in parse_batch(answer_type, content).items():
                value = answer.get("threadsUnread")
                if label_id in chunk and isinstance(value, int) and not isinstance(value, bool):
                    counts[label_id] = value
        return counts


def _seconds(value: str | None) -> float | None:
    """``Retry-After`` in seconds, when given as a number."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _json(content: bytes) -> dict[str, Any] | None:
    try:
        answer = orjson.loads(content)
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def _translate(status: int, content: bytes) -> BotError:
    refusal, reasons = google_errors.classify(status, content)
    log.warning("gmail.error status=%s reasons=%s", status, ",".join(sorted(reasons)) or "-")
    if refusal == "refused":
        return GmailAuthError(f"Gmail answered {status}")
    if refusal == "slow_down":
        return GmailRateLimited(f"Gmail answered {status}")
    if status >= 500:
        return GmailUnavailable(f"Gmail answered {status}")
    return GmailUnavailable(f"Gmail refused the request ({status})")
