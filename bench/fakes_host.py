"""A child process hosting fakes plus a small JSON control API for the bench orchestrator.

    python -m bench.fakes_host --role slack  --latency 0.05
    python -m bench.fakes_host --role arcade --arcade-latency 0.06 --gmail-latency 0.08

Role ``slack`` runs the test suite's ``FakeSlack`` (it also drives the bot: signed HTTP posts or
Socket Mode envelopes); role ``arcade`` runs its ``FakeArcade`` and ``FakeGmail``. The two roles live in two
processes so that the fake that measures acks never waits behind the fake that answers Arcade.
The first stdout line is a JSON object with the URLs; the process runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bench import timing
from tests.fakes.arcade import FakeArcade
from tests.fakes.gmail import FakeGmail
from tests.fakes.slack import FakeSlack

Handler = Callable[[web.Request], Awaitable[web.Response]]
LAG_TICK = 0.01
SENDERS = 32  # loopback addresses the fake Slack posts from: 32 x the bot's 256 connections per address


class LagMonitor:
    """How late a 10-ms sleep wakes up: the event loop's own queueing delay, sampled continuously."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(LAG_TICK)
            self.samples.append((started, time.monotonic() - started - LAG_TICK))

    def between(self, since: float, until: float) -> list[float]:
        return [lag for at, lag in self.samples if since <= at <= until]


async def _json_body(request: web.Request) -> dict[str, Any]:
    body = await request.json() if request.can_read_body else {}
    return body if isinstance(body, dict) else {}


def slack_routes(slack: FakeSlack) -> list[web.RouteDef]:
    seen = timing.Deliveries()
    slack.on_visible = seen

    async def burst(request: web.Request) -> web.Response:
        body = await _json_body(request)
        users: list[str] = body["users"]
        spread, mode = float(body.get("spread", 1.0)), str(body.get("mode", "http"))
        if body.get("app_url"):
            slack.app_url = str(body["app_url"])
        start = float(body.get("start_at") or time.monotonic() + 0.05)  # start_at: another phase's start too
        step = spread / max(1, len(users))

        async def one(index: int, user: str) -> list[Any]:
            await asyncio.sleep(max(0.0, start + index * step - time.monotonic()))
            sent = time.monotonic()
            ack = await slack.slash_command(user, mode=mode)
            return [user, ack.status, ack.elapsed, sent]

        acks = await asyncio.gather(*(one(i, u) for i, u in enumerate(users)))
        return web.json_response({"acks": acks})

    async def commands(request: web.Request) -> web.Response:
        """Signed slash-command requests for ``bench.sender`` to send (HTTP mode)."""
        users: list[str] = (await _json_body(request))["users"]
        signed = [(user, *slack.signed_slash_command(user)) for user in users]
        return web.json_response({"requests": [[user, raw.decode(), headers] for user, raw, headers in signed]})

    async def progress(request: web.Request) -> web.Response:
        users: list[str] = (await _json_body(request))["users"]
        prompted = sum(1 for u in users if u in seen.prompted_at)
        delivered = {u: seen.delivered_at[u] for u in users if u in seen.delivered_at}
        via: dict[str, int] = {}
        for u in delivered:
            via[seen.delivered_via[u]] = via.get(seen.delivered_via[u], 0) + 1
        twice = [u for u in users if seen.answers.get(u, 0) > 1]
        return web.json_response({"prompted": prompted, "delivered": delivered, "via": via, "twice": twice})

    async def socket(_: web.Request) -> web.Response:
        return web.json_response({"connected": slack.socket_connected, "connections": slack.socket_connections})

    return [
        web.post("/ctl/burst", burst),
        web.post("/ctl/commands", commands),
        web.post("/ctl/progress", progress),
        web.get("/ctl/socket", socket),
    ]


def arcade_routes(arcade: FakeArcade) -> list[web.RouteDef]:
    async def state(_: web.Request) -> web.Response:
        return web.json_response(
            {
                "pending": timing.pending(arcade),
                "inflight": arcade.inflight,
                "calls": len(arcade.calls),
                "double_polls": len(arcade.double_polls),  # a status call begun while another for it was open
            }
        )

    async def approve(request: web.Request) -> web.Response:
        body = await _json_body(request)
        users: list[str] = body["users"]
        step = float(body.get("spread", 1.0)) / max(1, len(users))
        start = float(body.get("start_at") or time.monotonic() + 0.05)
        approved = await timing.approve(arcade, users, [start + index * step for index in range(len(users))])
        return web.json_response({"approved": approved})

    async def calls(request: web.Request) -> web.Response:
        body = await _json_body(request)
        since, until = float(body["since"]), float(body["until"])
        by_path: dict[str, int] = {}
        for call in arcade.calls:
            if since <= call.at < until:
                by_path[call.path] = by_path.get(call.path, 0) + 1
        return web.json_response({"total": sum(by_path.values()), "by_path": by_path})

    return [web.get("/ctl/state", state), web.post("/ctl/approve", approve), web.post("/ctl/calls", calls)]


async def serve(args: argparse.Namespace) -> None:
    monitor = LagMonitor()
    monitor.start()
    info: dict[str, Any] = {}
    control = web.Application()

    async def lag(request: web.Request) -> web.Response:
        body = await _json_body(request)
        return web.json_response({"lags": monitor.between(float(body["since"]), float(body["until"]))})

    control.router.add_post("/ctl/lag", lag)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    if args.role == "slack":
        slack = FakeSlack()
        slack.senders = SENDERS  # a connection per command from many addresses, as Slack's senders
        slack.spread_socket_envelopes()  # over every Socket Mode connection in turn, as Slack does
        await slack.start()
        slack.set_latency(args.latency)
        control.add_routes(slack_routes(slack))
        info |= {"api_url": slack.api_url, "signing_secret": slack.signing_secret}
        info |= {"bot_token": slack.bot_token, "app_token": slack.app_token}
        closers = [slack.stop]
    else:
        arcade = FakeArcade()
        await arcade.start()
        arcade.set_latency(None, args.arcade_latency)
        arcade.verifier_url = args.verifier_url or None  # as a deployer sets it: the bot's start-up checks ask
        gmail = FakeGmail(token_owner=arcade.owner_of)
        await gmail.start()
        gmail.set_latency(args.gmail_latency)
        control.add_routes(arcade_routes(arcade))
        info |= {"arcade_url": arcade.base_url, "api_key": arcade.api_key, "gmail_url": gmail.base_url}
        closers = [gmail.stop, arcade.stop]
    runner = web.AppRunner(control, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    info["ctl"] = f"http://127.0.0.1:{runner.addresses[0][1]}"
    print(json.dumps(info), flush=True)
    await stop.wait()
    for close in closers:
        await close()
    await runner.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--role", choices=("slack", "arcade"), required=True)
    parser.add_argument("--latency", type=float, default=0.0, help="slack: seconds added to every call")
    parser.add_argument("--arcade-latency", type=float, default=0.0)
    parser.add_argument("--gmail-latency", type=float, default=0.0)
    parser.add_argument("--verifier-url", default="", help="arcade: the custom user verifier URL it is set to")
    parser.add_argument("--uvloop", action="store_true", help="run the fakes on uvloop (if installed)")
    args = parser.parse_args()
    if args.uvloop:
        try:
            import uvloop

            uvloop.run(serve(args))
            return 0
        except ImportError:
            print("uvloop not installed; using asyncio's loop", file=sys.stderr)
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
