"""End to end: help, status, disconnect, the prompt's life in place, App Home, unread counts, audit."""

from __future__ import annotations

from typing import Any

from bot.config import GMAIL_SCOPE
from bot.slack.messages import CANCEL_ACTION, DISCONNECT_ACTION, OPEN_AUTH_ACTION, START, START_ACTION, action
from tests.test_e2e_connect import wait_for_labels, wait_for_prompt
from tests.world import ALICE, BOB, CHANNEL, TEAM, World, arcade_user, buttons, text_of


def replacements(world: World, url: str | None = None) -> list[dict[str, Any]]:
    return [p for p in world.slack.webhook_posts if p.get("replace_original") and (url is None or p["url"] == url)]


def connect(world: World, user: str = ALICE, email: str | None = None) -> None:
    world.arcade.connect(arcade_user(user), [GMAIL_SCOPE], email=email or f"{user.lower()}@example.com")


async def wait_for_text(world: World, user: str, needle: str, timeout: float = 5) -> dict[str, Any]:  # noqa: ASYNC109
    def found() -> list[dict[str, Any]]:
        return [m for m in world.slack.private_to(user, TEAM) if needle in text_of(m)]

    await world.slack.wait_for(lambda: bool(found()), timeout=timeout)
    return found()[-1]


async def test_help_says_what_is_read_and_how_to_disconnect(world: World) -> None:
    await world.start_bot("http")
    ack = await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM, text="help")
    assert ack.json is not None
    shown = text_of(ack.json)
    assert "read-only" in shown
    assert "/connect-gmail disconnect" in shown
    assert "/connect-gmail status" in shown
    assert world.arcade.calls == []


async def test_status_not_connected_then_pending_then_connected(world: World) -> None:
    await world.start_bot("http")
    await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM, text="status")
    await wait_for_text(world, ALICE, "not connected")

    await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM)
    await wait_for_prompt(world)
    await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM, text="status")
    pending = await wait_for_text(world, ALICE, "link is waiting")
    assert "not connected" in text_of(pending)

    await world.arcade.approve(arcade_user(ALICE), email="alice.work@example.com")
    await wait_for_labels(world)
    await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM, text="status")
    status = await wait_for_text(world, ALICE, "is connected")
    shown = text_of(status)
    assert "alice.work@example.com" in shown
    assert "read-only" in shown  # the scope, in plain words
    assert "Connected since <!date^" in shown
    assert "link is waiting" not in shown


async def test_disconnect_asks_first_then_removes_only_this_users_grant(world: World) -> None:
    connect(world, ALICE)
    connect(world, BOB)
    world.arcade.ignore_connection_filters = True  # an API version that lists everyone's connections
    await world.start_bot("http")

    ack = await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM, text="disconnect")
    assert ack.json is not None
    assert "Disconnect Gmail?" in text_of(ack.json)
    assert world.arcade.connections.get((arcade_user(ALICE), "google")) is not None  # nothing removed yet

    click = await world.slack.block_action(ALICE, action_id=DISCONNECT_ACTION, channel_id=CHANNEL, team_id=TEAM)
    assert click.status == 200
    await world.slack.wait_for(lambda: any("Gmail disconnected" in text_of(p) for p in replacements(world)))
    assert (arcade_user(ALICE), "google") not in world.arcade.connections
    assert (arcade_user(BOB), "google") in world.arcade.connections

    # After a disconnect, labels asks for authorization again.
    await world.slack.dm(ALICE, "labels", team_id=TEAM)
    await wait_for_prompt(world)


async def test_cancelled_disconnect_keeps_the_connection(world: World) -> None:
    connect(world, ALICE)
    await world.start_bot("http")
    await world.slack.block_action(ALICE, action_id=CANCEL_ACTION, channel_id=CHANNEL, team_id=TEAM)
    await world.slack.wait_for(lambda: any("stays connected" in text_of(p) for p in replacements(world)))
    assert (arcade_user(ALICE), "google") in world.arcade.connections


async def test_prompt_changes_in_place_waiting_then_connected(world: World) -> None:
    await world.start_bot("http")
    await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM)
    prompt = await wait_for_prompt(world)
    url = buttons(prompt)[0]["url"]
    await world.slack.block_action(
        ALICE, action_id=OPEN_AUTH_ACTION, url=url, channel_id=CHANNEL, team_id=TEAM, response_url=prompt["url"]
    )
    await world.slack.wait_for(lambda: any("Waiting for you" in text_of(p) for p in replacements(world, prompt["url"])))
    await world.arcade.approve(arcade_user(ALICE), email="alice@example.com")
    await wait_for_labels(world)
    # The prompt's new face goes out together with the DM: wait for it too.
    await world.slack.wait_for(lambda: "Gmail connected" in text_of(replacements(world, prompt["url"])[-1]))
    final = replacements(world, prompt["url"])[-1]
    assert "Gmail connected as alice@example.com" in text_of(final)
    assert buttons(final) == []


async def test_expired_link_offers_a_new_one_that_works(world: World) -> None:
    await world.start_bot("http", AUTH_TIMEOUT_SECONDS="1")
    await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM)
    prompt = await wait_for_prompt(world)
    await world.slack.wait_for(lambda: any("Link expired" in text_of(p) for p in replacements(world)), timeout=8)
    expired = [p for p in replacements(world, prompt["url"]) if "Link expired" in text_of(p)][-1]
    [new_link] = buttons(expired)
    assert (new_link["text"]["text"], new_link["action_id"]) == ("Get a new link", START_ACTION)

    # Clicking it starts a fresh flow and the new prompt replaces the expired message in place.
    await world.slack.block_action(
        ALICE, action_id=START_ACTION, channel_id=CHANNEL, team_id=TEAM, response_url=prompt["url"]
    )
    await world.slack.wait_for(
        lambda: any(buttons(p) and "Connect your Gmail" in text_of(p) for p in replacements(world))
    )
    await world.arcade.approve(arcade_user(ALICE))
    await wait_for_labels(world)


async def test_declined_offers_try_again_for_the_clicker_only(world: World) -> None:
    await world.start_bot("http")
    await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM)
    await wait_for_prompt(world)
    await world.arcade.deny(arcade_user(ALICE))
    await world.slack.wait_for(lambda: any("declined or failed" in text_of(p) for p in replacements(world)))
    failed = [p for p in replacements(world) if "declined or failed" in text_of(p)][-1]
    assert [b["text"]["text"] for b in buttons(failed)] == ["Try again"]

    # Bob clicks a Try again button (e.g. in a message he was shown): the flow is Bob's, not Alice's.
    await world.slack.block_action(BOB, action_id=START_ACTION, channel_id=CHANNEL, team_id=TEAM)
    await wait_for_prompt(world, BOB)
    assert world.arcade.pending_for(arcade_user(ALICE)) == []
    assert len(world.arcade.pending_for(arcade_user(BOB))) == 1

    # Alice's own click gives her a new, different link (Arcade starts a new flow after a failure).
    await world.slack.block_action(ALICE, action_id=START_ACTION, channel_id=CHANNEL, team_id=TEAM)
    await world.slack.wait_for(lambda: len(world.arcade.pending_for(arcade_user(ALICE))) == 1)
    await world.arcade.approve(arcade_user(ALICE))
    await wait_for_labels(world)


async def test_expiry_after_response_url_died_goes_to_a_dm(world: World) -> None:
    await world.start_bot("http", AUTH_TIMEOUT_SECONDS="1")
    await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM)
    await wait_for_prompt(world)
    world.slack.expire_response_urls()
    expired = await wait_for_text(world, ALICE, "Link expired", timeout=8)
    assert expired["via"] == "dm"
    assert [b["action_id"] for b in buttons(expired)] == [START_ACTION]


async def test_home_tab_shows_each_user_their_own_connection_and_refreshes(world: World) -> None:
    connect(world, BOB, email="bob@example.com")
    await world.start_bot("http")
    await world.slack.send_event({"type": "app_home_opened", "user": ALICE, "tab": "home"}, team_id=TEAM)
    await world.slack.send_event({"type": "app_home_opened", "user": BOB, "tab": "home"}, team_id=TEAM)
    await world.slack.wait_for(lambda: ALICE in world.slack.home_views and BOB in world.slack.home_views)
    alice_home, bob_home = world.slack.home_views[ALICE], world.slack.home_views[BOB]
    assert "not connected" in text_of(alice_home)
    # Every provider with its own button: Connect for each, until one is connected.
    assert [b["action_id"] for b in buttons(alice_home)] == [action(p, START) for p in ("gmail", "calendar", "github")]
    assert "bob@example.com" in text_of(bob_home)
    assert "bob@example.com" not in text_of(alice_home)
    disconnect, *others = buttons(bob_home)
    assert disconnect["action_id"] == DISCONNECT_ACTION
    assert "confirm" in disconnect  # Slack asks "are you sure?" before sending the click
    assert [b["action_id"] for b in others] == [action("calendar", START), action("github", START)]

    # Connect from Home: the prompt arrives by DM; approving refreshes Alice's Home.
    await world.slack.block_action(ALICE, action_id=START_ACTION, team_id=TEAM, from_home=True)
    prompt = await wait_for_prompt(world)
    assert prompt["via"] == "dm"
    await world.arcade.approve(arcade_user(ALICE), email="alice@example.com")
    await wait_for_labels(world)
    # Refreshes are published one at a time per user, so the last view is the newest state; one
    # computed while she was still pending may come first (its audit trail already says Connected).
    await world.slack.wait_for(lambda: "alice@example.com" in text_of(world.slack.home_views[ALICE]))
    shown = text_of(world.slack.home_views[ALICE])
    assert "Connected" in shown
    assert "Authorization link sent" in shown  # her own audit trail
    assert "bob@example.com" not in shown


async def test_labels_show_unread_counts_for_inbox_and_user_labels(world: World) -> None:
    connect(world, ALICE)
    world.gmail.set_labels(
        arcade_user(ALICE),
        [
            {"id": "INBOX", "name": "INBOX", "type": "system"},
            {"id": "SENT", "name": "SENT", "type": "system"},
            {"id": "Label_1", "name": "Work", "type": "user"},
            {"id": "Label_2", "name": "Work/Clients", "type": "user"},
        ],
    )
    # Unread conversations, as Gmail's sidebar counts them, not unread messages.
    world.gmail.set_unread(arcade_user(ALICE), "INBOX", 30, 100, threads_unread=12)
    world.gmail.set_unread(arcade_user(ALICE), "Label_2", 5, 10, threads_unread=3)
    await world.start_bot("http")
    await world.slack.dm(ALICE, "labels", team_id=TEAM)
    shown = text_of(await wait_for_labels(world))
    assert "12" in shown.split("Inbox", 1)[1].splitlines()[0]
    assert "3" in shown.split("Clients", 1)[1].splitlines()[0]
    # One batch request carried the counts, next to one list call.
    batches = [c for c in world.gmail.calls if c.batch_parts]
    assert len(batches) == 1
    assert batches[0].batch_parts == 3  # Inbox and the two user labels; never SENT
