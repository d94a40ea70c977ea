"""Sign in with Slack (OpenID Connect): who is the person in this browser?

The browser is sent to ``{slack origin}/openid/connect/authorize`` (scope ``openid``, with the
verifier's ``state`` and a ``nonce``); Slack sends it back with a one-time ``code``. ``identify``
exchanges the code (``openid.connect.token``, with the app's client id and secret), checks the ID
token's ``nonce``, audience and expiry, and reads the user's team and user id from
``openid.connect.userInfo``; both sources must agree. Both calls go through slack_sdk's
``AsyncWebClient`` at ``SLACK_API_URL``, like every other Slack call.

The ID token's signature is not checked: it comes straight from Slack's token endpoint over TLS,
authenticated with the client secret, which OpenID Connect Core §3.1.3.7 (6) allows instead.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.errors import slack_error
from bot.slack.retries import Backoff

log = logging.getLogger(__name__)

SCOPE = "openid"
TEAM_CLAIM = "https://slack.com/team_id"
USER_CLAIM = "https://slack.com/user_id"
TEAM_NAME_CLAIM = "https://slack.com/team_name"
CLOCK_SKEW = 120  # seconds of tolerance on the ID token's exp
# openid.connect.token errors that mean "this sign-in is unusable", not "the bot is misconfigured".
_USER_ERRORS = frozenset({"invalid_code", "code_already_used", "invalid_grant_type", "code_expired"})


@dataclass(frozen=True, slots=True)
class SlackIdentity:
    """The Slack user signed in to this browser."""

    team_id: str
    user_id: str
    team_name: str | None = None


class SignInError(Exception):
    """Sign in with Slack failed. ``upstream`` is True when Slack (or the bot's Slack app settings) is at fault."""

    def __init__(self, reason: str, *, upstream: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.upstream = upstream


def authorize_endpoint(slack_api_url: str) -> str:
    """``https://slack.com/api/`` -> ``https://slack.com/openid/connect/authorize``."""
    base = slack_api_url.removesuffix("api/") if slack_api_url.endswith("/api/") else slack_api_url
    return base.rstrip("/") + "/openid/connect/authorize"


class SlackSignIn:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        slack_api_url: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # No bot token: the token call authenticates with the client credentials, userInfo with the
        # user's own token. Only connection errors are retried: a code is single-use.
        self._client = AsyncWebClient(
            base_url=slack_api_url,
            session=session,
            retry_handlers=[AsyncConnectionErrorRetryHandler(max_retry_count=1, interval_calculator=Backoff())],
        )
        self._authorize = authorize_endpoint(slack_api_url)
        self._client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self._clock = clock

    def authorize_url(self, *, state: str, nonce: str, team: str | None = None) -> str:
        """Where to send the browser. ``team`` preselects the workspace for people signed in to several."""
        query = {
            "response_type": "code",
            "scope": SCOPE,
            "client_id": self._client_id,
            "state": state,
            "nonce": nonce,
            "redirect_uri": self.redirect_uri,
        }
        if team:
            query["team"] = team
        return f"{self._authorize}?{urlencode(query)}"

    async def identify(self, code: str, nonce: str) -> SlackIdentity:
        """The Slack user behind ``code``; raises ``SignInError``."""
        try:
            # Client credentials go as form fields, which Slack accepts like HTTP Basic: slack_sdk's
            # openid_connect_token() builds aiohttp.BasicAuth, deprecated since aiohttp 3.14.
            tokens = await self._client.api_call(
                "openid.connect.token",
                data={
                    "client_id": self._client_id,
                    "client_secret": self._client_secret,
                    "code": code,
                    "redirect_uri": self.redirect_uri,
                },
            )
            claims = self._id_token_claims(tokens.get("id_token"), nonce)
            access_token = tokens.get("access_token")
            if not isinstance(access_token, str) or not access_token:
                raise SignInError("no_access_token", upstream=True)
            info = await self._client.openid_connect_userInfo(token=access_token)
        except SlackApiError as exc:
            error = slack_error(exc)
            log.warning("signin.refused error=%s", error)
            raise SignInError(error, upstream=error not in _USER_ERRORS) from None
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("signin.unavailable error=%s", type(exc).__name__)
            raise SignInError(type(exc).__name__, upstream=True) from None
        team_id, user_id = info.get(TEAM_CLAIM), info.get(USER_CLAIM)
        if not isinstance(team_id, str) or not isinstance(user_id, str) or not team_id or not user_id:
            raise SignInError("userinfo_without_ids", upstream=True)
        if (claims.get(TEAM_CLAIM), claims.get(USER_CLAIM)) != (team_id, user_id):
            raise SignInError("id_token_userinfo_disagree")
        team_name = info.get(TEAM_NAME_CLAIM)
        return SlackIdentity(team_id, user_id, team_name if isinstance(team_name, str) and team_name else None)

    def _id_token_claims(self, id_token: object, nonce: str) -> dict[str, Any]:
        if not isinstance(id_token, str):
            raise SignInError("no_id_token", upstream=True)
        claims = _jwt_payload(id_token)
        # Bytes: compare_digest raises TypeError on a str that is not ASCII.
        found = claims.get("nonce")
        if not isinstance(found, str) or not hmac.compare_digest(found.encode(), nonce.encode()):
            raise SignInError("nonce_mismatch")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self._client_id not in audiences:
            raise SignInError("wrong_audience")
        expires = claims.get("exp")
        if not isinstance(expires, int | float) or expires + CLOCK_SKEW < self._clock():
            raise SignInError("id_token_expired")
        return claims


def _jwt_payload(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        raise SignInError("malformed_id_token", upstream=True)
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        raise SignInError("malformed_id_token", upstream=True) from None
    if not isinstance(claims, dict):
        raise SignInError("malformed_id_token", upstream=True)
    return claims
