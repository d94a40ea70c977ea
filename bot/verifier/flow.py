"""Arcade's custom user verifier: prove that the browser finishing a Gmail grant is the Slack user who asked.

0. ``start`` (``GET /arcade/start/<token>``, the Authorize button in custom mode): checks the signed
   link against the user's pending authorization in the store, sets the start cookie naming that
   user and authorization (``bot.verifier.start``), and 303s to Arcade's URL.

After Google's consent Arcade sends the browser to ``GET /arcade/verify?flow_id=…`` (its only
parameter). The verifier:

1. ``begin``: refuses a browser without the start cookie; parks ``flow_id``, a ``nonce`` and the
   cookie's user and authorization in a signed ten-minute ``state`` (``bot.verifier.state``), binds
   that state to this browser with an HttpOnly cookie (only its digest is in the state), and 303s to
   Sign in with Slack.
2. ``finish`` (``GET /arcade/verify/callback``): opens the state (expired and tampered states are
   refused), checks the binding cookie, then spends the state in the store (a replay is refused),
   exchanges Slack's code for the signed-in user (``bot.verifier.signin``, limited per address),
   refuses anyone but the start cookie's user and any workspace the bot does not serve, calls
   Arcade ``confirm_user(flow_id, slack:<team>:<user>)`` at once, checks that the confirmed
   authorization is that user's pending one, and on success 303s the browser to Arcade's
   ``next_uri`` exactly once, which finalises the grant. It never waits for completion: the Slack
   side's own long-poll notices it and delivers the labels.

A forwarded link therefore fails both ways: whoever finishes someone else's link signs in to Slack
as themselves and is refused; a victim sent to a verify link that someone else consented on has no
start cookie for it, or one naming an authorization that Arcade does not confirm. docs/security.md
has the threat model. ``start``, ``begin`` and ``finish`` return plain values, so the logic is
testable without a browser or server.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import urlsplit

from bot.arcade import Arcade
from bot.config import is_loopback
from bot.errors import BotError, NotConfirmed, UserMismatch, VerificationClosed
from bot.models import SlackUser
from bot.store import Store
from bot.verifier.limits import RateLimit
from bot.verifier.outcome import Outcome, Redirect, Shown
from bot.verifier.pages import Branding, Kind, page
from bot.verifier.signin import SignInError, SlackIdentity, SlackSignIn
from bot.verifier.start import Binding, StartLinks
from bot.verifier.state import Signer, StateError, fingerprint, spend

log = logging.getLogger(__name__)

VERIFY_PATH = "/arcade/verify"
CALLBACK_PATH = "/arcade/verify/callback"
COOKIE = "gmail_connect_verify"
_FLOW_ID = re.compile(r"[A-Za-z0-9._:~-]{1,200}")  # always fullmatch: "$" would let a trailing newline in
# Identity is learnt from Slack, never from the link; a link carrying any of these was tampered with.
_IDENTITY_HINTS = ("user_id", "user", "email", "sub", "login_hint", "team_id")
_STATE_PAGES: dict[str, Kind] = {"expired": "state_expired", "replayed": "state_replayed"}
TOKEN_CALLS_PER_MINUTE = 10  # openid.connect.token calls per client address


class Verifier:
    def __init__(
        self,
        *,
        arcade: Arcade,
        signin: SlackSignIn,
        signer: Signer,
        links: StartLinks,
        store: Store,
        public_url: str,
        branding: Callable[[str | None], Awaitable[Branding]],  # for the flow's workspace, if known
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._arcade = arcade
        self._signin = signin
        self._signer = signer
        self.links = links
        self._store = store
        self._branding = branding
        self._clock = clock
        self._token_calls = RateLimit(TOKEN_CALLS_PER_MINUTE)
        parts = urlsplit(public_url)
        self.cookie_path = parts.path.rstrip("/") + VERIFY_PATH  # the path the browser sees
        self.secure_cookie = parts.scheme == "https"

    @property
    def cookie_max_age(self) -> int:
        return int(self._signer.ttl_seconds)

    async def start(self, token: str) -> Outcome:
        """The Authorize button: bind this browser to the user's pending authorization, then on to Arcade."""
        binding = self.links.open_link(token)
        if binding is None:
            log.info("verify.start_rejected reason=bad_link")
            return await self._show("start_invalid")
        flow = await self._store.get_pending(binding.user)
        if flow is None or flow.auth_id != binding.auth_id or flow.deadline <= self._clock():
            log.info("verify.start_rejected reason=not_pending user=%s", binding.user.arcade_id)
            return await self._show("closed")
        log.info("verify.start user=%s auth_id=%s", binding.user.arcade_id, binding.auth_id)
        return Redirect(flow.url, start_cookie=self.links.cookie(binding))

    async def begin(self, query: Mapping[str, str], start_cookie: str | None = None) -> Outcome:
        """Arcade's redirect: park the flow and send the browser to Sign in with Slack."""
        flow_id = query.get("flow_id", "")
        if any(hint in query for hint in _IDENTITY_HINTS):
            log.warning("verify.rejected reason=identity_in_link")
            return await self._show("identity_in_link")
        if not _FLOW_ID.fullmatch(flow_id):
            log.info("verify.rejected reason=missing_flow")
            return await self._show("missing_flow")
        started = self.links.open_cookie(start_cookie)
        if started is None:
            log.warning("verify.rejected reason=not_started_here flow=%s", _short(flow_id))
            return await self._show("not_started_here")
        binding, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        claims = {"flow": flow_id, "nonce": nonce, "bind": fingerprint(binding), **started.claims()}
        state = self._signer.sign(claims)
        log.info("verify.started flow=%s user=%s", _short(flow_id), started.user.arcade_id)
        team = (await self._branding(started.user.team_id)).team_id
        return Redirect(self._signin.authorize_url(state=state, nonce=nonce, team=team), cookie=binding)

    async def finish(self, query: Mapping[str, str], cookie: str | None, address: str = "") -> Outcome:
        """Slack's redirect back: who signed in -> confirm_user -> Arcade's next_uri."""
        try:
            opened = self._signer.open(query.get("state", ""))
            claims = opened.claims
            flow_id, nonce, bind = claims.get("flow", ""), claims.get("nonce", ""), claims.get("bind", "")
            if not cookie or not hmac.compare_digest(fingerprint(cookie), bind):
                log.info("verify.rejected reason=other_browser flow=%s", _short(flow_id))
                return await self._show("other_browser")
            await spend(opened, self._store.spend_token)  # only now: a cookie-less request records nothing
        except StateError as exc:
            log.info("verify.rejected reason=state_%s", exc.reason)
            return await self._show(_STATE_PAGES.get(exc.reason, "state_invalid"))
        started = Binding.from_claims(claims)
        if started is None:
            return await self._show("state_invalid")
        if "error" in query:
            log.info("verify.rejected reason=slack_refused flow=%s", _short(flow_id))
            return await self._show("slack_refused")
        code = query.get("code", "")
        if not code:
            log.info("verify.rejected reason=missing_code flow=%s", _short(flow_id))
            return await self._show("missing_code")
        if not self._token_calls.allow(address):
            log.warning("verify.rate_limited what=openid.connect.token address=%s", address)
            return await self._show("too_many")
        try:
            who = await self._signin.identify(code, nonce)
        except SignInError as exc:
            log.warning("verify.sign_in_failed reason=%s upstream=%s", exc.reason, exc.upstream)
            return await self._show("slack_unavailable" if exc.upstream else "sign_in_failed")
        refused = await self._refuse(who, started, flow_id)
        if refused is not None:
            return refused
        return await self._confirm(flow_id, started)

    async def _refuse(self, who: SlackIdentity, started: Binding, flow_id: str) -> Shown | None:
        """The page for a sign-in that must not reach Arcade: another workspace, or not the link's owner."""
        served = await self._branding(started.user.team_id)
        if not served.installed or (served.team_id is not None and who.team_id != served.team_id):
            log.warning("verify.other_workspace flow=%s team=%s", _short(flow_id), who.team_id)
            return await self._show("other_workspace")
        user = SlackUser(who.team_id, who.user_id)
        if user != started.user:
            log.warning(
                "verify.mismatch flow=%s signed_in=%s started_by=%s",
                _short(flow_id),
                user.arcade_id,
                started.user.arcade_id,
            )
            return await self._show("mismatch")
        return None

    async def _confirm(self, flow_id: str, started: Binding) -> Outcome:
        user = started.user
        try:
            confirmed = await self._arcade.confirm_user(flow_id, user)
        except UserMismatch:
            log.warning("verify.mismatch flow=%s signed_in=%s", _short(flow_id), user.arcade_id)
            return await self._show("mismatch")
        except VerificationClosed:
            log.info("verify.closed flow=%s user=%s", _short(flow_id), user.arcade_id)
            return await self._show("closed")
        except NotConfirmed:
            log.warning("verify.not_confirmed flow=%s user=%s", _short(flow_id), user.arcade_id)
            return await self._show("not_confirmed")
        except BotError as exc:
            log.warning("verify.arcade_failed flow=%s error=%s", _short(flow_id), type(exc).__name__)
            return await self._show("arcade_unavailable")
        pending = await self._store.get_pending(user)
        if confirmed.auth_id != started.auth_id or pending is None or pending.auth_id != confirmed.auth_id:
            # Arcade confirmed an authorization this user did not start from their own button: someone
            # else's consent. Not finalised (next_uri is never fetched), and said loudly.
            log.warning(
                "security.unexpected_authorization user=%s auth_id=%s expected=%s",
                user.arcade_id,
                confirmed.auth_id,
                pending.auth_id if pending else None,
            )
            return await self._show("unexpected_authorization")
        log.info("verify.confirmed user=%s auth_id=%s", user.arcade_id, confirmed.auth_id)
        if confirmed.next_uri and _safe_next(confirmed.next_uri):
            return Redirect(confirmed.next_uri)
        return await self._show("verified")

    async def too_many(self) -> Shown:
        return await self._show("too_many")

    async def _show(self, kind: Kind) -> Shown:
        return Shown(page(kind, await self._branding(None)), clear_cookie=True)


def _safe_next(uri: str) -> bool:
    """https only; plain http only to a loopback address (the tests' fakes)."""
    parts = urlsplit(uri)
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname))


def _short(flow_id: str) -> str:
    """Enough of a flow id to follow it through the logs."""
    return flow_id[:8]
