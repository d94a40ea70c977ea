"""A faithful, stateful fake Slack served over real HTTP (aiohttp on loopback), per slack.md §9.

``FakeSlack`` serves the world of ``slack_world`` (users, channels, IMs, records, Web API rules):

* the Web API at ``/api/<method>``: query, form and JSON args merged; Slack's token rules; faults
  (``fail_next``, ``rate_limit_next`` with an integer ``Retry-After``, ``set_latency``, and per
  method ``delay_before`` / ``accept_then_delay``, where ``"response_url"`` names the hooks);
* ``response_url`` sinks at ``/hooks/commands/…`` and ``/hooks/actions/…`` (≤ 5 uses, 30 minutes by
  ``clock``; ``expire_response_urls``);
* Socket Mode at ``/link/`` (``slack_socket``);
* Sign in with Slack: ``/openid/connect/authorize``, ``openid.connect.token`` and
  ``openid.connect.userInfo``, with ``/_fake/login`` to pick who a browser is (``slack_oidc``).

It drives the bot the way Slack does — signed HTTP posts to ``app_url`` (form-encoded commands,
``payload=`` interactivity, JSON events) or envelopes over the newest socket — and records every ack.
Everything runs in the test's event loop::

    async with FakeSlack() as slack:
        slack.app_url = "http://127.0.0.1:3000/slack/events"
        ack = await slack.slash_command("U0123456789")
        await slack.wait_for(lambda: slack.private_to("U0123456789"))
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
from aiohttp import web

from tests.fakes.served import Served
from tests.fakes.slack_install import SlackInstalls
from tests.fakes.slack_oidc import SlackOidc
from tests.fakes.slack_socket import SocketModeLink
from tests.fakes.slack_world import Ack, ApiCall, Args, Channel, SlackWorld, User, _error, _json_or_none

__all__ = ["Ack", "ApiCall", "FakeSlack"]

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
BOT_SCOPES = "commands,chat:write,im:write,im:history,app_mentions:read"
FORM = "application/x-www-form-urlencoded"


@dataclass
class _Hold:
    """Hold the next ``remaining`` matching requests for ``seconds`` (or until the holds are released)."""

    seconds: float
    remaining: int
    match: Callable[[Args], bool] | None


@dataclass
class _Faults:
    errors: defaultdict[str, deque[str]] = field(default_factory=lambda: defaultdict(deque))
    rate_limits: defaultdict[str, deque[int]] = field(default_factory=lambda: defaultdict(deque))
    latency: float = 0.0
    before: defaultdict[str, list[_Hold]] = field(default_factory=lambda: defaultdict(list))
    after: defaultdict[str, list[_Hold]] = field(default_factory=lambda: defaultdict(list))


def _gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


class FakeSlack(SlackWorld, Served):
    def __init__(
        self,
        *,
        signing_secret: str = SIGNING_SECRET,
        bot_token: str = BOT_TOKEN,
        app_token: str = APP_TOKEN,
        team_id: str = "T0000000001",
        bot_user_id: str = "U0BOT000001",
        bot_id: str = "B0BOT000001",
        app_id: str = "A0APP000001",
    ) -> None:
        super().__init__(
            team_id=team_id,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
            app_id=app_id,
            bot_token=bot_token,
            app_token=app_token,
        )
        self.signing_secret = signing_secret
        self.port = 0
        self.api_url = ""
        self.app_url: str | None = None
        self.ack_timeout = 3.0  # Slack's deadline for an ack
        # Requests to the app from this many loopback addresses (127.0.0.2, ...), in turn, each on a
        # new connection, as from Slack's many senders (set before start): workers sharing one port
        # (SO_REUSEPORT) get them spread over them, and no address reaches the bot's per-address cap.
        self.senders = 0
        self._senders: list[aiohttp.ClientSession] = []
        self._posted = 0
        self._faults = _Faults()
        self._release = asyncio.Event()  # set to let every held request go at once
        self.held: list[tuple[str, str, Args]] = []  # ("before" | "after", method, args) of each held request
        self._echo_mode: str | None = None
        self._echo_tasks: set[asyncio.Task[Ack]] = set()
        self._socket = SocketModeLink(app_id)
        self.oidc = SlackOidc(self)  # Sign in with Slack (slack_oidc)
        self.installs = SlackInstalls(self)  # the install flow, one token per workspace (slack_install)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._methods["apps.connections.open"] = self._connections_open

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        self.oidc.mount(app.router)  # before /api/{method}: its two Web API methods authenticate differently
        self.installs.mount(app.router)  # so does oauth.v2.access
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/hooks/{kind:commands|actions}/{rest:.+}", self._hook)
        app.router.add_get("/link/", self._socket.handle)
        app.router.add_get("/link", self._socket.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])
        self.base_url = f"http://127.0.0.1:{self.port}/"
        self.api_url = f"{self.base_url}api/"
        # No cap on connections to the app, like Slack's many senders: a burst of commands would
        # otherwise queue inside the fake (aiohttp's default is 100) and inflate the acks it times.
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        for n in range(self.senders):
            connector = aiohttp.TCPConnector(limit=0, force_close=True, local_addr=(f"127.0.0.{n + 2}", 0))
            self._senders.append(aiohttp.ClientSession(connector=connector))

    async def stop(self) -> None:
        self.release_delays()
        for task in self._echo_tasks:
            task.cancel()
        await asyncio.gather(*self._echo_tasks, return_exceptions=True)
        await self._socket.close()
        for session in [self._session, *self._senders]:
            if session is not None:
                await session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- fault switches --------------------------------------------------------------------------

    def fail_next(self, method: str, error: str, *, times: int = 1) -> None:
        self._faults.errors[method].extend([error] * times)

    def rate_limit_next(self, method: str, *, retry_after: int = 1, times: int = 1) -> None:
        self._faults.rate_limits[method].extend([int(retry_after)] * times)

    def set_latency(self, seconds: float) -> None:
        self._faults.latency = seconds

    def delay_before(
        self, method: str, seconds: float, *, times: int = 1, match: Callable[[Args], bool] | None = None
    ) -> None:
        """Hold the next ``times`` calls of ``method`` (matching ``match(args)``) *before* Slack acts on them.

        ``method`` is a Web API method, or ``"response_url"`` for posts to response_url hooks (``args``
        is then the posted JSON). A client that gives up meanwhile leaves nothing behind.
        """
        self._faults.before[method].append(_Hold(seconds, times, match))

    def accept_then_delay(
        self, method: str, seconds: float, *, times: int = 1, match: Callable[[Args], bool] | None = None
    ) -> None:
        """Act on the next ``times`` accepted calls of ``method`` (matching ``match``), then hold the answer.

        The message is recorded (Slack accepted it) but the sender does not hear so for ``seconds``: the
        window in which a crash leaves the sender unsure whether Slack has it.
        """
        self._faults.after[method].append(_Hold(seconds, times, match))

    def release_delays(self) -> None:
        """Let every held request go now and forget the holds not yet used."""
        self._faults.before.clear()
        self._faults.after.clear()
        self._release.set()
        self._release = asyncio.Event()

    async def _hold(self, holds: defaultdict[str, list[_Hold]], method: str, args: Args) -> bool:
        """Hold the request if a hold matches; True if it was held."""
        for hold in holds.get(method, []):
            if hold.match is None or hold.match(args):
                hold.remaining -= 1
                if hold.remaining <= 0:
                    holds[method].remove(hold)
                release = self._release
                self.held.append(("before" if holds is self._faults.before else "after", method, args))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(release.wait(), hold.seconds)
                return True
        return False

    def echo_bot_messages(self, mode: str | None) -> None:
        """Echo the bot's own DM posts back as ``message.im`` events (``mode`` "http"/"socket"; None: off)."""
        self._echo_mode = mode

    def describe(self) -> str:
        return f"{super().describe()}\n  socket connected: {self._socket.connected}"

    # The public API takes plain ``timeout`` arguments so tests read naturally.
    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Poll ``predicate`` every 10 ms; fail with a dump of what the fake saw after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                name = getattr(predicate, "__name__", repr(predicate))
                raise AssertionError(f"fake Slack: {name} still false after {timeout} s\n{self.describe()}")
            await asyncio.sleep(0.01)

    # -- HTTP: Web API and response_url sink -----------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args, bad_body = await self._read_args(request)
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None
        token = token or args.pop("token", None)
        args.pop("token", None)
        self.calls.append(ApiCall(method, args, token, self.clock()))
        if self._faults.latency:
            await asyncio.sleep(self._faults.latency)
        if await self._hold(self._faults.before, method, args) and _gone(request):
            return web.Response(status=499)  # the sender gave up (or died) before Slack acted: nothing happened
        if self._faults.rate_limits[method]:
            retry_after = self._faults.rate_limits[method].popleft()
            return self._reply(_error("ratelimited"), status=429, headers={"Retry-After": str(retry_after)})
        if self._faults.errors[method]:
            return self._reply(_error(self._faults.errors[method].popleft()))
        answer = _error(bad_body) if bad_body else self.api(method, args, token)
        if answer["ok"]:
            await self._hold(self._faults.after, method, args)
        return self._reply(answer, headers={"X-OAuth-Scopes": BOT_SCOPES} if answer["ok"] else None)

    @staticmethod
    async def _read_args(request: web.Request) -> tuple[Args, str | None]:
        """Query string, form body and JSON body merged (Slack accepts all three)."""
        args: Args = dict(request.query)
        raw = await request.read()
        if not raw:
            return args, None
        if request.content_type == "application/json":
            body = _json_or_none(raw.decode("utf-8", "replace"))
            if body is None:
                return args, "invalid_json"
            args.update(body)
        elif request.content_type == FORM:
            try:
                args.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
            except UnicodeDecodeError:
                return args, "invalid_form_data"
        return args, None

    @staticmethod
    def _reply(body: Args, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(
            status=status,
            text=json.dumps(body),
            content_type="application/json",
            charset="utf-8",
            headers=headers,
        )

    def api(self, method: str, args: Args, token: str | None) -> Args:
        """A workspace's own token (``slack_install``) is checked against the workspace the call is about."""
        found = self.installs.team_of(token) if token else None
        if found is None or method not in self._methods:
            return super().api(method, args, token)
        if (error := self.installs.check_workspace(method, args, token or "")) is not None:
            return _error(error)
        answer = self._methods[method](args)
        if method == "auth.test":
            workspace = self.installs.workspaces[found[0]]
            answer |= {"team_id": workspace.team_id, "team": workspace.name}
        return answer

    def _connections_open(self, args: Args) -> Args:
        ticket = self._socket.issue_ticket()
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={self.app_id}"}

    async def _hook(self, request: web.Request) -> web.Response:
        if self._faults.latency:
            await asyncio.sleep(self._faults.latency)
        raw = await request.text()
        posted = _json_or_none(raw) or {}
        if await self._hold(self._faults.before, "response_url", posted) and _gone(request):
            return web.Response(status=499)
        if self._faults.errors["response_url"]:  # ``fail_next("response_url", e)``: 200 {"ok": false}
            return web.json_response({"ok": False, "error": self._faults.errors["response_url"].popleft()})
        status, text = self.respond(request.path, raw)
        if status == 200:
            await self._hold(self._faults.after, "response_url", posted)
        return web.Response(status=status, text=text)

    def bot_posted(self, record: Args, channel: Channel) -> None:
        if self._echo_mode is None or channel.im_user is None:
            return
        echo = self._message(record) | {"channel": channel.id, "event_ts": record["ts"], "channel_type": "im"}
        task = asyncio.create_task(self.send_event(echo, team_id=channel.team_id, mode=self._echo_mode))
        self._echo_tasks.add(task)
        task.add_done_callback(self._echo_tasks.discard)

    # -- driving the bot -------------------------------------------------------------------------

    def sign(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """Slack's v0 request signature. Uses the real wall clock: Bolt checks it against ``time.time``."""
        ts = int(time.time()) if timestamp is None else timestamp
        base = f"v0:{ts}:".encode() + body
        digest = hmac.new(self.signing_secret.encode(), base, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": f"v0={digest}"}

    async def post_raw(self, body: bytes, headers: dict[str, str]) -> Ack:
        status, text, elapsed = await self._post_app(body, headers)
        ack = Ack(status, text, _json_or_none(text), elapsed, kind="raw")
        self.acks.append(ack)
        return ack

    async def _post_app(self, body: bytes, headers: dict[str, str]) -> tuple[int, str, float]:
        if self.app_url is None or self._session is None:
            raise RuntimeError("set fake.app_url to the bot's HTTP endpoint (and start the fake) first")
        started = time.perf_counter()
        headers = {"User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)", **headers}
        try:
            timeout = aiohttp.ClientTimeout(total=self.ack_timeout)
            self._posted += 1
            session = self._senders[self._posted % len(self._senders)] if self._senders else self._session
            async with session.post(self.app_url, data=body, headers=headers, timeout=timeout) as resp:
                return resp.status, await resp.text(), time.perf_counter() - started
        except TimeoutError:  # Slack gives up after 3 s: the user sees operation_timeout
            return 0, "", time.perf_counter() - started

    async def _deliver(
        self,
        mode: str,
        kind: str,
        payload: Args,
        *,
        user: str | None,
        channel: str | None,
        team: str,
        retry_num: int | None = None,
        retry_reason: str | None = None,
    ) -> Ack:
        meta: Args = {"kind": kind, "user": user, "channel": channel, "team_id": team}
        if mode == "socket":
            if not self._socket.connected:
                await self.wait_socket_connected(timeout=5.0)
            reply = await self._socket.send(
                kind, payload, ack_within=self.ack_timeout, retry_attempt=retry_num, retry_reason=retry_reason
            )
            body = json.dumps(reply.payload) if reply.payload is not None else ""
            ack = Ack(200 if reply.acked else 0, body, reply.payload, reply.elapsed, **meta)
        elif mode == "http":
            headers = {"Content-Type": FORM}
            if kind == "slash_commands":
                raw = urlencode(payload).encode()
            elif kind == "interactive":
                raw = urlencode({"payload": json.dumps(payload)}).encode()
            else:
                raw, headers = json.dumps(payload).encode(), {"Content-Type": "application/json"}
            if retry_num is not None:
                headers |= {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason or ""}
            status, text, elapsed = await self._post_app(raw, {**headers, **self.sign(raw)})
            ack = Ack(status, text, _json_or_none(text), elapsed, **meta)
        else:
            raise ValueError(f"mode must be 'http' or 'socket', not {mode!r}")
        self.acks.append(ack)
        if kind == "slash_commands":
            self._record_command_ack(ack, team)
        return ack

    def _actor(self, user_id: str, team_id: str | None, channel_id: str | None) -> tuple[User, str, Args]:
        """The acting user, their channel id, and the payload fields every interaction shares."""
        user = self._user(user_id, team_id)
        if team_id is not None and team_id != user.team_id:  # the same user id in another workspace
            user = dataclasses.replace(user, team_id=team_id)
        channel = self._driver_channel(channel_id, user)
        cid = channel.id if channel is not None else str(channel_id)
        common = {
            "token": self.verification_token,
            "team_domain": f"fake-{user.team_id.lower()}",
            "channel_name": "directmessage" if cid.startswith("D") else f"channel-{cid.lower()}",
            "trigger_id": f"{next(self._seq)}.{int(self.clock())}.{secrets.token_hex(16)}",
        }
        return user, cid, common

    async def slash_command(
        self,
        user_id: str,
        *,
        text: str = "",
        channel_id: str | None = None,
        team_id: str | None = None,
        command: str = "/connect-gmail",
        mode: str = "http",
    ) -> Ack:
        user, cid, payload = self._slash_payload(user_id, text, channel_id, team_id, command)
        return await self._deliver(mode, "slash_commands", payload, user=user.id, channel=cid, team=user.team_id)

    def signed_slash_command(self, user_id: str, *, command: str = "/connect-gmail") -> tuple[bytes, dict[str, str]]:
        """The HTTP request Slack would send for a slash command (body and headers, signed now),
        for a sender in another process; its ack is that sender's to read."""
        _, _, payload = self._slash_payload(user_id, "", None, None, command)
        raw = urlencode(payload).encode()
        headers = {"User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)", "Content-Type": FORM}
        return raw, {**headers, **self.sign(raw)}

    def _slash_payload(
        self, user_id: str, text: str, channel_id: str | None, team_id: str | None, command: str
    ) -> tuple[User, str, Args]:
        user, cid, base = self._actor(user_id, team_id, channel_id)
        payload = {
            "token": base["token"],
            "team_id": user.team_id,
            "team_domain": base["team_domain"],
            "channel_id": cid,
            "channel_name": base["channel_name"],
            "user_id": user.id,
            "user_name": user.id.lower(),
            "command": command,
            "text": text,
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": self._issue_response_url("commands", user, cid, ephemeral_source=True),
            "trigger_id": base["trigger_id"],
        }
        return user, cid, payload

    async def block_action(
        self,
        user_id: str,
        *,
        action_id: str,
        value: str | None = None,
        url: str | None = None,
        channel_id: str | None = None,
        team_id: str | None = None,
        response_url: str | None = None,
        message_ts: str | None = None,
        is_ephemeral: bool = True,
        from_home: bool = False,
        mode: str = "http",
    ) -> Ack:
        """A button click. ``from_home``: in the App Home view (no channel, message or response_url)."""
        user, cid, base = self._actor(user_id, team_id, channel_id)
        ts = message_ts or self._next_ts()
        hook = response_url or self._issue_response_url("actions", user, cid, ephemeral_source=is_ephemeral)
        action: Args = {
            "action_id": action_id,
            "block_id": "fakeblk1",
            "text": {"type": "plain_text", "text": "Button", "emoji": True},
            "type": "button",
            "action_ts": f"{self.clock():.6f}",
        }
        action |= {k: v for k, v in (("value", value), ("url", url)) if v is not None}
        payload: Args = {
            "type": "block_actions",
            "user": {"id": user.id, "username": user.id.lower(), "name": user.id.lower(), "team_id": user.team_id},
            "api_app_id": self.app_id,
            "token": base["token"],
            "container": {"type": "message", "message_ts": ts, "channel_id": cid, "is_ephemeral": is_ephemeral},
            "trigger_id": base["trigger_id"],
            "team": {"id": user.team_id, "domain": base["team_domain"]},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": cid, "name": base["channel_name"]},
            "state": {"values": {}},
            "response_url": hook,
            "actions": [action],
        }
        if not is_ephemeral:  # Slack includes the source message; ephemeral sources have none
            found = [m for m in self.messages if m["channel"] == cid and m["ts"] == ts]
            source = found[0] if found else {"team_id": user.team_id, "ts": ts, "text": "", "blocks": []}
            payload["message"] = self._message(source)
        if from_home:
            view = self.home_views.get(user.id, {"id": "V0000000000", "hash": "0.0"})
            payload["container"] = {"type": "view", "view_id": view["id"]}
            payload["view"] = {"id": view["id"], "type": "home", "hash": view.get("hash")}
            for key in ("channel", "response_url", "message"):
                payload.pop(key, None)
        return await self._deliver(mode, "interactive", payload, user=user.id, channel=cid, team=user.team_id)

    async def send_event(
        self,
        event: Args,
        *,
        team_id: str | None = None,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        mode: str = "http",
    ) -> Ack:
        team = team_id or self.team_id
        envelope = {
            "token": self.verification_token,
            "team_id": team,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(self._seq):010d}",
            "event_time": int(self.clock()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": team,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{secrets.token_urlsafe(24)}",
        }
        user, channel = event.get("user"), event.get("channel")
        return await self._deliver(
            mode,
            "events_api",
            envelope,
            user=user if isinstance(user, str) else None,
            channel=channel if isinstance(channel, str) else None,
            team=team,
            retry_num=retry_num,
            retry_reason=retry_reason,
        )

    async def dm(
        self,
        user_id: str,
        text: str,
        *,
        team_id: str | None = None,
        mode: str = "http",
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        **extra: Any,
    ) -> Ack:
        """The user writes ``text`` in their DM with the bot (``message.im``); ``extra`` goes into the event."""
        user = self._user(user_id, team_id)
        if team_id is not None and team_id != user.team_id:  # the same user id in another workspace
            user = dataclasses.replace(user, team_id=team_id)
        ts = self._next_ts()
        event = {
            "client_msg_id": str(uuid.uuid4()),
            "type": "message",
            "text": text,
            "user": user.id,
            "ts": ts,
            "team": user.team_id,
            "channel": self.dm_channel_id(user.id, user.team_id),
            "event_ts": ts,
            "channel_type": "im",
        }
        return await self.send_event(
            event | extra,
            team_id=user.team_id,
            event_id=event_id,
            retry_num=retry_num,
            retry_reason=retry_reason,
            mode=mode,
        )

    async def mention(
        self, user_id: str, channel_id: str, text: str, *, team_id: str | None = None, mode: str = "http"
    ) -> Ack:
        """The user @-mentions the bot in a channel (``app_mention``; never fires in DMs)."""
        if channel_id.startswith("D"):
            raise ValueError("app_mention never fires in DMs (slack.md §3.1): use dm()")
        user = self._user(user_id, team_id)
        if channel_id not in self.channels:
            self.add_channel(channel_id, members=[user.id, self.bot_user_id], team_id=user.team_id)
        if self.bot_user_id not in self.channels[channel_id].members:
            raise ValueError(f"the bot is not in {channel_id}: Slack would offer to invite it, not send an event")
        ts = self._next_ts()
        event = {
            "client_msg_id": str(uuid.uuid4()),
            "type": "app_mention",
            "text": f"<@{self.bot_user_id}> {text}".rstrip(),
            "user": user.id,
            "ts": ts,
            "team": user.team_id,
            "channel": channel_id,
            "event_ts": ts,
        }
        return await self.send_event(event, team_id=user.team_id, mode=mode)

    # -- Socket Mode -----------------------------------------------------------------------------

    @property
    def socket_connections(self) -> int:
        """How many Socket Mode connections have been accepted so far."""
        return self._socket.connections

    @property
    def socket_connected(self) -> bool:
        """Whether the app holds a Socket Mode connection right now."""
        return self._socket.connected

    async def wait_socket_connected(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        await self.wait_for(lambda: self.socket_connected, timeout)

    def spread_socket_envelopes(self) -> None:
        """Send envelopes in turn over every open connection, as Slack does for an app's replicas."""
        self._socket.spread = True

    def open_sockets(self) -> int:
        return sum(not ws.closed for ws in self._socket._sockets)

    async def disconnect_socket(self, reason: str = "refresh_requested") -> None:
        await self._socket.disconnect(reason)
