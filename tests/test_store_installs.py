"""The installations and install states on both engines (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from bot.models import PendingFlow, SlackUser
from bot.store import Store

APP, TEAM, OTHER = "1000.2000", "T0000000001", "T0000000002"


async def test_an_installation_is_saved_replaced_and_forgotten_with_its_pending_flows(database_url: str) -> None:
    async with Store.open(database_url) as store:
        installs = store.installs(APP)
        assert await installs.find(TEAM) is None
        await installs.save("", TEAM, "xoxb-1", '{"team_id": "T0000000001"}')
        await installs.save("E0000000001", OTHER, "xoxb-2", "{}")
        await installs.save("", TEAM, "xoxb-3", '{"reinstalled": true}')  # a re-install replaces
        found = await installs.find(TEAM)
        assert found is not None
        assert (found.bot_token, found.data) == ("xoxb-3", '{"reinstalled": true}')
        assert await store.installs("another-app").find(TEAM) is None

        user, neighbour = SlackUser(TEAM, "U0000000001"), SlackUser(OTHER, "U0000000001")
        for who in (user, neighbour):
            await store.put_pending(
                PendingFlow(who, f"ac_{who.team_id}", "u", "{}", 1.0, 2.0), owner="r", lease_seconds=9
            )
        assert await installs.forget(TEAM) == (1, 1)
        assert await installs.find(TEAM) is None
        assert [p.user for p in await store.all_pending()] == [neighbour]  # the other workspace is untouched
        assert await installs.find(OTHER) is not None


async def test_one_refresh_at_a_time_and_only_over_the_token_it_replaces(database_url: str) -> None:
    now = [100.0]
    async with Store.open(database_url, clock=lambda: now[0]) as store:
        installs = store.installs(APP)
        await installs.save("", TEAM, "xoxb-old", "{}")
        assert await installs.claim_refresh(TEAM, until=130.0)
        assert not await installs.claim_refresh(TEAM, until=130.0)  # another replica meanwhile
        assert await installs.refreshed(TEAM, "xoxb-old", "xoxb-new", '{"fresh": 1}')
        assert not await installs.refreshed(TEAM, "xoxb-old", "xoxb-other", "{}")  # a late second refresh
        found = await installs.find(TEAM)
        assert found is not None
        assert (found.bot_token, found.refreshing_until) == ("xoxb-new", 0.0)
        assert await installs.claim_refresh(TEAM, until=130.0)
        now[0] = 131.0  # the lease ran out (a replica died while refreshing)
        assert await installs.claim_refresh(TEAM, until=161.0)


@pytest.mark.parametrize("spend_after", [10.0, 700.0])
async def test_an_install_state_is_spent_once_and_only_before_it_expires(database_url: str, spend_after: float) -> None:
    now = [100.0]
    async with Store.open(database_url, clock=lambda: now[0]) as store:
        installs = store.installs(APP)
        await installs.issue_state("s1", expires_at=700.0)
        now[0] += spend_after
        fresh = spend_after < 600
        assert await installs.consume_state("s1") is fresh
        assert not await installs.consume_state("s1")
        assert not await installs.consume_state("forged")
