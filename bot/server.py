"""The bot's web server: ``/healthz`` in both modes; the verifier and HTTP mode add their routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

MAX_BODY = 1024 * 1024  # Slack's payloads are far smaller

Health = Callable[[], Awaitable[dict[str, bool]]]


def build_web_app(health: Health) -> web.Application:
    """``GET /healthz`` answers 200 when every check in ``health`` passes, else 503, with each check named."""
    app = web.Application(client_max_size=MAX_BODY)

    async def healthz(_: web.Request) -> web.Response:
        checks = await health()
        ok = all(checks.values())
        return web.json_response({"ok": ok, **checks}, status=200 if ok else 503)

    app.router.add_get("/healthz", healthz)
    return app
