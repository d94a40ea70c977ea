"""HTTP mode: ``POST /slack/events`` (commands, events, interactivity), behind request guards.

Guards sit in front of Bolt, because stock Bolt answers 500 where these answer 4xx:

* signature headers slack_sdk's ``SignatureVerifier`` would raise on (a non-numeric timestamp, a
  non-ASCII signature) are answered 401;
* bodies that are not UTF-8, not parseable, or not of the shapes Bolt's matchers take for granted
  (a JSON list, ``"event": "x"``, a ``block_actions`` without actions) are answered 400;
* Bolt's form parser takes any form body containing the substring ``payload`` for an
  interactivity payload, so ``/connect-gmail payload`` (or a channel called #payload-team)
  would parse to ``{}`` and be dropped; such bodies are re-parsed as the plain form they are.

The body is read within ``bot.server.BODY_SECONDS`` (else 408) and its signature checked over the
raw bytes (401) before anything parses it: an unsigned megabyte costs a hash, not a parse. Bolt
checks the signature again, which is cheap. A body nested too deeply to parse is a 400 like any
other malformed body.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.server import BodyTooSlow, read_body

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
SIGNATURE_MAX_AGE = 5 * 60  # seconds, as Slack's own SDKs
_TIMESTAMP, _SIGNATURE = "X-Slack-Request-Timestamp", "X-Slack-Signature"


def events_handler(bolt: AsyncApp, signing_secret: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    key = signing_secret.encode()

    async def handle(request: web.Request) -> web.Response:
        if not _verifiable(request.headers):
            log.info("http.rejected reason=malformed_signature_headers")
            return web.json_response({"error": "invalid request"}, status=401)
        try:
            raw = await read_body(request)
        except BodyTooSlow:
            log.info("http.rejected reason=slow_body")
            return web.Response(status=408, text="request body too slow")
        timestamp, signature = request.headers.get(_TIMESTAMP), request.headers.get(_SIGNATURE)
        if not _signed(key, raw, timestamp, signature, time.time()):
            log.info("http.rejected reason=bad_signature bytes=%d", len(raw))
            return web.json_response({"error": "invalid request"}, status=401)
        try:
            text = raw.decode("utf-8")
            bolt_request = AsyncBoltRequest(body=text, query=request.query_string, headers=dict(request.headers))
        # UnicodeDecodeError and JSONDecodeError are ValueErrors; Bolt's context extraction raises the
        # others on bodies that parse but are not objects of the usual shape (a JSON list, "event": "x");
        # RecursionError on JSON nested thousands deep.
        except (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError):
            log.info("http.rejected reason=unparseable_body bytes=%d", len(raw))
            return web.Response(status=400, text="invalid request body")
        if not _well_formed(bolt_request.body, bolt_request.context):
            log.info("http.rejected reason=malformed_body bytes=%d", len(raw))
            return web.Response(status=400, text="invalid request body")
        _fix_payload_misparse(bolt_request)
        try:
            response = await bolt.async_dispatch(bolt_request)
        except Exception:
            # Bolt's matchers raise on shapes Slack never sends (the checks above catch the known
            # ones). Answer like any other malformed request; the traceback goes to the log.
            log.exception("http.rejected reason=undispatchable_body bytes=%d", len(raw))
            return web.Response(status=400, text="invalid request body")
        return await to_aiohttp_response(response)

    return handle


# Ids Bolt extracts from the body into the context; its middleware assumes strings (an integer
# "user" makes its authorization step raise, and Bolt answers 500).
_CONTEXT_IDS = (
    "user_id",
    "team_id",
    "enterprise_id",
    "channel_id",
    "actor_user_id",
    "actor_team_id",
    "actor_enterprise_id",
    "thread_ts",
    "function_execution_id",
)


def _well_formed(body: object, context: Mapping[str, object]) -> bool:
    """The shapes Bolt's matchers and middleware take for granted: they raise on anything else, and
    Bolt answers 500. Slack always sends these; a body without them is not from Slack."""
    if not isinstance(body, dict) or not _strings(body, "type"):
        return False
    kind = body.get("type")
    event, view, actions = body.get("event", {}), body.get("view", {}), body.get("actions", [])
    if not (isinstance(event, dict) and _strings(event, "type")):
        return False
    if not (isinstance(view, dict) and _strings(view, "type", "callback_id")):
        return False
    if kind in ("view_submission", "view_closed") and "callback_id" not in view:
        return False
    if kind in _NEEDS_CALLBACK_ID and not isinstance(body.get("callback_id"), str):
        return False
    if kind == "block_suggestion" and not isinstance(body.get("action_id"), str):
        return False
    if not isinstance(actions, list) or not all(isinstance(a, dict) for a in actions):
        return False
    if not all(_strings(a, "action_id", "block_id") for a in actions):
        return False
    if kind == "block_actions" and not (actions and "action_id" in actions[0]):
        return False
    return _strings(context, *_CONTEXT_IDS)


# Interactivity types whose listeners Bolt matches on body["callback_id"].
_NEEDS_CALLBACK_ID = frozenset(
    {
        "interactive_message",
        "dialog_submission",
        "dialog_cancellation",
        "workflow_step_edit",
        "shortcut",
        "message_action",
    }
)


def _strings(mapping: Mapping[str, object], *keys: str) -> bool:
    """Each of ``keys`` is absent, None or a string."""
    return all(isinstance(mapping.get(key), str | None) for key in keys)


def _verifiable(headers: Mapping[str, str]) -> bool:
    """False for signature headers on which slack_sdk's ``SignatureVerifier`` raises instead of
    answering (a timestamp that is not an integer, a signature that is not ASCII): Bolt would 500."""
    timestamp = headers.get(_TIMESTAMP)
    signature = headers.get(_SIGNATURE)
    if timestamp is not None:
        try:
            int(timestamp)
        except ValueError:
            return False
    return signature is None or signature.isascii()


def _signed(key: bytes, raw: bytes, timestamp: str | None, signature: str | None, now: float) -> bool:
    """Slack's request signature (v0 HMAC-SHA256 over the raw bytes) and a timestamp within 5 minutes.
    Over bytes: a body that is not UTF-8 is still only a hash away from a 401."""
    if timestamp is None or signature is None or abs(now - int(timestamp)) > SIGNATURE_MAX_AGE:
        return False
    expected = "v0=" + hmac.new(key, b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode())


def _fix_payload_misparse(request: AsyncBoltRequest) -> None:
    if request.body or not request.raw_body or request.raw_body.startswith("{"):
        return
    form = dict(parse_qsl(request.raw_body, keep_blank_values=True))
    if "payload" in form or not form:
        return
    request.body = form
    request.context = build_async_context(AsyncBoltContext({}), form)
