"""The HTTP-mode web server: ``POST /slack/events`` (commands, events, interactivity) and ``/healthz``.

Two guards sit in front of Bolt:

* bodies that are not UTF-8 (or not parseable) are answered 400 before Bolt sees them: slack_sdk's
  ``SignatureVerifier`` would raise on them and stock Bolt would answer 500;
* Bolt's form parser takes any form body containing the substring ``payload`` for an
  interactivity payload, so ``/connect-gmail payload`` (or a channel called #payload-team)
  would parse to ``{}`` and be dropped; such bodies are re-parsed as the plain form they are.

Signature and timestamp checks (401) stay Bolt's: nothing runs for an unsigned request.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
MAX_BODY = 1024 * 1024  # Slack's payloads are far smaller


def build_web_app(bolt: AsyncApp | None, *, health: Callable[[], Awaitable[bool]] | None = None) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)

    async def healthz(_: web.Request) -> web.Response:
        ok = await health() if health is not None else True
        return web.json_response({"ok": ok}, status=200 if ok else 503)

    app.router.add_get("/healthz", healthz)
    if bolt is not None:
        app.router.add_post(EVENTS_PATH, _events_handler(bolt))
    return app


def _events_handler(bolt: AsyncApp) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            text = raw.decode("utf-8")
            bolt_request = AsyncBoltRequest(body=text, query=request.query_string, headers=dict(request.headers))
        except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            log.info("http.rejected reason=unparseable_body bytes=%d", len(raw))
            return web.Response(status=400, text="invalid request body")
        _fix_payload_misparse(bolt_request)
        response = await bolt.async_dispatch(bolt_request)
        headers = {k: v[0] for k, v in response.headers.items() if v and k.lower() != "content-length"}
        return web.Response(status=response.status, body=response.body.encode("utf-8"), headers=headers)

    return handle


def _fix_payload_misparse(request: AsyncBoltRequest) -> None:
    if request.body or not request.raw_body or request.raw_body.startswith("{"):
        return
    form = dict(parse_qsl(request.raw_body, keep_blank_values=True))
    if "payload" in form or not form:
        return
    request.body = form
    request.context = build_async_context(AsyncBoltContext({}), form)
