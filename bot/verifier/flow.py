"""Arcade's custom user verifier: prove that the browser finishing a Gmail grant is the Slack user who asked.

After Google's consent Arcade sends the browser to ``GET /arcade/verify?flow_id=…`` (its only
parameter). The verifier:

1. ``begin``: parks ``flow_id`` and a ``nonce`` in a signed ten-minute ``state`` (``bot.verifier.state``),
   binds that state to this browser with an HttpOnly cookie (only its digest is in the state), and
   303s to Sign in with Slack.
2. ``finish`` (``GET /arcade/verify/callback``): opens the state once (expired, tampered and replayed
   states are refused), checks the cookie, exchanges Slack's code for the signed-in user
   (``bot.verifier.signin``), calls Arcade ``confirm_user(flow_id, slack:<team>:<user>)`` at once, and on success
   303s the browser to Arcade's ``next_uri`` exactly once, which finalises the grant. It never waits for
   completion: the Slack side's own long-poll notices it and delivers the labels.

A forwarded link therefore fails: the person who finishes it signs in to Slack as themselves, Arcade
answers ``user_mismatch``, nothing is connected, and the owner's flow keeps waiting for them.
``begin`` and ``finish`` return plain values, so the logic is testable without a browser or server.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from bot.arcade import Arcade
from bot.errors import BotError, UserMismatch, VerificationClosed
from bot.models import SlackUser
from bot.verifier.pages import Branding, Kind, Page, page
from bot.verifier.signin import SignInError, SlackSignIn
from bot.verifier.state import StateError, StateSigner, fingerprint

log = logging.getLogger(__name__)

VERIFY_PATH = "/arcade/verify"
CALLBACK_PATH = "/arcade/verify/callback"
COOKIE = "gmail_connect_verify"
_FLOW_ID = re.compile(r"^[A-Za-z0-9._:~-]{1,200}$")
# Identity is learnt from Slack, never from the link; a link carrying any of these was tampered with.
_IDENTITY_HINTS = ("user_id", "user", "email", "sub", "login_hint", "team_id")
_STATE_PAGES: dict[str, Kind] = {"expired": "state_expired", "replayed": "state_replayed"}
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'"
    ),
}


@dataclass(frozen=True, slots=True)
class Redirect:
    """303 to ``location``; ``cookie`` is the browser-binding value to set, if any."""

    location: str
    cookie: str | None = None


@dataclass(frozen=True, slots=True)
class Shown:
    """A page; ``clear_cookie`` once the sign-in it belonged to is spent."""

    page: Page
    clear_cookie: bool = False


Outcome = Redirect | Shown


class Verifier:
    def __init__(
        self,
        *,
        arcade: Arcade,
        signin: SlackSignIn,
        signer: StateSigner,
        public_url: str,
        branding: Callable[[], Awaitable[Branding]],
    ) -> None:
        self._arcade = arcade
        self._signin = signin
        self._signer = signer
        self._branding = branding
        parts = urlsplit(public_url)
        self.cookie_path = parts.path.rstrip("/") + VERIFY_PATH  # the path the browser sees
        self.secure_cookie = parts.scheme == "https"

    @property
    def cookie_max_age(self) -> int:
        return int(self._signer.ttl_seconds)

    async def begin(self, query: Mapping[str, str]) -> Outcome:
        """Arcade's redirect: park the flow and send the browser to Sign in with Slack."""
        flow_id = query.get("flow_id", "")
        if any(hint in query for hint in _IDENTITY_HINTS):
            log.warning("verify.rejected reason=identity_in_link")
            return await self._show("identity_in_link")
        if not _FLOW_ID.match(flow_id):
            log.info("verify.rejected reason=missing_flow")
            return await self._show("missing_flow")
        binding, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        state = self._signer.sign({"flow": flow_id, "nonce": nonce, "bind": fingerprint(binding)})
        log.info("verify.started flow=%s", _short(flow_id))
        team = (await self._branding()).team_id
        return Redirect(self._signin.authorize_url(state=state, nonce=nonce, team=team), cookie=binding)

    async def finish(self, query: Mapping[str, str], cookie: str | None) -> Outcome:
        """Slack's redirect back: who signed in -> confirm_user -> Arcade's next_uri."""
        try:
            claims = self._signer.open(query.get("state", ""))
        except StateError as exc:
            log.info("verify.rejected reason=state_%s", exc.reason)
            return await self._show(_STATE_PAGES.get(exc.reason, "state_invalid"))
        flow_id, nonce, bind = claims.get("flow", ""), claims.get("nonce", ""), claims.get("bind", "")
        if not cookie or not hmac.compare_digest(fingerprint(cookie), bind):
            log.info("verify.rejected reason=other_browser flow=%s", _short(flow_id))
            return await self._show("other_browser")
        if "error" in query:
            log.info("verify.rejected reason=slack_refused flow=%s", _short(flow_id))
            return await self._show("slack_refused")
        code = query.get("code", "")
        if not code:
            log.info("verify.rejected reason=missing_code flow=%s", _short(flow_id))
            return await self._show("missing_code")
        try:
            who = await self._signin.identify(code, nonce)
        except SignInError as exc:
            log.warning("verify.sign_in_failed reason=%s upstream=%s", exc.reason, exc.upstream)
            return await self._show("slack_unavailable" if exc.upstream else "sign_in_failed")
        user = SlackUser(who.team_id, who.user_id)
        try:
            confirmed = await self._arcade.confirm_user(flow_id, user)
        except UserMismatch:
            log.warning("verify.mismatch flow=%s signed_in=%s", _short(flow_id), user.arcade_id)
            return await self._show("mismatch")
        except VerificationClosed:
            log.info("verify.closed flow=%s user=%s", _short(flow_id), user.arcade_id)
            return await self._show("closed")
        except BotError as exc:
            log.warning("verify.arcade_failed flow=%s error=%s", _short(flow_id), type(exc).__name__)
            return await self._show("arcade_unavailable")
        log.info("verify.confirmed user=%s auth_id=%s", user.arcade_id, confirmed.auth_id)
        if confirmed.next_uri and urlsplit(confirmed.next_uri).scheme in ("http", "https"):
            return Redirect(confirmed.next_uri)
        return await self._show("verified")

    async def _show(self, kind: Kind) -> Shown:
        return Shown(page(kind, await self._branding()), clear_cookie=True)


def _short(flow_id: str) -> str:
    """Enough of a flow id to follow it through the logs."""
    return flow_id[:8]
