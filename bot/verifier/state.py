"""Signed, short-lived, single-use tokens for the verifier's OAuth ``state``.

A token is ``<payload>.<mac>``: the payload is base64url JSON of the caller's claims plus ``jti``
(a random id) and ``exp`` (expiry, Unix seconds); the mac is HMAC-SHA256 over the payload with a
key derived from ``VERIFIER_SECRET``. ``open`` checks, in order: shape, signature, expiry, replay.

Replay protection remembers every ``jti`` that was opened until its expiry, **in memory**: a
restart forgets them. That is acceptable because the tokens live ten minutes and what they guard is
single-use on its own: Arcade's ``confirm_user`` accepts a flow once, and Slack's OIDC codes are
single-use too. Several bot processes behind one URL would need a shared table instead.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Literal

DEFAULT_TTL_SECONDS = 600
_KEY_CONTEXT = b"gmail-connect/verifier-state/v1"
_PURGE_EVERY = 60.0  # seconds between sweeps of expired jtis

Reason = Literal["malformed", "bad_signature", "expired", "replayed"]


class StateError(Exception):
    """The token cannot be used; ``reason`` says why (each gets its own page)."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason)
        self.reason: Reason = reason


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class StateSigner:
    def __init__(
        self, secret: str, *, ttl_seconds: float = DEFAULT_TTL_SECONDS, clock: Callable[[], float] = time.time
    ) -> None:
        if not secret:
            raise ValueError("a signing secret is required")
        self._key = hmac.new(secret.encode(), _KEY_CONTEXT, hashlib.sha256).digest()
        self._ttl = ttl_seconds
        self._clock = clock
        self._used: dict[str, float] = {}  # jti -> exp
        self._next_purge = 0.0

    @property
    def ttl_seconds(self) -> float:
        return self._ttl

    def sign(self, claims: Mapping[str, str]) -> str:
        """A token carrying ``claims`` (string values; ``jti`` and ``exp`` are added)."""
        body = {**claims, "jti": secrets.token_urlsafe(16), "exp": int(self._clock() + self._ttl)}
        payload = _b64encode(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
        return f"{payload}.{self._mac(payload)}"

    def open(self, token: str) -> dict[str, str]:
        """The claims of a valid, unexpired token seen for the first time; else ``StateError``.

        Opening consumes the token: a second ``open`` of the same token raises ``replayed``.
        """
        payload, dot, mac = token.partition(".")
        if not dot or not payload or not mac or len(token) > 4096 or not token.isascii():
            raise StateError("malformed")
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise StateError("bad_signature")
        try:
            body = json.loads(_b64decode(payload))
        except (ValueError, binascii.Error):  # cannot happen for tokens we signed; kept for safety
            raise StateError("malformed") from None
        if not isinstance(body, dict) or not isinstance(body.get("jti"), str) or not isinstance(body.get("exp"), int):
            raise StateError("malformed")
        now = self._clock()
        if body["exp"] <= now:
            raise StateError("expired")
        self._purge(now)
        if body["jti"] in self._used:
            raise StateError("replayed")
        self._used[body["jti"]] = body["exp"]
        return {k: v for k, v in body.items() if isinstance(v, str) and k != "jti"}

    def _mac(self, payload: str) -> str:
        return _b64encode(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest())

    def _purge(self, now: float) -> None:
        if now < self._next_purge:
            return
        self._used = {jti: exp for jti, exp in self._used.items() if exp > now}
        self._next_purge = now + _PURGE_EVERY


def fingerprint(value: str) -> str:
    """A one-way digest of a browser secret, to put in a token without revealing the secret."""
    return _b64encode(hashlib.sha256(value.encode()).digest())
