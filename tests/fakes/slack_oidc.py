"""Sign in with Slack (OpenID Connect) on the fake Slack, mounted by ``FakeSlack``.

* ``GET /_fake/login?user=U…[&team=T…]``: the test's way to be "signed in to Slack" in a browser:
  sets a session cookie, so each browser context is whoever it logged in as.
* ``GET /openid/connect/authorize?response_type=code&scope=openid&client_id&state&nonce&redirect_uri``:
  checks the app's client id and registered redirect URL, then 302s back with ``code`` and
  ``state`` for the signed-in user (or ``error=access_denied`` after :meth:`SlackOidc.refuse_next`).
  Without a session it shows a sign-in page, as Slack would.
* ``POST /api/openid.connect.token``: client id and secret (HTTP Basic, as slack_sdk sends them, or
  form fields), a single-use ten-minute code and the same ``redirect_uri``; answers ``access_token``
  and an ``id_token`` (a JWT signed HS256 with the client secret: a fake needs no JWKS).
* ``GET|POST /api/openid.connect.userInfo``: the user's claims for that access token.

Errors follow Slack's: ``invalid_client_id``, ``bad_client_secret``, ``invalid_code``,
``bad_redirect_uri``, ``invalid_auth``, ``not_authed``; HTTP 200 with ``ok: false``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from aiohttp import web

from tests.fakes.slack_world import ApiCall, Args, _error

if TYPE_CHECKING:
    from tests.fakes.slack_world import SlackWorld

CLIENT_ID = "1000000001.2000000002"
CLIENT_SECRET = "fake-slack-client-secret-0001"
SESSION_COOKIE = "fake_slack_session"
CODE_TTL = 600.0
WORKSPACE = "Fake Workspace"
_JWT_HEADER = json.dumps({"typ": "JWT", "alg": "HS256"}).encode()


@dataclass
class Grant:
    """One authorization code: who signed in, for which nonce and redirect URL."""

    user_id: str
    team_id: str
    nonce: str
    redirect_uri: str
    issued_at: float
    used: bool = False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SlackOidc:
    def __init__(self, world: SlackWorld) -> None:
        self.world = world
        self.client_id = CLIENT_ID
        self.client_secret = CLIENT_SECRET
        self.redirect_urls: set[str] = set()  # the app's registered redirect URLs (manifest redirect_urls)
        self.codes: dict[str, Grant] = {}
        self.access_tokens: dict[str, tuple[str, str]] = {}  # token -> (team_id, user_id)
        self.authorize_requests: list[dict[str, str]] = []
        self.wrong_nonce = False  # put another nonce in the next ID tokens (a code injected from elsewhere)
        self.id_token_nonce: str | None = None  # this exact nonce in the next ID tokens, if set
        self._refusals: deque[str] = deque()
        self._failures: dict[str, deque[str]] = {"openid.connect.token": deque(), "openid.connect.userInfo": deque()}

    def mount(self, router: web.UrlDispatcher) -> None:
        """Add the routes; call before ``/api/{method}`` so these two methods are answered here."""
        router.add_get("/_fake/login", self._login)
        router.add_get("/openid/connect/authorize", self._authorize)
        router.add_route("*", "/api/openid.connect.token", self._token)
        router.add_route("*", "/api/openid.connect.userInfo", self._userinfo)

    # -- switches for tests ----------------------------------------------------------------------

    def refuse_next(self, error: str = "access_denied") -> None:
        """The next authorize sends the browser back with ``error`` (the user clicked Cancel)."""
        self._refusals.append(error)

    def fail_next(self, method: str, error: str) -> None:
        """The next call of ``openid.connect.token`` or ``openid.connect.userInfo`` answers ``error``."""
        self._failures[method].append(error)

    def issue_code(self, user_id: str, *, nonce: str, redirect_uri: str) -> str:
        """A code as if ``user_id`` had signed in (for tests that drive the verifier without a browser)."""
        user = self.world.users[user_id]
        code = f"fake-oidc-{secrets.token_urlsafe(18)}"
        self.codes[code] = Grant(user.id, user.team_id, nonce, redirect_uri, self.world.clock())
        return code

    # -- browser routes --------------------------------------------------------------------------

    async def _login(self, request: web.Request) -> web.Response:
        user = self.world.users.get(request.query.get("user", ""))
        if user is None or user.is_bot:
            return web.Response(status=404, text="unknown user")
        team = request.query.get("team") or user.team_id
        response = web.Response(text=f"<p>Signed in to {WORKSPACE} as {user.id}.</p>", content_type="text/html")
        response.set_cookie(SESSION_COOKIE, f"{team}:{user.id}", path="/", httponly=True, samesite="Lax")
        return response

    async def _authorize(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.authorize_requests.append(query)
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id:
            return web.Response(status=400, text="invalid_client_id")
        if redirect_uri not in self.redirect_urls:
            return web.Response(status=400, text="bad_redirect_uri")
        if query.get("response_type") != "code" or "openid" not in query.get("scope", "").split():
            return web.Response(status=400, text="invalid_scope")
        back: dict[str, str] = {"state": query["state"]} if "state" in query else {}
        if self._refusals:
            raise web.HTTPFound(f"{redirect_uri}?{urlencode({'error': self._refusals.popleft(), **back})}")
        team_id, _, user_id = request.cookies.get(SESSION_COOKIE, "").partition(":")
        if user_id not in self.world.users:
            return web.Response(text="<h1>Sign in to Slack</h1>", content_type="text/html")
        code = f"fake-oidc-{secrets.token_urlsafe(18)}"
        self.codes[code] = Grant(user_id, team_id, query.get("nonce", ""), redirect_uri, self.world.clock())
        raise web.HTTPFound(f"{redirect_uri}?{urlencode({'code': code, **back})}")

    # -- Web API methods -------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        args, client = await self._args(request)
        self.world.calls.append(ApiCall("openid.connect.token", args, None, self.world.clock()))
        client_id, client_secret = client or (args.get("client_id"), args.get("client_secret"))
        if self._failures["openid.connect.token"]:
            return _reply(_error(self._failures["openid.connect.token"].popleft()))
        if client_id != self.client_id:
            return _reply(_error("invalid_client_id"))
        if client_secret != self.client_secret:
            return _reply(_error("bad_client_secret"))
        grant = self.codes.get(str(args.get("code", "")))
        if grant is None or grant.used or self.world.clock() - grant.issued_at > CODE_TTL:
            return _reply(_error("invalid_code"))
        if args.get("redirect_uri") != grant.redirect_uri:
            return _reply(_error("bad_redirect_uri"))
        grant.used = True
        access_token = f"xoxp-oidc-{secrets.token_hex(12)}"
        self.access_tokens[access_token] = (grant.team_id, grant.user_id)
        return _reply({"ok": True, "access_token": access_token, "token_type": "Bearer", "id_token": self._jwt(grant)})

    async def _userinfo(self, request: web.Request) -> web.Response:
        args, _ = await self._args(request)
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else args.get("token")
        self.world.calls.append(ApiCall("openid.connect.userInfo", args, token, self.world.clock()))
        if self._failures["openid.connect.userInfo"]:
            return _reply(_error(self._failures["openid.connect.userInfo"].popleft()))
        if not token:
            return _reply(_error("not_authed"))
        if token not in self.access_tokens:
            return _reply(_error("invalid_auth"))
        team_id, user_id = self.access_tokens[token]
        return _reply({"ok": True, **self._claims(team_id, user_id)})

    # -- helpers ---------------------------------------------------------------------------------

    def _claims(self, team_id: str, user_id: str) -> Args:
        return {
            "sub": user_id,
            "https://slack.com/user_id": user_id,
            "https://slack.com/team_id": team_id,
            "https://slack.com/team_name": WORKSPACE,
            "https://slack.com/team_domain": f"fake-{team_id.lower()}",
        }

    def _jwt(self, grant: Grant) -> str:
        now = int(self.world.clock())
        nonce = "a-nonce-from-another-sign-in" if self.wrong_nonce else grant.nonce
        nonce = self.id_token_nonce if self.id_token_nonce is not None else nonce
        claims: dict[str, Any] = {"iss": "https://slack.com", "aud": self.client_id, "exp": now + 3600, "iat": now}
        claims |= {"auth_time": now, "nonce": nonce, **self._claims(grant.team_id, grant.user_id)}
        signing_input = f"{_b64(_JWT_HEADER)}.{_b64(json.dumps(claims).encode())}"
        mac = hmac.new(self.client_secret.encode(), signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(mac)}"

    @staticmethod
    async def _args(request: web.Request) -> tuple[Args, tuple[str, str] | None]:
        """Query and form fields merged, and the HTTP Basic client credentials if sent."""
        args: Args = dict(request.query)
        if request.can_read_body:
            args.update(parse_qsl((await request.read()).decode("utf-8", "replace"), keep_blank_values=True))
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return args, None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return args, None
        return args, (user, password)


def _reply(body: Args) -> web.Response:
    return web.json_response(body)
