"""The Calendar and GitHub adapters against their fakes: what is asked for, the cap and its note, the
calendar's own "today and tomorrow", and each fault switch mapped onto the bot's errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.errors import BotError, RateLimited, ServiceUnavailable, TokenRefused
from bot.providers import calendar as calendar_provider
from bot.providers import github as github_provider
from bot.providers.calendar import SCOPE as CALENDAR_SCOPE
from bot.providers.calendar_api import Agenda, Calendar, endpoint
from bot.providers.github_api import GitHub, PullRequests
from tests.fakes.arcade import FakeArcade
from tests.fakes.calendar import FakeCalendar
from tests.fakes.github import FakeGitHub
from tests.world import text_of

USER = "slack:T1:U1"
NOW = datetime(2026, 5, 14, 20, 0, tzinfo=UTC)  # 05:00 on the 15th in Tokyo, 13:00 on the 14th in Los Angeles


@pytest.fixture
async def arcade() -> AsyncIterator[FakeArcade]:
    async with FakeArcade() as fake:
        yield fake


def token(arcade: FakeArcade, provider: str = "google", scopes: tuple[str, ...] = (CALENDAR_SCOPE,)) -> str:
    return arcade._mint(arcade.connect(USER, scopes, provider_id=provider))


async def agenda_of(fake: FakeCalendar, bearer: str, limit: int = 10) -> Agenda:
    calendar = Calendar(fake.base_url)
    try:
        return await calendar.upcoming(bearer, now=NOW, limit=limit)
    finally:
        calendar.close()


def test_the_calendar_url_is_the_apis_root_or_already_its_path() -> None:
    assert endpoint("https://www.googleapis.com/") == "https://www.googleapis.com/calendar/v3/"
    assert endpoint("http://127.0.0.1:9") == "http://127.0.0.1:9/calendar/v3/"
    assert endpoint("http://127.0.0.1:9/calendar/v3") == "http://127.0.0.1:9/calendar/v3/"


@pytest.mark.parametrize(("zone", "tomorrow_night_listed"), [("Asia/Tokyo", True), ("America/Los_Angeles", False)])
async def test_today_and_tomorrow_are_the_calendars_own(
    arcade: FakeArcade, zone: str, tomorrow_night_listed: bool
) -> None:
    async with FakeCalendar(arcade.grant_of) as fake:
        fake.time_zones[USER] = zone
        fake.add_event(USER, "Started an hour ago", NOW - timedelta(hours=1), NOW + timedelta(hours=1))
        fake.add_event(USER, "Ended already", NOW - timedelta(hours=2), NOW - timedelta(hours=1))
        fake.add_event(USER, "All day today", NOW.astimezone(fake._zone(USER)).date())
        fake.add_event(USER, "The 16th, 12:00 UTC", datetime(2026, 5, 16, 12, 0, tzinfo=UTC))
        agenda = await agenda_of(fake, token(arcade))
    names = [e.summary for e in agenda.events]
    assert names[:2] == ["Started an hour ago", "All day today"] or set(names[:2]) == {
        "Started an hour ago",
        "All day today",
    }
    assert "Ended already" not in names
    assert ("The 16th, 12:00 UTC" in names) is tomorrow_night_listed
    assert agenda.time_zone == zone
    shown = text_of(calendar_provider.show(agenda).as_payload())
    assert "All day" in shown
    assert "<!date^" in shown


async def test_a_cap_with_a_note_when_more_exist_across_pages(arcade: FakeArcade) -> None:
    async with FakeCalendar(arcade.grant_of) as fake:
        for hour in range(1, 13):
            fake.add_event(USER, f"Meeting {hour}", NOW + timedelta(hours=hour))
        agenda = await agenda_of(fake, token(arcade), limit=10)
        [call] = fake.calls  # 11 asked for, 11 on one page
        assert call.query["maxResults"] == "11"
        few = await agenda_of(fake, token(arcade), limit=20)
    assert [e.summary for e in agenda.events] == [f"Meeting {h}" for h in range(1, 11)]
    assert agenda.more
    assert "More events than these 10" in text_of(calendar_provider.show(agenda).as_payload())
    assert len(few.events) == 12
    assert not few.more
    assert "More events" not in text_of(calendar_provider.show(few).as_payload())


async def test_an_empty_calendar_says_so(arcade: FakeArcade) -> None:
    async with FakeCalendar(arcade.grant_of) as fake:
        agenda = await agenda_of(fake, token(arcade))
    assert agenda.events == []
    assert "Nothing on your calendar" in text_of(calendar_provider.show(agenda).as_payload())


@pytest.mark.parametrize(
    ("status", "reason", "times", "raised"),
    [
        (401, "authError", 1, TokenRefused),
        (403, "insufficientPermissions", 1, TokenRefused),
        (403, "userRateLimitExceeded", 3, RateLimited),
        (429, "tooManyRequests", 3, RateLimited),
        (503, "backendError", 3, ServiceUnavailable),
    ],
)
async def test_calendar_faults(
    arcade: FakeArcade, status: int, reason: str, times: int, raised: type[BotError]
) -> None:
    async with FakeCalendar(arcade.grant_of) as fake:
        fake.fail_next(status, times=times, reason=reason)
        with pytest.raises(raised) as caught:
            await agenda_of(fake, token(arcade))
    assert "Google Calendar" in caught.value.user_message


async def test_calendar_recovers_from_one_server_error_and_refuses_a_gmail_only_token(arcade: FakeArcade) -> None:
    async with FakeCalendar(arcade.grant_of) as fake:
        fake.add_event(USER, "Standup", NOW + timedelta(hours=1))
        fake.fail_next(500)
        assert [e.summary for e in (await agenda_of(fake, token(arcade))).events] == ["Standup"]
        arcade.connections.clear()
        gmail_only = token(arcade, scopes=("https://www.googleapis.com/auth/gmail.readonly",))
        with pytest.raises(TokenRefused):
            await agenda_of(fake, gmail_only)


async def pulls_of(fake: FakeGitHub, bearer: str, limit: int = 10) -> PullRequests:
    async with GitHub.open(fake.base_url) as github:
        return await github.pull_requests(bearer, limit=limit)


async def test_pull_requests_awaiting_review_and_ones_own(arcade: FakeArcade) -> None:
    async with FakeGitHub(arcade.grant_of) as fake:
        fake.logins[USER] = "octocat"
        for n in range(12):
            fake.add_pull("acme/api", f"Review me {n}", "hubot", reviewers={"octocat"}, updated_at=1000.0 + n)
        fake.add_pull("acme/web", "Mine", "octocat")
        fake.add_pull("acme/web", "Mine, closed", "octocat", state="closed")
        found = await pulls_of(fake, token(arcade, "github", ("read:user",)))
        assert {c.query["q"] for c in fake.calls if c.path == "/search/issues"} == {
            "is:pr is:open review-requested:@me",
            "is:pr is:open author:@me",
        }
        assert all(c.login == "octocat" for c in fake.calls)
    assert found.account == "@octocat"
    assert (found.to_review.total, len(found.to_review.pulls)) == (12, 10)
    assert found.to_review.pulls[0].title == "Review me 11"  # most recently updated first
    assert [p.title for p in found.mine.pulls] == ["Mine"]
    shown = text_of(github_provider.show(found).as_payload())
    assert "…and 2 more on GitHub" in shown
    assert "acme/web#1" in shown


@pytest.mark.parametrize(
    ("status", "times", "raised"),
    [(401, 3, TokenRefused), (403, 3, RateLimited), (429, 3, RateLimited), (502, 9, ServiceUnavailable)],
)
async def test_github_faults(arcade: FakeArcade, status: int, times: int, raised: type[BotError]) -> None:
    async with FakeGitHub(arcade.grant_of) as fake:
        fake.fail_next(status, times=times)
        with pytest.raises(raised) as caught:
            await pulls_of(fake, token(arcade, "github", ("read:user",)))
    assert "GitHub" in caught.value.user_message


async def test_github_recovers_from_a_server_error_and_refuses_a_google_token(arcade: FakeArcade) -> None:
    async with FakeGitHub(arcade.grant_of) as fake:
        fake.fail_next(502)
        found = await pulls_of(fake, token(arcade, "github", ("read:user",)))
        assert found.login is not None
        with pytest.raises(TokenRefused):
            await pulls_of(fake, token(arcade))  # a Google token is not a GitHub one
