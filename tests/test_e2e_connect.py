"""End to end: the real bot in HTTP mode and in Socket Mode against the fake Slack, Arcade and Gmail.

Every assertion is about what the fakes received: what the user was shown, where, and when.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.slack.messages import OPEN_AUTH_ACTION
from bot.verifier import START_PATH
from tests.world import ALICE, BOB, CHANNEL, NO_BOT_CHANNEL, TEAM, World, arcade_user, buttons, text_of

MODES = ["http", "socket"]


async def settle() -> None:
    """Give a wrongly duplicated message or an extra poll the time to show up before counting."""
    await asyncio.sleep(0.5)


def prompts(world: World, user: str = ALICE) -> list[dict[str, Any]]:
    return [m for m in world.slack.private_to(user, TEAM) if buttons(m)]


def label_lists(world: World, user: str = ALICE) -> list[dict[str, Any]]:
    return [m for m in world.slack.private_to(user, TEAM) if "Your Gmail labels" in text_of(m)]


async def wait_for_prompt(world: World, user: str = ALICE, count: int = 1) -> dict[str, Any]:
    await world.slack.wait_for(lambda: len(prompts(world, user)) >= count)
    return prompts(world, user)[-1]


async def wait_for_labels(
    world: World,
    user: str = ALICE,
    count: int = 1,
    timeout: float = 10,  # noqa: ASYNC109
) -> dict[str, Any]:
    await world.slack.wait_for(lambda: len(label_lists(world, user)) >= count, timeout=timeout)
    return label_lists(world, user)[-1]


@pytest.mark.parametrize("mode", MODES)
async def test_connect_prompt_then_labels_after_approval(world: World, mode: str) -> None:
    await world.start_bot(mode)
    ack = await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM, mode=mode)
    assert ack.status == 200
    assert ack.elapsed < 3

    prompt = await wait_for_prompt(world)
    [button] = buttons(prompt)
    [flow] = world.arcade.pending_for(arcade_user(ALICE))
    # The custom verifier's button opens the bot's start link, which leads to Arcade's URL.
    assert button["url"].startswith(f"{world.bots[0].settings.public_url}{START_PATH}/")
    assert button["action_id"] == OPEN_AUTH_ACTION
    assert button["text"]["text"] == "Authorize Gmail"
    assert "Connect your Gmail" in text_of(prompt)
    assert "valid until" in text_of(prompt)
    assert flow.url not in prompt["text"]  # notifications never show the link

    # The user clicks the link button: Slack sends block_actions, which must be acked.
    click = await world.slack.block_action(
        ALICE, action_id=OPEN_AUTH_ACTION, url=button["url"], team_id=TEAM, mode=mode
    )
    assert click.status == 200

    await world.arcade.approve(arcade_user(ALICE), email="alice@example.com")
    labels = await wait_for_labels(world)
    shown = text_of(labels)
    assert "Inbox" in shown
    assert "INBOX" not in shown  # UI names, not API ids
    assert "alice@example.com" in shown or any(
        "alice@example.com" in text_of(m) for m in world.slack.private_to(ALICE, TEAM)
    )
    # The prompt is replaced in place by a short confirmation (sent together with the DM).
    await world.slack.wait_for(
        lambda: any("Gmail connected" in text_of(p) for p in world.slack.webhook_posts if p.get("replace_original"))
    )
    # Nothing went anywhere public, and the token never reached Slack.
    assert world.slack.public_messages() == []
    for token in world.arcade.tokens:
        assert all(token not in repr(call.args) for call in world.slack.calls)
        assert all(token not in repr(post) for post in world.slack.webhook_posts)


@pytest.mark.parametrize("mode", MODES)
async def test_already_connected_gets_labels_straight_away(world: World, mode: str) -> None:
    world.arcade.connect(arcade_user(ALICE), ["https://www.googleapis.com/auth/gmail.readonly"])
    await world.start_bot(mode)
    await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM, mode=mode)
    await wait_for_labels(world)
    assert prompts(world) == []
    assert world.arcade.pending_for(arcade_user(ALICE)) == []


@pytest.mark.parametrize("mode", MODES)
async def test_labels_in_a_dm_and_as_a_mention(world: World, mode: str) -> None:
    world.arcade.connect(arcade_user(ALICE), ["https://www.googleapis.com/auth/gmail.readonly"])
    await world.start_bot(mode)

    ack = await world.slack.dm(ALICE, "labels", team_id=TEAM, mode=mode)
    assert ack.status == 200
    first = await wait_for_labels(world)
    assert first["via"] == "dm"

    ack = await world.slack.mention(ALICE, CHANNEL, "labels", team_id=TEAM, mode=mode)
    assert ack.status == 200
    second = await wait_for_labels(world, count=2)
    assert second["via"] == "ephemeral"  # private data stays private in a channel
    assert world.slack.public_messages() == []


@pytest.mark.parametrize(
    ("error", "times", "route"),
    [
        ("not_in_channel", 1, "dm"),
        ("channel_not_found", 1, "dm"),
        ("user_not_in_channel", 1, "dm"),
        ("ratelimited", 1, "ephemeral"),  # "not now": the same post is tried again after a pause
        ("ratelimited", 10, "dm"),  # still refused after the retries: the DM route takes over
    ],
)
async def test_a_refused_ephemeral_never_loses_the_answer(world: World, error: str, times: int, route: str) -> None:
    world.arcade.connect(arcade_user(ALICE), ["https://www.googleapis.com/auth/gmail.readonly"])
    await world.start_bot("http")
    world.slack.fail_next("chat.postEphemeral", error, times=times)
    await world.slack.mention(ALICE, CHANNEL, "labels", team_id=TEAM)
    delivered = await wait_for_labels(world, timeout=20)
    assert delivered["via"] == route
    assert len(label_lists(world)) == 1


async def test_unrelated_dms_and_bot_messages_are_acked_and_ignored(world: World) -> None:
    world.arcade.connect(arcade_user(ALICE), ["https://www.googleapis.com/auth/gmail.readonly"])
    await world.start_bot("http")
    for ack in (
        await world.slack.dm(ALICE, "hello there", team_id=TEAM),
        await world.slack.dm(ALICE, "labels", team_id=TEAM, bot_id="B0OTHER0001"),
        await world.slack.dm(ALICE, "labels", team_id=TEAM, subtype="message_changed"),
        await world.slack.send_event({"type": "reaction_added", "user": ALICE, "reaction": "+1"}, team_id=TEAM),
        await world.slack.block_action(ALICE, action_id="some_old_button", team_id=TEAM),
    ):
        assert ack.status == 200
    # Something that is answered, so the absence of answers above is not just slowness.
    await world.slack.dm(ALICE, "labels", team_id=TEAM)
    await wait_for_labels(world)
    assert len(world.slack.private_to(ALICE, TEAM)) == 1
    assert world.slack.messages[-1]["channel"] == world.slack.dm_channel_id(ALICE, TEAM)


@pytest.mark.parametrize("mode", MODES)
async def test_denied_authorization_replaces_the_prompt(world: World, mode: str) -> None:
    await world.start_bot(mode)
    await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM, mode=mode)
    await wait_for_prompt(world)
    await world.arcade.deny(arcade_user(ALICE))
    await world.slack.wait_for(
        lambda: any("declined or failed" in text_of(p) for p in world.slack.webhook_posts if p.get("replace_original"))
    )
    assert label_lists(world) == []


async def test_expired_link_replaces_the_prompt(world: World) -> None:
    await world.start_bot("http", AUTH_TIMEOUT_SECONDS="2")
    await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM)
    await wait_for_prompt(world)
    await world.slack.wait_for(
        lambda: any("expired" in text_of(p) for p in world.slack.webhook_posts if p.get("replace_original")),
        timeout=8,
    )
    # The bot stopped waiting: no more long-polls after expiry.
    polls = len([c for c in world.arcade.calls if c.path == "/v1/auth/status"])
    await settle()
    assert len([c for c in world.arcade.calls if c.path == "/v1/auth/status"]) == polls
    assert label_lists(world) == []


@pytest.mark.parametrize("mode", MODES)
async def test_second_connect_while_pending_resends_the_same_link(world: World, mode: str) -> None:
    await world.start_bot(mode)
    await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM, mode=mode)
    first = await wait_for_prompt(world)
    await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM, mode=mode)
    second = await wait_for_prompt(world, count=2)
    assert buttons(first)[0]["url"] == buttons(second)[0]["url"]
    assert "already" in text_of(second)
    assert len(world.arcade.pending_for(arcade_user(ALICE))) == 1

    await world.arcade.approve(arcade_user(ALICE))
    await wait_for_labels(world)
    await settle()
    assert len(label_lists(world)) == 1  # one waiter, one delivery


async def test_users_do_not_see_each_others_links_or_labels(world: World) -> None:
    await world.start_bot("http")
    await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM)
    await world.slack.slash_command(BOB, channel_id=CHANNEL, team_id=TEAM)
    alice_prompt = await wait_for_prompt(world, ALICE)
    bob_prompt = await wait_for_prompt(world, BOB)
    assert buttons(alice_prompt)[0]["url"] != buttons(bob_prompt)[0]["url"]
    world.gmail.set_labels(arcade_user(BOB), [{"id": "Label_9", "name": "Bob only", "type": "user"}])

    await world.arcade.approve(arcade_user(ALICE))
    await wait_for_labels(world, ALICE)
    assert label_lists(world, BOB) == []
    assert "Bob only" not in text_of(label_lists(world, ALICE)[0])
    await world.arcade.approve(arcade_user(BOB))
    assert "Bob only" in text_of(await wait_for_labels(world, BOB))


@pytest.mark.parametrize("mode", MODES)
async def test_restart_while_pending_still_delivers(world: World, mode: str) -> None:
    bot = await world.start_bot(mode)
    await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM, mode=mode)
    await wait_for_prompt(world)
    await bot.close()

    await world.arcade.approve(arcade_user(ALICE))  # while the bot is down
    await world.start_bot(mode)
    await wait_for_labels(world)
    await settle()
    assert len(label_lists(world)) == 1


async def test_command_text_gets_usage_without_reflecting_it(world: World) -> None:
    await world.start_bot("http")
    for text in ("labels please", "<script>alert(1)</script>", "x" * 4000, "\U0001f600 <!channel> &amp;"):
        ack = await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM, text=text)
        assert ack.status == 200
        assert ack.text is not None
        assert "/connect-gmail" in ack.body
        body = ack.body
        assert "<script>" not in body
        assert "<!channel>" not in body
    assert world.arcade.calls == []  # usage never starts an authorization


async def test_connect_from_a_channel_without_the_bot_stays_private(world: World) -> None:
    await world.start_bot("http")
    await world.slack.slash_command(ALICE, channel_id=NO_BOT_CHANNEL, team_id=TEAM)
    prompt = await wait_for_prompt(world)
    assert prompt["via"] == "response_url"
    await world.arcade.approve(arcade_user(ALICE))
    await wait_for_labels(world)
    assert world.slack.public_messages() == []


async def test_arcade_outage_is_explained_to_the_user(world: World) -> None:
    await world.start_bot("http")
    world.arcade.fail_next("authorize", 503, times=10)
    ack = await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM)
    assert ack.status == 200
    await world.slack.wait_for(
        lambda: any(
            "Arcade" in text_of(m) and "unreachable" in text_of(m) for m in world.slack.private_to(ALICE, TEAM)
        ),
        timeout=10,
    )
    assert all("Traceback" not in text_of(m) for m in world.slack.private_to(ALICE, TEAM))


async def test_bolt_oauth_variables_do_not_hijack_the_bot_token(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_CLIENT_ID", "111.222")
    monkeypatch.setenv("SLACK_CLIENT_SECRET", "client-secret")
    world.arcade.connect(arcade_user(ALICE), ["https://www.googleapis.com/auth/gmail.readonly"])
    await world.start_bot("http")
    await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM)
    await wait_for_labels(world)
