"""Arcade misbehaving: 5xx, 429 with Retry-After, timeouts, dropped connections, 408 long-polls.

``authorize`` is retried by arcadepy; the long-poll wait (``AuthFlows.wait``) carries on with
jittered, capped backoff until the user's deadline. A user whose ``/connect-gmail`` meets an
outage is told so.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot import authflow
from bot.arcade import Arcade
from bot.arcade_client import new_client
from bot.arcade_http import ArcadeHTTP
from bot.authflow import AuthFlows
from bot.config import GMAIL_SCOPE
from bot.errors import ArcadeRejected, ArcadeUnavailable
from bot.models import Authorized, NeedsConsent, PendingFlow, SlackUser
from bot.retry import backoff_delay
from bot.store import Store
from tests.fakes.arcade import FakeArcade
from tests.support import label_lists, prompts
from tests.world import ALICE, CHANNEL, TEAM, World, arcade_user, text_of

USER = SlackUser(TEAM, ALICE)


@asynccontextmanager
async def arcade_client(fake: FakeArcade, *, limit: float = 5.0, retries: int = 2) -> AsyncIterator[Arcade]:
    """The bot's ``Arcade`` clients with a short timeout (``limit``), so that timeouts come quickly."""
    tls = httpx.create_ssl_context()
    client = functools.partial(new_client, api_key=fake.api_key, base_url=fake.base_url, tls=tls)
    api = client(max_retries=retries, timeout=httpx.Timeout(limit), connections=100)
    http = functools.partial(ArcadeHTTP, api_key=fake.api_key, base_url=fake.base_url, tls=tls, connections=100)
    hot = http(read_timeout=limit, retries=retries)
    poller = http(read_timeout=limit)
    async with api, hot, poller:
        yield Arcade(api, hot, poller, (GMAIL_SCOPE,))


async def _no_callback(*_: Any) -> None:
    raise AssertionError("wait() alone never finishes a flow")


async def _flow(arcade: Arcade, store: Store, seconds: float) -> tuple[AuthFlows, PendingFlow]:
    flows = AuthFlows(arcade, store, timeout_seconds=int(seconds))
    flows.deliver_to(_no_callback)
    consent = await arcade.authorize(USER)
    assert isinstance(consent, NeedsConsent)
    now = time.time()
    return flows, PendingFlow(USER, consent.auth_id, consent.url, "{}", now, now + seconds)


def _status_calls(fake: FakeArcade) -> list[float]:
    return [c.at for c in fake.calls if c.path == "/v1/auth/status"]


# -- authorize ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("faults", "retry_after"), [("503 then drop", 0.0), ("429", 1.0)])
async def test_authorize_rides_out_transient_faults(world: World, faults: str, retry_after: float) -> None:
    if faults == "429":
        world.arcade.fail_next("authorize", 429, times=2, headers={"Retry-After": "1"})
    else:
        world.arcade.fail_next("authorize", 503)
        world.arcade.drop_next("authorize")
    await world.start_bot("http")
    await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM)
    await world.slack.wait_for(lambda: len(prompts(world, ALICE)) == 1, timeout=10)
    calls = [c.at for c in world.arcade.calls if c.path == "/v1/auth/authorize"]
    assert len(calls) == 3
    assert all(b - a >= retry_after * 0.9 for a, b in itertools.pairwise(calls))  # Retry-After honoured


async def test_authorize_timeouts_are_retried_then_reported_as_arcade_unavailable(world: World) -> None:
    world.arcade.set_latency("authorize", 1.0)
    async with arcade_client(world.arcade, limit=0.3, retries=1) as arcade:
        with pytest.raises(ArcadeUnavailable):
            await arcade.authorize(USER)
        assert len([c for c in world.arcade.calls if c.path == "/v1/auth/authorize"]) == 2
        world.arcade.set_latency("authorize", 0.0)
        assert isinstance(await arcade.authorize(USER), NeedsConsent)


@pytest.mark.parametrize(("status", "header", "calls"), [(503, "false", 1), (400, "true", 2), (409, None, 2)])
async def test_authorize_retries_as_arcade_says(world: World, status: int, header: str | None, calls: int) -> None:
    """``x-should-retry`` overrides the status; 409 (a lock timeout) is retried like a 5xx."""
    world.arcade.fail_next("authorize", status, headers={"x-should-retry": header} if header else {})
    async with arcade_client(world.arcade, retries=2) as arcade:
        if calls == 1:
            with pytest.raises(ArcadeUnavailable):
                await arcade.authorize(USER)
        else:
            assert isinstance(await arcade.authorize(USER), NeedsConsent)
    assert len([c for c in world.arcade.calls if c.path == "/v1/auth/authorize"]) == calls


@pytest.mark.parametrize("fault", ["503", "drop"])
async def test_connect_during_an_arcade_outage_says_arcade_is_unreachable(world: World, fault: str) -> None:
    if fault == "drop":
        world.arcade.drop_next("authorize", times=10)
    else:
        world.arcade.fail_next("authorize", int(fault), times=10, headers={"Retry-After": "0"})
    await world.start_bot("http")
    ack = await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM)
    assert ack.status == 200
    assert ack.elapsed < 3

    def told() -> bool:
        return any(
            "Arcade" in text_of(m) and "unreachable" in text_of(m) and "try again" in text_of(m).lower()
            for m in world.slack.private_to(ALICE, TEAM)
        )

    await world.slack.wait_for(told, timeout=15)
    assert all("Traceback" not in text_of(m) for m in world.slack.private_to(ALICE, TEAM))


# -- the long-poll --------------------------------------------------------------------------------


async def test_the_wait_rides_out_5xx_429_drops_and_408_then_delivers(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(authflow, "backoff_delay", functools.partial(backoff_delay, base=0.1))  # only faster
    world.arcade.timeout_mode = "408"
    world.arcade.wait_max = 1  # long-polls of one second: 408s come quickly
    monkeypatch.setattr("bot.arcade.MAX_WAIT", 1)
    world.arcade.fail_next("status", 503, times=2)
    world.arcade.drop_next("status")
    world.arcade.fail_next("status", 429, headers={"Retry-After": "1"})
    world.arcade.fail_next("status", 502)
    await world.start_bot("http")
    await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM)
    await world.slack.wait_for(lambda: len(prompts(world, ALICE)) == 1)
    await world.slack.wait_for(lambda: len(_status_calls(world.arcade)) >= 7, timeout=10)  # faults used, 408s seen
    await world.arcade.approve(arcade_user(ALICE))
    await world.slack.wait_for(lambda: len(label_lists(world, ALICE)) == 1, timeout=10)


async def test_more_long_polls_than_a_default_pool_are_all_open_and_authorize_does_not_queue() -> None:
    """150 waiting users (arcadepy's default pool holds 100): every long-poll reaches Arcade at once,
    and an ``authorize`` meanwhile answers straight away; all 150 polls then see their consent."""
    users = [f"U0POLL{n:04d}" for n in range(150)]
    async with (
        FakeArcade() as fake,
        Arcade.open(api_key=fake.api_key, base_url=fake.base_url, scopes=(GMAIL_SCOPE,)) as arcade,
    ):
        consents = [await arcade.authorize(SlackUser(TEAM, user)) for user in users]
        assert all(isinstance(c, NeedsConsent) for c in consents)
        polls = [asyncio.create_task(arcade.poll(c.auth_id, 30)) for c in consents if isinstance(c, NeedsConsent)]
        for _ in range(1000):  # up to 10 s for all of them to arrive
            if len(_status_calls(fake)) == len(users):
                break
            await asyncio.sleep(0.01)
        assert len(_status_calls(fake)) == len(users)
        started = time.monotonic()
        assert isinstance(await arcade.authorize(USER), NeedsConsent)
        assert time.monotonic() - started < 2.0
        assert not any(poll.done() for poll in polls)  # still holding their connections
        for user in users:
            await fake.approve(arcade_user(user))
        results = await asyncio.wait_for(asyncio.gather(*polls), 10)
        assert all(isinstance(r, Authorized) for r in results)


async def test_a_408_long_poll_counts_as_still_pending(tmp_path: Path) -> None:
    async with FakeArcade(timeout_mode="408") as fake, arcade_client(fake) as arcade:
        consent = await arcade.authorize(USER)
        assert isinstance(consent, NeedsConsent)
        assert await arcade.poll(consent.auth_id, 1) == "pending"
        assert fake.calls[-1].path == "/v1/auth/status"  # a real 408 answered that poll


async def test_a_429_long_poll_honours_retry_after(tmp_path: Path) -> None:
    async with FakeArcade() as fake, arcade_client(fake) as arcade:
        consent = await arcade.authorize(USER)
        assert isinstance(consent, NeedsConsent)
        fake.fail_next("status", 429, headers={"Retry-After": "1"})
        started = time.monotonic()
        with pytest.raises(ArcadeUnavailable):
            await arcade.poll(consent.auth_id, 30)
        assert time.monotonic() - started >= 0.95  # no new poll before Arcade said so


async def test_a_timed_out_long_poll_is_retried_until_the_user_consents(tmp_path: Path) -> None:
    async with FakeArcade() as fake, arcade_client(fake, limit=0.3) as arcade, Store.open(tmp_path / "b.db") as store:
        flows, flow = await _flow(arcade, store, seconds=30)
        fake.set_latency("status", 1.0)  # every long-poll outlives the client's timeout
        waiting = asyncio.create_task(flows.wait(flow))
        await asyncio.sleep(2.0)  # timed-out polls, with backoff between them
        assert len(_status_calls(fake)) >= 2
        assert not waiting.done()
        fake.set_latency("status", 0.0)
        await fake.approve(arcade_user(ALICE))
        outcome = await asyncio.wait_for(waiting, 10)
        assert isinstance(outcome, Authorized)


async def test_an_outage_ends_at_the_deadline_with_spaced_out_polls(tmp_path: Path) -> None:
    async with FakeArcade() as fake, arcade_client(fake) as arcade, Store.open(tmp_path / "b.db") as store:
        flows, flow = await _flow(arcade, store, seconds=3)
        fake.fail_next("status", 503, times=1000)
        started = time.monotonic()
        assert await flows.wait(flow) == "expired"
        took = time.monotonic() - started
        assert 2.0 <= took <= 4.5  # at the deadline: not before, not long after
        polls = _status_calls(fake)
        assert 2 <= len(polls) <= 4  # backoff (~1 s, 2 s, …), not a hammering loop
        gaps = [b - a for a, b in itertools.pairwise(polls)]
        assert all(gap >= 0.45 for gap in gaps)


def test_backoff_grows_is_jittered_and_capped() -> None:
    samples = {attempt: [backoff_delay(attempt) for _ in range(200)] for attempt in range(12)}
    assert all(0.5 <= d <= 1.0 for d in samples[0])
    assert all(2.0 <= d <= 4.0 for d in samples[2])
    assert max(max(v) for v in samples.values()) <= 30.0
    assert min(samples[11]) >= 15.0
    assert all(len(set(v)) > 100 for v in samples.values())  # jittered: no two waiters in lock-step


async def test_arcade_client_timeouts_are_bounded() -> None:
    """The production clients: short calls time out in seconds; long-polls just after their wait."""
    async with Arcade.open(api_key="k", base_url="http://127.0.0.1:9", scopes=(GMAIL_SCOPE,)) as arcade:
        api_timeout = arcade._api.timeout
        poll_timeout = arcade._poller.timeout
    assert isinstance(api_timeout, httpx.Timeout)
    assert api_timeout.read is not None
    assert api_timeout.read <= 30
    assert poll_timeout.sock_read is not None
    assert 59 < poll_timeout.sock_read <= 90
    assert poll_timeout.sock_connect is not None
    assert poll_timeout.sock_connect <= 10


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, ArcadeRejected), (403, ArcadeRejected), (500, ArcadeUnavailable), (502, ArcadeUnavailable)],
)
async def test_a_refused_long_poll_is_an_error_of_ours(status: int, error: type[Exception]) -> None:
    async with FakeArcade() as fake, arcade_client(fake) as arcade:
        consent = await arcade.authorize(USER)
        assert isinstance(consent, NeedsConsent)
        fake.fail_next("status", status, body={"name": "error", "message": "no"})
        with pytest.raises(error):
            await arcade.poll(consent.auth_id, 1)
        assert await arcade.poll(consent.auth_id, 1) == "pending"  # the next poll is answered as usual


async def test_a_long_poll_that_is_dropped_or_reaches_nobody_is_unavailable() -> None:
    async with FakeArcade() as fake, arcade_client(fake) as arcade:
        consent = await arcade.authorize(USER)
        assert isinstance(consent, NeedsConsent)
        fake.drop_next("status", times=2)  # aiohttp itself sends a GET again once
        with pytest.raises(ArcadeUnavailable):
            await arcade.poll(consent.auth_id, 1)
    async with Arcade.open(api_key="k", base_url="http://127.0.0.1:9", scopes=(GMAIL_SCOPE,)) as arcade:
        with pytest.raises(ArcadeUnavailable):
            await arcade.poll("ac_1", 1)
        with pytest.raises(ArcadeUnavailable):
            await arcade.authorize(USER)
