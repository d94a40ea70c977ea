"""Isolation and secrets: tokens never leave the process, users never see each other's data.

The SQLite file's own protections (WAL, busy timeout, ``user_version`` migrations, 0600) are held
by tests/test_store.py and tests/test_reliability_store.py.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

from tests.support import GMAIL_SCOPE, BotProcess, has_labels, label_lists, prompts, settle
from tests.verify_support import lands_at
from tests.world import ALICE, BOB, CHANNEL, TEAM, World, arcade_user, buttons, text_of

OTHER_TEAM = "T0OTHER0001"


def _everything_slack_saw(world: World) -> str:
    """Every Web API call, response_url post, ack and App Home view the fake Slack received."""
    seen: list[Any] = [[c.method, c.args] for c in world.slack.calls]
    seen += [world.slack.webhook_posts, [a.body for a in world.slack.acks], world.slack.home_views]
    return json.dumps(seen, default=str)


async def test_tokens_never_reach_slack_logs_or_the_database(world: World, tmp_path: Path) -> None:
    """The whole flow with DEBUG logging (SDKs included), including a refused token and a re-consent."""
    alice, bob = arcade_user(ALICE), arcade_user(BOB)
    world.arcade.connect(bob, [GMAIL_SCOPE])
    async with BotProcess(world, tmp_path / "bot.log", LOG_LEVEL="DEBUG") as bot:
        await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM)
        await world.slack.wait_for(lambda: len(prompts(world, ALICE)) == 1, timeout=10)
        await world.arcade.approve(alice)
        await world.slack.wait_for(lambda: len(label_lists(world, ALICE)) == 1, timeout=10)
        await world.slack.dm(BOB, "labels", team_id=TEAM)
        await world.slack.mention(ALICE, CHANNEL, "labels", team_id=TEAM)
        await world.slack.wait_for(
            lambda: len(label_lists(world, ALICE)) == 2 and bool(label_lists(world, BOB)), timeout=10
        )
        world.gmail.revoke(bob)  # a refused token: the grant is removed and a new flow starts
        await world.slack.dm(BOB, "labels", team_id=TEAM)
        await world.slack.wait_for(lambda: len(prompts(world, BOB)) == 1, timeout=10)
        world.gmail.restore(bob)
        await world.arcade.approve(bob)
        await world.slack.wait_for(lambda: len(label_lists(world, BOB)) == 2, timeout=10)
        await settle(0.5)
        await bot.kill()  # SIGKILL: the WAL still holds whatever was written

    # The random part of each token, so that a token logged in any wrapping (quoted, split off its
    # "ya29." prefix, re-encoded) is still found.
    tokens = [token.rsplit("-", 1)[-1] for token in world.arcade.tokens]
    assert all(len(t) >= 24 for t in tokens)
    assert len(tokens) >= 4  # the test really handed tokens to the bot …
    assert len([c for c in world.gmail.calls if c.authorization]) >= 4  # … and the bot really used them
    logs = bot.output()
    assert " DEBUG " in logs  # the SDKs' debug output is in there
    slack = _everything_slack_saw(world)
    files = {p.name: p.read_bytes() for p in world.db.parent.glob(f"{world.db.name}*")}
    assert world.db.name in files
    leaks = {
        where: [t[:16] for t in tokens if t in text or t.encode() in raw]
        for where, text, raw in (
            ("logs", logs, b""),
            ("slack", slack, b""),
            *((name, "", raw) for name, raw in files.items()),
        )
    }
    assert {where: found for where, found in leaks.items() if found} == {}
    assert "ya29." not in logs
    assert "ya29." not in slack
    # The bot's own secrets stay out of its logs too.
    for name in ("SLACK_BOT_TOKEN", "ARCADE_API_KEY", "SLACK_SIGNING_SECRET", "SLACK_CLIENT_SECRET", "VERIFIER_SECRET"):
        secret = bot.env.get(name)
        if secret:
            assert secret not in logs, f"{name} is in the logs"


async def test_the_same_user_id_in_two_workspaces_is_two_people(world: World) -> None:
    world.gmail.set_labels(arcade_user(ALICE, OTHER_TEAM), [{"id": "Label_7", "name": "Other team", "type": "user"}])
    await world.start_bot("http")
    await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM)
    await world.slack.slash_command(ALICE, team_id=OTHER_TEAM)  # from their DM in the other workspace
    await world.slack.wait_for(lambda: bool(prompts(world, ALICE, TEAM) and prompts(world, ALICE, OTHER_TEAM)))
    [here] = world.arcade.pending_for(arcade_user(ALICE, TEAM))
    [there] = world.arcade.pending_for(arcade_user(ALICE, OTHER_TEAM))
    assert here.url != there.url
    assert await lands_at(buttons(prompts(world, ALICE, TEAM)[0])[0]["url"]) == here.url
    assert await lands_at(buttons(prompts(world, ALICE, OTHER_TEAM)[0])[0]["url"]) == there.url

    await world.arcade.approve(arcade_user(ALICE, TEAM))
    await world.slack.wait_for(lambda: len(label_lists(world, ALICE, TEAM)) == 1, timeout=10)
    await settle(0.5)
    assert label_lists(world, ALICE, OTHER_TEAM) == []  # consent in one workspace is not consent in the other
    assert "Other team" not in text_of(label_lists(world, ALICE, TEAM)[0])

    await world.arcade.approve(arcade_user(ALICE, OTHER_TEAM))
    await world.slack.wait_for(lambda: len(label_lists(world, ALICE, OTHER_TEAM)) == 1, timeout=10)
    assert "Other team" in text_of(label_lists(world, ALICE, OTHER_TEAM)[0])
    assert len(label_lists(world, ALICE, TEAM)) == 1


async def test_links_and_labels_only_ever_reach_their_owner(world: World) -> None:
    people = [(ALICE, TEAM), (BOB, TEAM), (ALICE, OTHER_TEAM)]
    for user, team in people:
        world.gmail.set_labels(
            arcade_user(user, team), [{"id": "Label_1", "name": f"only-{team}-{user}", "type": "user"}]
        )
    await world.start_bot("http")
    await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM)
    await world.slack.slash_command(BOB, channel_id=CHANNEL, team_id=TEAM)
    await world.slack.slash_command(ALICE, team_id=OTHER_TEAM)
    await world.slack.mention(BOB, CHANNEL, "labels", team_id=TEAM)  # again, from a channel
    await world.slack.wait_for(lambda: all(prompts(world, u, t) for u, t in people), timeout=10)
    for user, team in people:
        await world.arcade.approve(arcade_user(user, team))
        await world.slack.wait_for(partial(has_labels, world, user, team), timeout=10)
    await settle(0.5)

    assert world.slack.public_messages() == []
    owners = {f.url: f.user_id for f in world.arcade.flows.values() if f.url}
    secrets = owners | {f"only-{t}-{u}": arcade_user(u, t) for u, t in people}
    records = [*world.slack.messages, *world.slack.ephemerals, *world.slack.webhook_posts]
    for record in records:
        seen_by = arcade_user(record["user"], record["team_id"])
        shown = json.dumps(record.get("blocks")) + str(record.get("text"))
        assert [s for s, owner in secrets.items() if s in shown and owner != seen_by] == [], record
    for user_id, view in world.slack.home_views.items():
        shown = json.dumps(view)
        assert [s for s, owner in secrets.items() if s in shown and not owner.endswith(f":{user_id}")] == []
