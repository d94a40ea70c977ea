"""A fake Gmail API (labels only), served over real HTTP on loopback.

google-api-python-client reaches it with ``build("gmail", "v1", ..., static_discovery=True,
client_options={"api_endpoint": fake.base_url})``; batches need an explicit
``BatchHttpRequest(batch_uri=fake.base_url + "batch/gmail/v1")`` (shared/contracts/gmail.md §2.2).

Served: ``GET /gmail/v1/users/me/labels``, ``GET /gmail/v1/users/me/labels/{id}``, and
``POST /batch/gmail/v1`` / ``POST /batch`` (multipart/mixed of ``application/http`` parts; each part
is answered for the user its token belongs to: the part's own ``Authorization``, else the outer
one, as Google's batch guide says). Default unread counts differ per user (``user_mark``). Error
bodies are Google's envelopes from gmail.md §1.3. Each batch part is one API call: faults are
consumed per part and per-part errors come back inside a 200 multipart answer, as the real batch
endpoint does.
"""

from __future__ import annotations

import asyncio
import email.parser
import json
import re
import secrets
import time
import urllib.parse
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from aiohttp import web

from tests.fakes.served import Served

JSON_TYPE = "application/json; charset=UTF-8"
LIST_FIELDS = ("id", "name", "messageListVisibility", "labelListVisibility", "type")  # no color: gmail.md §1.1
COUNT_FIELDS = ("messagesTotal", "messagesUnread", "threadsTotal", "threadsUnread")
MAX_BATCH = 100
_PATH = re.compile(r"^/gmail/v1/users/(?P<user>[^/]+)/labels(?:/(?P<id>[^/]+))?$")
_SIGN_IN = "https://developers.google.com/identity/sign-in/web/devconsole-project"
_REALM = 'Bearer realm="https://accounts.google.com/"'
_GMAIL_SCOPES = (
    "https://mail.google.com/ https://www.googleapis.com/auth/gmail.modify "
    "https://www.googleapis.com/auth/gmail.readonly https://www.googleapis.com/auth/gmail.labels "
    "https://www.googleapis.com/auth/gmail.metadata"
)
# reason -> (HTTP status, errors[].message, errors[].domain, top-level message, status)
_REASONS: dict[str, tuple[int, str, str, str, str]] = {
    "authError": (
        401,
        "Invalid Credentials",
        "global",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
        f"or other valid authentication credential. See {_SIGN_IN}.",
        "UNAUTHENTICATED",
    ),
    "required": (
        401,
        "Login Required.",
        "global",
        "Request is missing required authentication credential. Expected OAuth 2 access token, login "
        f"cookie or other valid authentication credential. See {_SIGN_IN}.",
        "UNAUTHENTICATED",
    ),
    "insufficientPermissions": (
        403,
        "Insufficient Permission",
        "global",
        "Request had insufficient authentication scopes.",
        "PERMISSION_DENIED",
    ),
    "userRateLimitExceeded": (
        403,
        "User Rate Limit Exceeded",
        "usageLimits",
        "User Rate Limit Exceeded",
        "PERMISSION_DENIED",
    ),
    "dailyLimitExceeded": (
        403,
        "Daily Limit Exceeded",
        "usageLimits",
        "Daily Limit Exceeded",
        "PERMISSION_DENIED",
    ),
    "rateLimitExceeded": (
        429,
        "Too many concurrent requests for user.",
        "usageLimits",
        "Too many concurrent requests for user.",
        "RESOURCE_EXHAUSTED",
    ),
    "backendError": (500, "Backend Error", "global", "Backend Error", "INTERNAL"),
    "notFound": (
        404,
        "Requested entity was not found.",
        "global",
        "Requested entity was not found.",
        "NOT_FOUND",
    ),
    "forbidden": (403, "Delegation denied", "global", "Delegation denied", "PERMISSION_DENIED"),
    "badRequest": (400, "Invalid batch request", "global", "Invalid batch request", "INVALID_ARGUMENT"),
}
_DEFAULT_REASON = {401: "authError", 403: "userRateLimitExceeded", 404: "notFound", 429: "rateLimitExceeded"}


def error_body(status: int, reason: str, *, method: str = "ListLabels") -> dict[str, Any]:
    """Google's error envelope for ``status`` and ``errors[0].reason`` (gmail.md §1.3)."""
    _, part_message, domain, message, rpc_status = _REASONS[reason]
    if reason == "backendError" and status == 503:
        message, rpc_status = "The service is currently unavailable.", "UNAVAILABLE"
    elif reason == "rateLimitExceeded" and status == 403:
        part_message = message = "Rate Limit Exceeded"
        rpc_status = "PERMISSION_DENIED"
    item: dict[str, str] = {"message": part_message, "domain": domain, "reason": reason}
    if status == 401:
        item |= {"location": "Authorization", "locationType": "header"}
    error: dict[str, Any] = {"code": status, "message": message, "errors": [item], "status": rpc_status}
    detail = {"insufficientPermissions": "ACCESS_TOKEN_SCOPE_INSUFFICIENT", "required": "CREDENTIALS_MISSING"}
    if reason in detail:
        metadata = {"service": "gmail.googleapis.com", "method": f"caribou.api.proto.MailboxService.{method}"}
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": detail[reason],
                "domain": "googleapis.com",
                "metadata": metadata,
            }
        ]
    return {"error": error}


def _system(label_id: str, *, hidden: bool = False) -> dict[str, Any]:
    label: dict[str, Any] = {"id": label_id, "name": label_id}
    if hidden:
        label |= {"messageListVisibility": "hide", "labelListVisibility": "labelHide"}
    return label | {"type": "system"}


def _user(label_id: str, name: str, *, visibility: str = "labelShow", color: str | None = None) -> dict[str, Any]:
    label: dict[str, Any] = {
        "id": label_id,
        "name": name,
        "messageListVisibility": "show",
        "labelListVisibility": visibility,
        "type": "user",
    }
    if color:
        label["color"] = {"textColor": "#ffffff", "backgroundColor": color}
    return label


# System labels in the order real labels.list captures show them (gmail.md §1.1, §5).
_SYSTEM_API_ORDER = (
    "CHAT", "SENT", "INBOX", "IMPORTANT", "TRASH", "DRAFT", "SPAM", "CATEGORY_FORUMS", "CATEGORY_UPDATES",
    "CATEGORY_PERSONAL", "CATEGORY_PROMOTIONS", "CATEGORY_SOCIAL", "STARRED", "UNREAD",
)  # fmt: skip
_HIDDEN_SYSTEM = {"CHAT", "IMPORTANT", "TRASH", "SPAM"} | {i for i in _SYSTEM_API_ORDER if i.startswith("CATEGORY_")}


def default_mailbox(user_id: str) -> list[dict[str, Any]]:
    """A realistic labels.list answer, in the API's own (not the UI's) order."""
    return [
        *(_system(label_id, hidden=label_id in _HIDDEN_SYSTEM) for label_id in _SYSTEM_API_ORDER),
        _user("Label_2", "work/clients"),
        _user("Label_1", "Receipts", color="#16a765"),
        _user("Label_3", "work", color="#4a86e8"),
        _user("Label_4", "work/clients/Acme"),
        _user("Label_5", "[Imap]/Sent", visibility="labelHide"),
        _user("Label_6", "archive/2019", visibility="labelShowIfUnread"),  # its parent does not exist
    ]


_DEFAULT_COUNTS = {"INBOX": (1234, 12), "SENT": (310, 0), "DRAFT": (3, 0), "SPAM": (41, 41), "TRASH": (17, 2)}
_DEFAULT_COUNTS |= {"UNREAD": (60, 60), "STARRED": (9, 1), "IMPORTANT": (402, 7), "CATEGORY_SOCIAL": (88, 30)}
_DEFAULT_COUNTS |= {"Label_1": (57, 0), "Label_2": (23, 4), "Label_4": (8, 3)}


def user_mark(user_id: str) -> int:
    """Added to every default count of the user's labels, so that no two users' counts agree and a
    count that came from another user's mailbox shows."""
    return zlib.crc32(user_id.encode()) % 997 + 1


def _counts(total: int, unread: int, threads_unread: int | None = None) -> dict[str, int]:
    """Threads hold several messages: unread threads are fewer than unread messages, as in a real mailbox."""
    return {
        "messagesTotal": total,
        "messagesUnread": unread,
        "threadsTotal": total - total // 5,
        "threadsUnread": (unread + 1) // 2 if threads_unread is None else threads_unread,
    }


@dataclass(frozen=True)
class GmailCall:
    """One HTTP request (a batch is one call with ``batch_parts`` > 0) or one batch part."""

    method: str
    path: str
    user_id: str | None
    authorization: str | None
    at: float
    batch_parts: int = 0
    client_port: int | None = field(default=None, compare=False)  # equal ports: one reused connection


@dataclass
class _Fault:
    status: int
    remaining: int
    user_id: str | None
    reason: str


class FakeGmail(Served):
    """In-memory Gmail labels for any number of users; tokens resolved through ``token_owner``."""

    def __init__(self, *, token_owner: Callable[[str], str | None], keepalive_timeout: float = 75.0) -> None:
        self.token_owner = token_owner
        self.keepalive_timeout = keepalive_timeout  # s before the server closes an idle connection
        self.base_url = ""
        self.calls: list[GmailCall] = []
        self.batch_part_calls: list[GmailCall] = []  # one entry per part; authorization = the part's own
        self.mailbox_default: Callable[[str], list[dict[str, Any]]] = default_mailbox
        self._labels: dict[str, list[dict[str, Any]]] = {}
        self._counts: dict[tuple[str, str], dict[str, int]] = {}
        self._revoked: set[str] = set()
        self._no_scope: set[str] = set()
        self._expired: set[str] = set()
        self._faults: list[_Fault] = []
        self._latency = 0.0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/gmail/v1/{tail:.*}", self._handle_get)
        app.router.add_post("/batch/gmail/v1", self._handle_batch)
        app.router.add_post("/batch", self._handle_batch)
        self.base_url = await self._serve(app, keepalive_timeout=self.keepalive_timeout) + "/"

    async def stop(self) -> None:
        await self._unserve()

    # -- state and switches ----------------------------------------------------------------------

    def set_labels(self, user_id: str, labels: list[dict[str, Any]]) -> None:
        """Replace the user's labels (raw Label dicts; count fields, if any, seed labels.get)."""
        self._labels[user_id] = [dict(label) for label in labels]
        for label in labels:
            if any(k in label for k in COUNT_FIELDS):
                self._counts[(user_id, label["id"])] = {k: int(label.get(k, 0)) for k in COUNT_FIELDS}

    def set_unread(
        self,
        user_id: str,
        label_id: str,
        messages_unread: int,
        messages_total: int | None = None,
        *,
        threads_unread: int | None = None,
    ) -> None:
        """Set labels.get counts (total defaults to the current total, at least the unread count;
        unread threads to about half the unread messages)."""
        current = self._label_counts(user_id, label_id)
        total = messages_total if messages_total is not None else max(current["messagesTotal"], messages_unread)
        self._counts[(user_id, label_id)] = _counts(total, messages_unread, threads_unread)

    def revoke(self, user_id: str) -> None:
        """Every token of the user now gets 401 authError (until :meth:`restore`)."""
        self._revoked.add(user_id)

    def remove_scope(self, user_id: str) -> None:
        """Every token of the user now gets 403 insufficientPermissions (until :meth:`restore`)."""
        self._no_scope.add(user_id)

    def restore(self, user_id: str) -> None:
        """Undo :meth:`revoke` and :meth:`remove_scope` for the user."""
        self._revoked.discard(user_id)
        self._no_scope.discard(user_id)

    def expire(self, token: str) -> None:
        """This one token now gets 401 authError (as after its hour is up)."""
        self._expired.add(token)

    def fail_next(self, status: int, *, times: int = 1, user_id: str | None = None, reason: str | None = None) -> None:
        """Answer the next ``times`` API calls (of ``user_id``, or anyone's) with a Google error."""
        chosen = reason or _DEFAULT_REASON.get(status, "backendError")
        if chosen not in _REASONS or times < 1:
            raise ValueError(f"unknown reason {chosen!r} or times < 1")
        self._faults.append(_Fault(status, times, user_id, chosen))

    def set_latency(self, seconds: float) -> None:
        """Delay every HTTP request (a batch once, not per part)."""
        self._latency = seconds

    # -- the API ---------------------------------------------------------------------------------

    def _labels_for(self, user_id: str) -> list[dict[str, Any]]:
        if user_id not in self._labels:
            self.set_labels(user_id, self.mailbox_default(user_id))
        return self._labels[user_id]

    def _label_counts(self, user_id: str, label_id: str) -> dict[str, int]:
        if (user_id, label_id) not in self._counts:
            total, unread = _DEFAULT_COUNTS.get(label_id, (0, 0))
            mark = user_mark(user_id)
            return _counts(total + mark, unread + mark)
        return dict(self._counts[(user_id, label_id)])

    def unread(self, user_id: str, label_id: str) -> int:
        """``threadsUnread`` that ``labels.get`` answers for this user's label (what Gmail's sidebar shows)."""
        return self._label_counts(user_id, label_id)["threadsUnread"]

    def _take_fault(self, user_id: str) -> _Fault | None:
        for fault in self._faults:
            if fault.user_id in (None, user_id):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _owner(self, authorization: str | None) -> str | None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token or token in self._expired:
            return None
        return self.token_owner(token)

    def _api(self, method: str, path: str, authorization: str | None) -> tuple[int, dict[str, Any], dict[str, str]]:
        """One API call -> (status, JSON body, extra headers); shared by plain requests and batch parts."""
        match = _PATH.match(path)
        rpc = "GetLabel" if match and match["id"] else "ListLabels"
        if not authorization:
            return 401, error_body(401, "required", method=rpc), {"WWW-Authenticate": _REALM}
        user_id = self._owner(authorization)
        if user_id is None or user_id in self._revoked:
            return 401, error_body(401, "authError", method=rpc), {"WWW-Authenticate": _REALM}
        fault = self._take_fault(user_id)
        if fault is not None:
            return fault.status, error_body(fault.status, fault.reason, method=rpc), {}
        if user_id in self._no_scope:
            scope = f'{_REALM}, error="insufficient_scope", scope="{_GMAIL_SCOPES}"'
            return 403, error_body(403, "insufficientPermissions", method=rpc), {"WWW-Authenticate": scope}
        if match is None or method != "GET":
            return 404, error_body(404, "notFound", method=rpc), {}
        if match["user"] != "me":
            return 403, error_body(403, "forbidden", method=rpc), {}
        labels = self._labels_for(user_id)
        if not match["id"]:
            return 200, {"labels": [{k: label[k] for k in LIST_FIELDS if k in label} for label in labels]}, {}
        label_id = urllib.parse.unquote(match["id"])
        label = next((label for label in labels if label["id"] == label_id), None)
        if label is None:
            return 404, error_body(404, "notFound", method=rpc), {}
        full = {k: v for k, v in label.items() if k not in COUNT_FIELDS}
        return 200, full | self._label_counts(user_id, label_id), {}

    async def _handle_get(self, request: web.Request) -> web.Response:
        authorization = request.headers.get("Authorization")
        owner, now = self._owner(authorization), time.monotonic()
        self.calls.append(GmailCall("GET", request.path, owner, authorization, now, client_port=_client_port(request)))
        if self._latency:
            await asyncio.sleep(self._latency)
        status, body, headers = self._api("GET", request.rel_url.raw_path, authorization)
        return _json(status, body, headers)

    async def _handle_batch(self, request: web.Request) -> web.Response:
        outer_auth = request.headers.get("Authorization")
        raw = await request.read()
        parts = self._parse_batch(request.headers.get("Content-Type", ""), raw)
        at = time.monotonic()
        owner = self._owner(outer_auth)
        port = _client_port(request)
        self.calls.append(GmailCall("POST", request.path, owner, outer_auth, at, len(parts or []), port))
        if self._latency:
            await asyncio.sleep(self._latency)
        if not parts or len(parts) > MAX_BATCH:  # None (unparseable), empty or too many
            return _json(400, error_body(400, "badRequest"))
        boundary = f"batch_{secrets.token_hex(12)}"
        chunks: list[str] = []
        for content_id, method, path, part_auth in parts:
            self.batch_part_calls.append(GmailCall(method, path, self._owner(part_auth or outer_auth), part_auth, at))
            status, body, headers = self._api(method, path, part_auth or outer_auth)
            inner_headers = "".join(f"{k}: {v}\r\n" for k, v in {"Content-Type": JSON_TYPE, **headers}.items())
            chunks.append(
                f"--{boundary}\r\nContent-Type: application/http\r\n"
                f"Content-ID: <response-{content_id}>\r\n\r\n"
                f"HTTP/1.1 {status} {_phrase(status)}\r\n{inner_headers}\r\n{json.dumps(body)}\r\n"
            )
        text = "".join(chunks) + f"--{boundary}--\r\n"
        return web.Response(text=text, headers={"Content-Type": f"multipart/mixed; boundary={boundary}"})

    @staticmethod
    def _parse_batch(content_type: str, raw: bytes) -> list[tuple[str, str, str, str | None]] | None:
        """multipart/mixed body -> [(content id without <>, method, path, own Authorization)]."""
        if not content_type.startswith("multipart/mixed"):
            return None
        message = email.parser.BytesParser().parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
        if not message.is_multipart():
            return None
        parts: list[tuple[str, str, str, str | None]] = []
        for part in list(message.walk())[1:]:  # the parts, without the multipart container
            payload = part.get_payload()
            content_id = str(part.get("Content-ID", "")).strip().removeprefix("<").removesuffix(">")
            if not isinstance(payload, str) or not content_id:
                return None
            request_line, _, rest = payload.lstrip().partition("\n")
            pieces = request_line.split()
            if len(pieces) != 3:
                return None
            headers = email.parser.Parser().parsestr(rest, headersonly=True)
            parts.append((content_id, pieces[0], urllib.parse.urlsplit(pieces[1]).path, headers.get("Authorization")))
        return parts


def _client_port(request: web.Request) -> int | None:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return int(peer[1]) if peer else None


def _phrase(status: int) -> str:
    return HTTPStatus(status).phrase


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), headers={"Content-Type": JSON_TYPE, **(headers or {})})
