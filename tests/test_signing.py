"""The verifier's signed tokens (itsdangerous): short-lived, purpose-bound, single use through the store."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.store import Store
from bot.verifier.state import Signer, StateError, fingerprint, spend

SECRET = "s" * 32


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def reason(signer: Signer, token: str) -> str:
    with pytest.raises(StateError) as info:
        signer.open(token)
    return info.value.reason


def state(clock: Clock | None = None, ttl: float = 600) -> Signer:
    return Signer(SECRET, purpose="state", ttl_seconds=ttl, clock=clock or Clock())


def test_round_trip_returns_the_claims() -> None:
    signer = state()
    token = signer.sign({"flow": "f-1", "nonce": "n-1"})
    assert signer.open(token).claims == {"flow": "f-1", "nonce": "n-1"}


def test_every_token_is_different_even_for_the_same_claims() -> None:
    signer = state()
    assert signer.sign({"flow": "f"}) != signer.sign({"flow": "f"})


def test_a_token_expires_after_its_ttl() -> None:
    clock = Clock()
    signer = state(clock)
    token = signer.sign({"flow": "f"})
    assert signer.open(token).expires_at == clock.now + 600
    clock.now += 599
    fresh = signer.sign({"flow": "g"})
    assert signer.open(fresh).claims["flow"] == "g"
    assert signer.open(token).claims["flow"] == "f"
    clock.now += 2
    assert reason(signer, token) == "expired"


async def test_a_token_is_spent_once_even_across_a_restart(tmp_path: Path) -> None:
    signer = state(Clock(time.time()))
    token = signer.sign({"flow": "f"})
    async with Store.open(tmp_path / "bot.db") as store:
        await spend(signer.open(token), store.spend_token)
        with pytest.raises(StateError) as info:
            await spend(signer.open(token), store.spend_token)
        assert info.value.reason == "replayed"
    async with Store.open(tmp_path / "bot.db") as reopened:  # a restart, or a second process
        with pytest.raises(StateError):
            await spend(signer.open(token), reopened.spend_token)


def test_a_token_for_one_purpose_does_not_open_as_another() -> None:
    token = state().sign({"flow": "f"})
    assert reason(Signer(SECRET, purpose="start-cookie", clock=Clock()), token) == "bad_signature"


def test_a_tampered_payload_is_refused() -> None:
    signer = state()
    payload, rest = signer.sign({"flow": "mine"}).split(".", 1)
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["flow"] = "someone-elses"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert reason(signer, f"{forged}.{rest}") == "bad_signature"


def test_a_tampered_mac_or_another_secret_is_refused() -> None:
    signer = state()
    token = signer.sign({"flow": "f"})
    flipped = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert reason(signer, flipped) == "bad_signature"
    other = Signer("t" * 32, purpose="state", clock=Clock())
    assert reason(other, token) == "bad_signature"


@pytest.mark.parametrize("token", ["", ".", "abc", "abc.", ".abc", "a.b.c" * 2000, "é.é"])
def test_malformed_tokens_are_refused(token: str) -> None:
    assert reason(state(), token) in ("malformed", "bad_signature")


@given(st.text(max_size=300))
def test_arbitrary_text_never_opens_and_never_crashes(token: str) -> None:
    with pytest.raises(StateError):
        state().open(token)


def test_an_empty_secret_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="secret"):
        Signer("", purpose="state")


def test_fingerprint_is_stable_and_one_way() -> None:
    assert fingerprint("cookie-value") == fingerprint("cookie-value")
    assert fingerprint("cookie-value") != fingerprint("cookie-valuf")
    assert "cookie-value" not in fingerprint("cookie-value")
