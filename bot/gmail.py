"""The only module that talks to Gmail (through google-api-python-client).

google-api-python-client is blocking and httplib2 is not thread-safe, so:

* one credential-less service is built per process from the bundled discovery document
  (no network at start-up) and only its request builders are shared;
* every call gets its own ``AuthorizedHttp`` (the user's token, for this call only) in a bounded
  thread pool, so one user's token can never ride on another user's request. Underneath, each pool
  thread keeps one ``httplib2.Http`` (never shared between threads), so its kept-alive connection
  to Gmail spares every call a new TCP and TLS handshake;
* ``refresh_status_codes=()`` makes a 401 surface as ``HttpError`` instead of ``RefreshError``:
  Arcade owns refreshing, we only report that the token was refused.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httplib2
from google.oauth2.credentials import Credentials
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from bot.errors import BotError, GmailAuthError, GmailRateLimited, GmailUnavailable
from bot.gmail_batch import batch_get
from bot.labels import from_api
from bot.models import Label

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 15.0
NUM_RETRIES = 2  # googleapiclient retries 429, 5xx and rate-limit 403s with exponential backoff
BATCH_SIZE = 25  # labels.get per batch request: Google advises ≤ 50, and users report 429s above ~20-50
MAX_COUNTED = 101  # Inbox + the first 100 user labels get unread counts: ≤ 101 quota units per listing
_AUTH_REASONS = {"authError", "insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT", "required"}
_RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}


class Gmail:
    def __init__(self, api_url: str, *, max_workers: int = 32) -> None:
        # The batch endpoint ignores api_endpoint (it is built from the discovery rootUrl), so it
        # is derived here: production gets Google's documented /batch/gmail/v1, tests their fake.
        self._batch_uri = api_url.rstrip("/") + "/batch/gmail/v1"
        service = build(
            "gmail",
            "v1",
            http=httplib2.Http(timeout=REQUEST_TIMEOUT),  # placeholder: every call passes its own http
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": api_url},
        )
        self._labels = service.users().labels()
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="gmail")
        self._local = threading.local()  # .http: this pool thread's own httplib2.Http
        self._connections: list[httplib2.Http] = []  # every thread's, to close them at the end

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        for connection in self._connections:
            connection.close()

    async def list_labels(self, token: str, *, unread: bool = True) -> list[Label]:
        """Every label; with ``unread``, Inbox and user labels carry their unread counts."""
        loop = asyncio.get_running_loop()
        raw = await loop.run_in_executor(self._executor, self._list_sync, token, unread)
        return [label for label in map(from_api, raw) if label is not None]

    def _list_sync(self, token: str, unread: bool) -> list[dict[str, Any]]:
        http = self._authorized(token)
        try:
            body = self._labels.list(userId="me").execute(http=http, num_retries=NUM_RETRIES)
        except HttpError as exc:
            raise _translate(exc) from None
        except (OSError, httplib2.HttpLib2Error) as exc:
            log.warning("gmail.error call=labels.list error=%s", type(exc).__name__)
            raise GmailUnavailable(f"Gmail unreachable: {type(exc).__name__}") from None
        found = body.get("labels", []) if isinstance(body, dict) else []
        labels = [item for item in found if isinstance(item, dict) and isinstance(item.get("id"), str)]
        if unread:
            wanted = [item["id"] for item in labels if item["id"] == "INBOX" or item.get("type") == "user"]
            counts = self._unread_sync(http, wanted[:MAX_COUNTED])
            labels = [{**item, **counts.get(item["id"], {})} for item in labels]
        return labels

    def _authorized(self, token: str) -> AuthorizedHttp:
        """This call's credentials around this thread's own connection (httplib2 is not thread-safe)."""
        connection: httplib2.Http | None = getattr(self._local, "http", None)
        if connection is None:
            connection = self._local.http = httplib2.Http(timeout=REQUEST_TIMEOUT)
            self._connections.append(connection)  # list.append is atomic: pool threads may race here
        return AuthorizedHttp(
            Credentials(token),  # type: ignore[no-untyped-call]  # google-auth leaves __init__ unannotated
            http=connection,
            refresh_status_codes=(),
        )

    def _unread_sync(self, http: AuthorizedHttp, label_ids: list[str]) -> dict[str, dict[str, int]]:
        """``threadsUnread`` per label (what Gmail's sidebar shows: unread conversations, not
        messages) through batched ``labels.get``. Counts are a nicety: a
        failed part or batch leaves those labels without a count instead of failing the listing."""
        counts: dict[str, dict[str, int]] = {}
        for start in range(0, len(label_ids), BATCH_SIZE):
            requests = {
                label_id: self._labels.get(userId="me", id=label_id)
                for label_id in label_ids[start : start + BATCH_SIZE]
            }
            try:
                answers = batch_get(http, self._batch_uri, requests)
            except (HttpError, OSError, httplib2.HttpLib2Error) as exc:
                log.warning("gmail.unread_skipped error=%s", type(exc).__name__)
                break
            for label_id, answer in answers.items():
                unread = answer.get("threadsUnread")
                if label_id in requests and isinstance(unread, int) and not isinstance(unread, bool):
                    counts[label_id] = {"threadsUnread": unread}
        return counts


def _translate(exc: HttpError) -> BotError:
    status = exc.status_code
    reasons = _reasons(exc.content)
    log.warning("gmail.error status=%s reasons=%s", status, ",".join(sorted(reasons)) or "-")
    if status == 401 or (status == 403 and reasons & _AUTH_REASONS):
        return GmailAuthError(f"Gmail answered {status}")
    if status == 429 or (status == 403 and reasons & _RATE_REASONS):
        return GmailRateLimited(f"Gmail answered {status}")
    return GmailUnavailable(f"Gmail answered {status}")


def _reasons(content: bytes) -> set[str]:
    """``errors[].reason`` and ``details[].reason`` from Google's error envelope, if parseable."""
    try:
        error = json.loads(content)["error"]
    except (ValueError, KeyError, TypeError):
        return set()
    found = set()
    for key in ("errors", "details"):
        for item in error.get(key, []) if isinstance(error, dict) else []:
            if isinstance(item, dict) and isinstance(item.get("reason"), str):
                found.add(item["reason"])
    return found
