"""``Arcade.confirm_user`` and the identity strategy, against the fake Arcade's verifier stage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bot.arcade import Arcade
from bot.config import GMAIL_SCOPE
from bot.errors import ArcadeRejected, UserMismatch, VerificationClosed
from bot.models import Authorized, NeedsConsent, SlackUser
from tests.fakes.arcade import FakeArcade
from tests.fakes.arcade_verify import BAD_REQUEST, USER_MISMATCH

ALICE = SlackUser("T0000000001", "U0ALICE0001")
BOB = SlackUser("T0000000001", "U0BOB000002")
VERIFIER = "https://bot.example.com/arcade/verify"


@pytest.fixture
async def fake() -> AsyncIterator[FakeArcade]:
    async with FakeArcade() as arcade:
        arcade.verifier_url = VERIFIER
        yield arcade


@pytest.fixture
async def arcade(fake: FakeArcade) -> AsyncIterator[Arcade]:
    async with Arcade.open(api_key=fake.api_key, base_url=fake.base_url, scopes=(GMAIL_SCOPE,)) as client:
        yield client


async def consent(url: str, *, email: str | None = None) -> str:
    """The browser consents; returns the flow id Arcade sends to the verifier."""
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{url}&email={email}" if email else url)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(f"{VERIFIER}?")
    assert list(parse_qs(urlsplit(location).query)) == ["flow_id"]  # the only parameter
    return parse_qs(urlsplit(location).query)["flow_id"][0]


async def start(arcade: Arcade, user: SlackUser) -> NeedsConsent:
    result = await arcade.authorize(user)
    assert isinstance(result, NeedsConsent)
    return result


async def test_confirmed_then_next_uri_finalises_once(fake: FakeArcade, arcade: Arcade) -> None:
    pending = await start(arcade, ALICE)
    flow_id = await consent(pending.url, email="alice@example.com")
    assert await arcade.poll(pending.auth_id, 1) == "pending"  # consent alone does not complete it

    confirmed = await arcade.confirm_user(flow_id, ALICE)
    assert confirmed.auth_id == pending.auth_id
    assert confirmed.next_uri == f"{fake.base_url}/_fake/oauth/callback_success?flow_id={flow_id}"
    assert await arcade.poll(pending.auth_id, 1) == "pending"  # nor does confirm_user

    async with httpx.AsyncClient() as http:
        first = await http.get(confirmed.next_uri)
        assert first.status_code == 200
        done = await arcade.poll(pending.auth_id, 1)
        assert isinstance(done, Authorized)
        assert done.email == "alice@example.com"
        second = await http.get(confirmed.next_uri)  # a replayed landing
    assert second.status_code == 400
    assert await arcade.poll(pending.auth_id, 1) == "failed"
    assert fake.connections == {}  # the replay revoked the grant


async def test_a_mismatch_discards_the_consent_and_the_owner_can_start_over(fake: FakeArcade, arcade: Arcade) -> None:
    pending = await start(arcade, ALICE)
    flow_id = await consent(pending.url, email="bob@example.com")
    with pytest.raises(UserMismatch):
        await arcade.confirm_user(flow_id, BOB)
    with pytest.raises(VerificationClosed):  # Bob's consent is gone: nothing to confirm any more
        await arcade.confirm_user(flow_id, ALICE)
    assert fake.connections == {}

    again = await start(arcade, ALICE)
    assert again.auth_id == pending.auth_id  # the same flow, still pending
    confirmed = await arcade.confirm_user(await consent(again.url, email="alice@example.com"), ALICE)
    async with httpx.AsyncClient() as http:
        assert (await http.get(str(confirmed.next_uri))).status_code == 200
    assert fake.connections[(ALICE.arcade_id, "google")].email == "alice@example.com"


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, USER_MISMATCH, UserMismatch),
        (200, USER_MISMATCH, UserMismatch),
        (400, BAD_REQUEST, VerificationClosed),
        (404, None, VerificationClosed),
        (401, None, ArcadeRejected),
    ],
)
async def test_answers_become_our_errors(
    fake: FakeArcade, arcade: Arcade, status: int, body: dict[str, object] | None, error: type[Exception]
) -> None:
    fake.fail_next("confirm_user", status, body=body)
    with pytest.raises(error):
        await arcade.confirm_user("any-flow", ALICE)


async def test_unknown_flows_and_a_second_confirmation_are_closed(fake: FakeArcade, arcade: Arcade) -> None:
    with pytest.raises(VerificationClosed):
        await arcade.confirm_user("no-such-flow", ALICE)
    flow_id = await consent((await start(arcade, ALICE)).url)
    await arcade.confirm_user(flow_id, ALICE)
    with pytest.raises(VerificationClosed):
        await arcade.confirm_user(flow_id, ALICE)
    assert [c.outcome for c in fake.verification.confirmations] == ["not_found", "confirmed", "bad_request"]


async def test_the_coordinator_path_answers_the_same(fake: FakeArcade, arcade: Arcade) -> None:
    flow_id = await consent((await start(arcade, ALICE)).url)
    url = f"{fake.base_url}/api/v1/oauth/confirm_user"
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {fake.api_key}"}) as http:
        mismatch = await http.post(url, json={"flow_id": flow_id, "user_id": BOB.arcade_id})
        unauthorized = await http.post(url, json={"flow_id": flow_id}, headers={"Authorization": "Bearer nope"})
    assert (mismatch.status_code, mismatch.json()) == (400, USER_MISMATCH)
    assert unauthorized.status_code == 401


async def test_the_identity_strategy_names_the_arcade_user(fake: FakeArcade) -> None:
    seen: list[SlackUser] = []

    async def by_email(user: SlackUser) -> str:
        seen.append(user)
        return f"{user.user_id.lower()}@example.com"

    async with Arcade.open(
        api_key=fake.api_key, base_url=fake.base_url, scopes=(GMAIL_SCOPE,), identity=by_email
    ) as arcade:
        pending = await start(arcade, ALICE)
        [flow] = fake.pending_for("u0alice0001@example.com")
        assert flow.auth_id == pending.auth_id
        with pytest.raises(UserMismatch):  # confirm_user goes through the same strategy
            await arcade.confirm_user(await consent(pending.url), BOB)
        assert await arcade.connections(ALICE) == []
    assert seen == [ALICE, BOB, ALICE]


async def test_a_status_400_for_an_unknown_authorization_is_a_failure_not_an_error() -> None:
    """auth.status's spec declares 400 (not 404) for an id Arcade does not know: the wait ends as failed."""
    async with (
        FakeArcade() as fake,
        Arcade.open(api_key=fake.api_key, base_url=fake.base_url, scopes=(GMAIL_SCOPE,)) as arcade,
    ):
        assert await arcade.poll("ac_never_issued", 1) == "failed"
    assert [c.path for c in fake.calls if c.path == "/v1/auth/status"] == ["/v1/auth/status"]  # not retried
