"""The verifier's state tokens: signed, short-lived, single use."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.verifier.state import StateError, StateSigner, fingerprint

SECRET = "s" * 32


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def reason(signer: StateSigner, token: str) -> str:
    with pytest.raises(StateError) as info:
        signer.open(token)
    return info.value.reason


def test_round_trip_returns_the_claims() -> None:
    signer = StateSigner(SECRET)
    token = signer.sign({"flow": "f-1", "nonce": "n-1"})
    assert signer.open(token) == {"flow": "f-1", "nonce": "n-1"}


def test_every_token_is_different_even_for_the_same_claims() -> None:
    signer = StateSigner(SECRET)
    assert signer.sign({"flow": "f"}) != signer.sign({"flow": "f"})


def test_a_token_expires_after_its_ttl() -> None:
    clock = Clock()
    signer = StateSigner(SECRET, ttl_seconds=600, clock=clock)
    token = signer.sign({"flow": "f"})
    clock.now += 599
    fresh = signer.sign({"flow": "g"})
    assert signer.open(fresh)["flow"] == "g"
    clock.now += 1
    assert reason(signer, token) == "expired"


def test_a_token_opens_once() -> None:
    signer = StateSigner(SECRET)
    token = signer.sign({"flow": "f"})
    signer.open(token)
    assert reason(signer, token) == "replayed"
    assert reason(signer, token) == "replayed"


def test_replay_memory_forgets_only_expired_tokens() -> None:
    clock = Clock()
    signer = StateSigner(SECRET, ttl_seconds=60, clock=clock)
    token = signer.sign({"flow": "f"})
    signer.open(token)
    clock.now += 59
    assert reason(signer, token) == "replayed"
    clock.now += 120  # past expiry, and past a purge: still refused, as expired
    assert reason(signer, token) == "expired"


def test_a_tampered_payload_is_refused() -> None:
    signer = StateSigner(SECRET)
    payload, mac = signer.sign({"flow": "mine"}).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["flow"] = "someone-elses"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert reason(signer, f"{forged}.{mac}") == "bad_signature"


def test_a_tampered_mac_or_another_secret_is_refused() -> None:
    signer = StateSigner(SECRET)
    token = signer.sign({"flow": "f"})
    flipped = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert reason(signer, flipped) == "bad_signature"
    assert reason(StateSigner("t" * 32), signer.sign({"flow": "f"})) == "bad_signature"


@pytest.mark.parametrize("token", ["", ".", "abc", "abc.", ".abc", "a.b.c" * 2000, "é.é"])
def test_malformed_tokens_are_refused(token: str) -> None:
    assert reason(StateSigner(SECRET), token) in ("malformed", "bad_signature")


@given(st.text(max_size=300))
def test_arbitrary_text_never_opens_and_never_crashes(token: str) -> None:
    with pytest.raises(StateError):
        StateSigner(SECRET).open(token)


def test_an_empty_secret_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="secret"):
        StateSigner("")


def test_fingerprint_is_stable_and_one_way() -> None:
    assert fingerprint("cookie-value") == fingerprint("cookie-value")
    assert fingerprint("cookie-value") != fingerprint("cookie-valuf")
    assert "cookie-value" not in fingerprint("cookie-value")
