"""Fixtures: the fakes with two people and two channels, and the bots a test starts (closed after it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.databases import ENGINES, database_for
from tests.fakes.arcade import FakeArcade
from tests.fakes.calendar import FakeCalendar
from tests.fakes.github import FakeGitHub
from tests.fakes.gmail import FakeGmail
from tests.fakes.ingress import Ingress
from tests.fakes.slack import FakeSlack
from tests.world import ALICE, BOB, CHANNEL, NO_BOT_CHANNEL, TEAM, World


@pytest.fixture(params=ENGINES)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A DATABASE_URL of its own for each test, once per engine (SQLite file; PostgreSQL database)."""
    async with database_for(request.param, tmp_path) as url:
        yield url


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with (
        FakeSlack() as slack,
        FakeArcade() as arcade,
        FakeGmail(token_owner=arcade.owner_of) as gmail,
        FakeCalendar(arcade.grant_of) as calendar,
        FakeGitHub(arcade.grant_of) as github,
        Ingress() as ingress,
    ):
        for user in (ALICE, BOB):
            slack.add_user(user, team_id=TEAM, email=f"{user.lower()}@example.com")
        slack.add_channel(CHANNEL, members=[ALICE, BOB, slack.bot_user_id])
        slack.add_channel(NO_BOT_CHANNEL, members=[ALICE, BOB])
        w = World(slack, arcade, gmail, ingress, tmp_path / "bot.db", calendar, github)
        try:
            yield w
        finally:
            for bot in w.bots:
                if not bot.task.done():
                    await bot.close()
