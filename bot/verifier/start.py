"""The Authorize button's short link: it ties the consent to the browser of the user it was sent to.

In ``custom`` mode the button opens ``{PUBLIC_URL}/arcade/start/<token>`` instead of Arcade's URL.
The token (signed, expiring with the authorization) names the Slack user and their pending
authorization; the same authorization always gets the same link, so a prompt sent again shows it
again. Opening it sets the start cookie (signed, HttpOnly, Secure over https, scoped to the
verifier's path) naming the same, then 303s to Arcade's URL. The verifier refuses a browser without
that cookie, and a sign-in by anyone but the user it names: a stranger's browser that finishes
someone's consent, or a victim lured to a verify link that an attacker consented on, is refused
before Arcade is asked anything.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from itsdangerous import BadData, URLSafeSerializer

from bot.models import PendingFlow, SlackUser
from bot.verifier.state import MAX_TOKEN, Signer, StateError

START_PATH = "/arcade/start"
START_COOKIE = "gmail_connect_start"


@dataclass(frozen=True, slots=True)
class Binding:
    """Whose consent this browser started, and which authorization."""

    user: SlackUser
    auth_id: str

    def claims(self) -> dict[str, str]:
        return {"team": self.user.team_id, "user": self.user.user_id, "auth": self.auth_id}

    @classmethod
    def from_claims(cls, claims: dict[str, str]) -> Binding | None:
        team, user, auth = claims.get("team", ""), claims.get("user", ""), claims.get("auth", "")
        return cls(SlackUser(team, user), auth) if team and user and auth else None


class StartLinks:
    def __init__(
        self, secret: str, *, public_url: str, ttl_seconds: float, clock: Callable[[], float] = time.time
    ) -> None:
        # Not timed by itsdangerous: the expiry is the authorization's own deadline, inside the token.
        self._links = URLSafeSerializer(
            secret, salt="gmail-connect/verifier/start-link/v2", signer_kwargs={"digest_method": hashlib.sha256}
        )
        self._clock = clock
        self._cookies = Signer(secret, purpose="start-cookie", ttl_seconds=ttl_seconds, clock=clock)
        self._base = public_url.rstrip("/") + START_PATH + "/"

    @property
    def ttl_seconds(self) -> float:
        return self._cookies.ttl_seconds

    def link(self, flow: PendingFlow) -> str:
        """The URL for the Authorize button (a few hundred characters, whatever Arcade's URL is)."""
        claims = {**Binding(flow.user, flow.auth_id).claims(), "exp": str(int(flow.deadline))}
        return self._base + str(self._links.dumps(claims))

    def open_link(self, token: str) -> Binding | None:
        if len(token) > MAX_TOKEN:
            return None
        try:
            claims = self._links.loads(token)
        except BadData:
            return None
        if not isinstance(claims, dict) or not str(claims.get("exp", "")).isdigit():
            return None
        if int(claims["exp"]) <= self._clock():
            return None
        return Binding.from_claims({k: v for k, v in claims.items() if isinstance(v, str)})

    def cookie(self, binding: Binding) -> str:
        return self._cookies.sign(binding.claims())

    def open_cookie(self, value: str | None) -> Binding | None:
        return self._open(self._cookies, value or "")

    @staticmethod
    def _open(signer: Signer, token: str) -> Binding | None:
        try:
            return Binding.from_claims(signer.open(token).claims)
        except StateError:
            return None
