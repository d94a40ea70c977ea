"""Signed, expiring tokens for the verifier, on itsdangerous' timed serializer.

A ``Signer`` serves one purpose (its itsdangerous salt), so a token made for one purpose (the OAuth
``state``, the start link, the start cookie) never opens as another. ``open`` checks the signature,
then the age, and returns the claims; it does not consume anything. Single use is the caller's
second step, ``spend``: the token's random ``jti`` goes into the store's ``used_tokens`` table until
the token would have expired anyway, so a replay is refused after a restart and by a second process.
The verifier spends a state only after it checked the browser's cookie, so a bare request cannot
fill the table.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from itsdangerous import BadData, BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

DEFAULT_TTL_SECONDS = 600
MAX_TOKEN = 4096  # characters; ours are a few hundred

Reason = Literal["malformed", "bad_signature", "expired", "replayed"]
Spend = Callable[[str, float], Awaitable[bool]]  # Store.spend_token


class StateError(Exception):
    """The token cannot be used; ``reason`` says why (each gets its own page)."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason)
        self.reason: Reason = reason


@dataclass(frozen=True, slots=True)
class Opened:
    """A token's claims, its single-use id and when it expires (Unix seconds)."""

    claims: dict[str, str]
    token_id: str
    expires_at: float


class Signer:
    def __init__(
        self,
        secret: str,
        *,
        purpose: str,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret:
            raise ValueError("a signing secret is required")

        class _Clocked(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock())

        self._serializer = URLSafeTimedSerializer(
            secret,
            salt=f"gmail-connect/verifier/{purpose}/v2",
            signer=_Clocked,
            signer_kwargs={"digest_method": hashlib.sha256},
        )
        self._ttl = ttl_seconds

    @property
    def ttl_seconds(self) -> float:
        return self._ttl

    def sign(self, claims: Mapping[str, str]) -> str:
        """A token carrying ``claims`` (string values) and a random ``jti``."""
        return str(self._serializer.dumps({**claims, "jti": secrets.token_urlsafe(16)}))

    def open(self, token: str) -> Opened:
        """The claims of a well-signed, unexpired token; else ``StateError``. Consumes nothing."""
        if not token or len(token) > MAX_TOKEN or not token.isascii():
            raise StateError("malformed")
        try:
            body, issued = self._serializer.loads(token, max_age=int(self._ttl), return_timestamp=True)
        except SignatureExpired:
            raise StateError("expired") from None
        except BadSignature:
            raise StateError("bad_signature") from None
        except BadData:  # cannot happen for tokens we signed; kept for safety
            raise StateError("malformed") from None
        if not isinstance(body, dict) or not isinstance(body.get("jti"), str):
            raise StateError("malformed")
        claims = {k: v for k, v in body.items() if isinstance(v, str) and k != "jti"}
        return Opened(claims, body["jti"], issued.timestamp() + self._ttl)


async def spend(opened: Opened, spend_token: Spend) -> None:
    """Use ``opened`` up: ``StateError("replayed")`` if it was spent before (by any process)."""
    if not await spend_token(opened.token_id, opened.expires_at):
        raise StateError("replayed")


def fingerprint(value: str) -> str:
    """A one-way digest of a browser secret, to put in a token without revealing the secret."""
    return hashlib.sha256(value.encode()).hexdigest()
