"""End to end for Google Calendar and GitHub, in HTTP mode and in Socket Mode: connect, the first
action, the already-connected shortcut, expiry, a revoked token, disconnect; two providers pending
at once; Gmail then Calendar on one shared Google grant. Assertions are on what the fakes received."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.providers.calendar import SCOPE as CALENDAR_SCOPE
from bot.providers.gmail import SCOPE as GMAIL_SCOPE
from bot.slack.messages import DISCONNECT, OPEN, START, action
from tests.world import ALICE, BOB, CHANNEL, TEAM, World, arcade_user, buttons, text_of

MODES = ["http", "socket"]
ALICE_ID = arcade_user(ALICE)
HEADERS = {
    "calendar": "Your calendar: today and tomorrow",
    "github": "Your pull requests",
    "gmail": "Your Gmail labels",
}


def answers(world: World, provider: str, user: str = ALICE) -> list[dict[str, Any]]:
    """The provider's answers: messages whose header block is the provider's."""
    return [
        m
        for m in world.slack.private_to(user, TEAM)
        if any(b.get("type") == "header" and HEADERS[provider] in str(b.get("text")) for b in m.get("blocks") or [])
    ]


def prompts(world: World, provider: str, user: str = ALICE) -> list[dict[str, Any]]:
    opened = action(provider, OPEN)
    return [m for m in world.slack.private_to(user, TEAM) if any(b["action_id"] == opened for b in buttons(m))]


def replaced(world: World) -> list[dict[str, Any]]:
    return [p for p in world.slack.webhook_posts if p.get("replace_original")]


async def wait_for(world: World, found: Any, timeout: float = 10) -> Any:  # noqa: ASYNC109
    await world.slack.wait_for(lambda: bool(found()), timeout=timeout)
    return found()[-1]


async def connect(world: World, mode: str, text: str, user: str = ALICE) -> None:
    ack = await world.slack.slash_command(
        user, channel_id=CHANNEL, team_id=TEAM, command="/connect", text=text, mode=mode
    )
    assert ack.status == 200


async def approve(world: World, provider: str, user: str = ALICE) -> None:
    if provider == "github":
        world.github.logins[arcade_user(user)] = f"{user.lower()}-gh"
        await world.arcade.approve(arcade_user(user), provider_id="github", info={"login": f"{user.lower()}-gh"})
    else:
        await world.arcade.approve(arcade_user(user), scope=CALENDAR_SCOPE if provider == "calendar" else GMAIL_SCOPE)


async def connected(world: World, mode: str, provider: str) -> None:
    """Alice runs ``/connect <provider>``, is prompted, approves and gets the first action's answer."""
    await connect(world, mode, provider)
    await wait_for(world, lambda: prompts(world, provider))
    await approve(world, provider)
    await wait_for(world, lambda: answers(world, provider))


def grant(world: World, provider: str, user: str = ALICE) -> Any:
    return world.arcade.connections.get((arcade_user(user), "github" if provider == "github" else "google"))


def fill(world: World) -> None:
    """Alice's calendar (Paris) and pull requests; something of Bob's that she must never see."""
    now = datetime.now(UTC)
    world.calendar.time_zones[ALICE_ID] = "Europe/Paris"
    world.calendar.add_event(ALICE_ID, "Design review", now + timedelta(hours=1))
    world.calendar.add_event(ALICE_ID, "Lunch with <Sam> & co", now + timedelta(hours=2))
    world.calendar.add_event(ALICE_ID, "Planning in three days", now + timedelta(days=3))
    world.calendar.add_event(arcade_user(BOB), "Bob's secret", now + timedelta(hours=1))
    world.github.add_pull("acme/api", "Fix the login page", "carol", reviewers={f"{ALICE.lower()}-gh"})
    world.github.add_pull("acme/web", "Alice's own change", f"{ALICE.lower()}-gh", draft=True)
    world.github.add_pull("acme/web", "Not for Alice", "dave", reviewers={"someone"})
    world.github.add_pull("acme/api", "Closed one", "carol", reviewers={f"{ALICE.lower()}-gh"}, state="closed")


def check_answer(provider: str, message: dict[str, Any]) -> None:
    shown = text_of(message)
    if provider == "calendar":
        assert "Design review" in shown
        assert "Lunch with &lt;Sam&gt; &amp; co" in shown  # escaped
        assert "<!date^" in shown  # each reader's own time zone
        assert "Planning in three days" not in shown  # not today or tomorrow
        assert "Bob's secret" not in shown
        assert "Europe/Paris" in shown
    else:
        assert "acme/api#1" in shown
        assert "Fix the login page" in shown
        assert "Alice's own change" in shown
        assert "Not for Alice" not in shown
        assert "Closed one" not in shown
        assert "@u0alice0001-gh" in shown


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", ["calendar", "github"])
async def test_connect_first_action_then_shortcut_and_request_word(world: World, mode: str, provider: str) -> None:
    fill(world)
    await world.start_bot(mode)
    await connect(world, mode, provider)
    prompt = await wait_for(world, lambda: prompts(world, provider))
    title = "Google Calendar" if provider == "calendar" else "GitHub"
    assert [b["text"]["text"] for b in buttons(prompt)] == [f"Authorize {title}"]
    [flow] = world.arcade.pending_for(ALICE_ID)
    asked = [c.body for c in world.arcade.calls if c.path == "/v1/auth/authorize"][-1]
    assert asked is not None
    assert asked["auth_requirement"]["provider_id"] == ("github" if provider == "github" else "google")
    assert asked["auth_requirement"]["oauth2"]["scopes"] == ["read:user" if provider == "github" else CALENDAR_SCOPE]

    await approve(world, provider)
    check_answer(provider, await wait_for(world, lambda: answers(world, provider)))
    await wait_for(world, lambda: [p for p in replaced(world) if f"{title} connected" in text_of(p)])
    assert flow.auth_id not in {f.auth_id for f in world.arcade.pending_for(ALICE_ID)}

    # Connected: the command and the request word answer straight away, with no new flow.
    word = "events" if provider == "calendar" else "prs"
    await connect(world, mode, provider)
    await world.slack.dm(ALICE, word, team_id=TEAM, mode=mode)
    await world.slack.mention(ALICE, CHANNEL, word.rstrip("s"), team_id=TEAM, mode=mode)
    await wait_for(world, lambda: answers(world, provider)[3:])
    assert world.arcade.pending_for(ALICE_ID) == []
    assert len(prompts(world, provider)) == 1
    assert world.slack.public_messages() == []
    for token in world.arcade.tokens:
        assert all(token not in repr(call.args) for call in world.slack.calls)
    if provider == "calendar":
        [first, *_] = world.calendar.calls
        assert first.path == "/calendar/v3/calendars/primary/events"
        assert (first.query["singleEvents"], first.query["orderBy"]) == ("true", "startTime")
        low, high = (datetime.fromisoformat(first.query[k]) for k in ("timeMin", "timeMax"))
        assert high - low == timedelta(hours=48)
    else:
        queries = {c.query.get("q") for c in world.github.calls if c.path == "/search/issues"}
        assert {"is:pr is:open review-requested:@me", "is:pr is:open author:@me"} <= queries


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", ["calendar", "github"])
async def test_expiry_offers_a_new_link_for_that_provider(world: World, mode: str, provider: str) -> None:
    await world.start_bot(mode, AUTH_TIMEOUT_SECONDS="1")
    await connect(world, mode, provider)
    await wait_for(world, lambda: prompts(world, provider))
    expired = await wait_for(world, lambda: [p for p in replaced(world) if "Link expired" in text_of(p)])
    [again] = buttons(expired)
    assert (again["action_id"], again["value"]) == (action(provider, START), provider)
    await world.slack.block_action(ALICE, action_id=again["action_id"], value=provider, team_id=TEAM, mode=mode)
    await wait_for(world, lambda: prompts(world, provider)[1:] or [p for p in replaced(world) if buttons(p)[1:]])
    await approve(world, provider)
    await wait_for(world, lambda: answers(world, provider))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", ["calendar", "github"])
async def test_revoked_token_removes_the_grant_and_offers_a_new_link(world: World, mode: str, provider: str) -> None:
    fill(world)
    await world.start_bot(mode)
    await connected(world, mode, provider)
    dead = grant(world, provider)
    (world.calendar if provider == "calendar" else world.github).revoked.add(dead.id)

    await world.slack.dm(ALICE, "events" if provider == "calendar" else "prs", team_id=TEAM, mode=mode)
    await wait_for(world, lambda: prompts(world, provider)[1:])
    assert grant(world, provider) is None  # the dead grant was deleted at Arcade
    await approve(world, provider)
    await wait_for(world, lambda: answers(world, provider)[1:])  # a new grant, a new token: it works again
    assert grant(world, provider).id != dead.id


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", ["calendar", "github"])
async def test_disconnect_asks_then_removes_that_grant(world: World, mode: str, provider: str) -> None:
    fill(world)
    await world.start_bot(mode)
    await connected(world, mode, provider)

    ack = await world.slack.slash_command(
        ALICE, channel_id=CHANNEL, team_id=TEAM, command="/connect", text=f"disconnect {provider}", mode=mode
    )
    assert ack.json is not None
    title = "Google Calendar" if provider == "calendar" else "GitHub"
    assert f"Disconnect {title}?" in text_of(ack.json)
    assert grant(world, provider) is not None  # nothing removed before the click
    [yes, _] = buttons(ack.json)
    assert yes["action_id"] == action(provider, DISCONNECT)
    await world.slack.block_action(ALICE, action_id=yes["action_id"], value=provider, team_id=TEAM, mode=mode)
    await wait_for(world, lambda: [p for p in replaced(world) if f"{title} disconnected" in text_of(p)])
    assert grant(world, provider) is None

    await world.slack.slash_command(
        ALICE, channel_id=CHANNEL, team_id=TEAM, command="/connect", text="status", mode=mode
    )
    status = await wait_for(
        world, lambda: [m for m in world.slack.private_to(ALICE, TEAM) if "Your connections" in str(m)]
    )
    assert f"{title} is not connected" in text_of(status)


@pytest.mark.parametrize("mode", MODES)
async def test_two_providers_pending_at_once_each_with_its_own_flow(world: World, mode: str) -> None:
    fill(world)
    await world.start_bot(mode)
    await connect(world, mode, "calendar")
    await connect(world, mode, "github")
    await wait_for(world, lambda: prompts(world, "calendar") and prompts(world, "github"))
    assert {f.provider_id for f in world.arcade.pending_for(ALICE_ID)} == {"google", "github"}

    await world.slack.slash_command(
        ALICE, channel_id=CHANNEL, team_id=TEAM, command="/connect", text="status", mode=mode
    )
    status = await wait_for(
        world, lambda: [m for m in world.slack.private_to(ALICE, TEAM) if "Your connections" in str(m)]
    )
    assert text_of(status).count("link is waiting") == 2

    await approve(world, "github")
    await wait_for(world, lambda: answers(world, "github"))
    assert answers(world, "calendar") == []
    assert len(world.arcade.pending_for(ALICE_ID)) == 1  # Calendar's still waits
    await approve(world, "calendar")
    await wait_for(world, lambda: answers(world, "calendar"))
    await world.slack.wait_for(lambda: len([c for c in world.slack.calls if c.method == "chat.postMessage"]) >= 2)
    assert len(answers(world, "github")) == 1  # each delivered once
    assert len(answers(world, "calendar")) == 1


@pytest.mark.parametrize("mode", MODES)
async def test_gmail_then_calendar_share_one_google_grant(world: World, mode: str) -> None:
    fill(world)
    await world.start_bot(mode)
    await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM, mode=mode)  # /connect-gmail
    await wait_for(world, lambda: prompts(world, "gmail"))
    await approve(world, "gmail")
    await wait_for(world, lambda: answers(world, "gmail"))

    await connect(world, mode, "calendar")
    await wait_for(world, lambda: prompts(world, "calendar"))
    asked = [c.body for c in world.arcade.calls if c.path == "/v1/auth/authorize"][-1]
    assert asked is not None
    assert asked["auth_requirement"]["oauth2"]["scopes"] == [CALENDAR_SCOPE]  # only its own scope
    [flow] = world.arcade.pending_for(ALICE_ID)
    assert flow.scopes == {GMAIL_SCOPE, CALENDAR_SCOPE}  # Arcade's incremental scopes keep Gmail's
    await approve(world, "calendar")
    await wait_for(world, lambda: answers(world, "calendar"))

    # Gmail still works on the widened grant, without asking again.
    await world.slack.dm(ALICE, "labels", team_id=TEAM, mode=mode)
    await wait_for(world, lambda: answers(world, "gmail")[1:])
    assert len(prompts(world, "gmail")) == 1
    assert grant(world, "gmail").scopes == {GMAIL_SCOPE, CALENDAR_SCOPE}

    # Disconnecting Calendar says plainly that the grant is shared, and Gmail goes too.
    ack = await world.slack.slash_command(
        ALICE, channel_id=CHANNEL, team_id=TEAM, command="/connect", text="disconnect calendar", mode=mode
    )
    assert ack.json is not None
    assert "shares one Google account grant with Gmail" in text_of(ack.json)
    await world.slack.block_action(
        ALICE, action_id=action("calendar", DISCONNECT), value="calendar", team_id=TEAM, mode=mode
    )
    done = await wait_for(world, lambda: [p for p in replaced(world) if "Google Calendar disconnected" in text_of(p)])
    assert "Gmail used the same Google account grant, so it is disconnected too" in text_of(done)
    assert grant(world, "gmail") is None
