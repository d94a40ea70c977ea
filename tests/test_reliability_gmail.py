"""Gmail misbehaving: refused tokens lead to a fresh, working authorization; 429/5xx are retried.

Arcade may keep answering ``completed`` with a grant Google no longer honours, so the bot must
remove that user's (and only that user's) Google connection at Arcade before asking again.
"""

from __future__ import annotations

import pytest

from tests.support import GMAIL_SCOPE, label_lists, prompts, settle
from tests.verify_support import lands_at
from tests.world import ALICE, BOB, CHANNEL, TEAM, World, arcade_user, buttons, text_of


async def _ask(world: World, how: str) -> None:
    if how == "dm":
        ack = await world.slack.dm(ALICE, "labels", team_id=TEAM)
    else:
        ack = await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM)
    assert ack.status == 200


@pytest.mark.parametrize("how", ["dm", "command"])
@pytest.mark.parametrize("refusal", ["revoked_401", "scope_missing_403"])
async def test_a_refused_token_removes_the_dead_grant_and_prompts_with_a_working_link(
    world: World, refusal: str, how: str
) -> None:
    alice, bob = arcade_user(ALICE), arcade_user(BOB)
    world.arcade.connect(alice, [GMAIL_SCOPE])
    world.arcade.connect(bob, [GMAIL_SCOPE])
    world.arcade.ignore_connection_filters = True  # the bot must filter by user and provider itself
    (world.gmail.revoke if refusal == "revoked_401" else world.gmail.remove_scope)(alice)
    await world.start_bot("http")

    await _ask(world, how)
    await world.slack.wait_for(lambda: len(prompts(world, ALICE)) == 1, timeout=10)
    assert (alice, "google") not in world.arcade.connections  # the dead grant is gone …
    assert (bob, "google") in world.arcade.connections  # … and nobody else's
    [flow] = world.arcade.pending_for(alice)
    assert await lands_at(buttons(prompts(world, ALICE)[0])[0]["url"]) == flow.url

    world.gmail.restore(alice)  # the user consents again: Google honours the new grant
    await world.arcade.approve(alice)
    await world.slack.wait_for(lambda: len(label_lists(world, ALICE)) == 1, timeout=10)
    await settle(0.5)
    assert len(prompts(world, ALICE)) == 1  # no loop of prompts
    assert label_lists(world, BOB) == []


async def test_a_grant_refused_right_after_consent_prompts_again_instead_of_looping(world: World) -> None:
    """The flow completes, but Google refuses the token Arcade hands out: one new prompt, no loop."""
    alice = arcade_user(ALICE)
    await world.start_bot("http")
    await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM)
    await world.slack.wait_for(lambda: len(prompts(world, ALICE)) == 1)
    world.gmail.revoke(alice)
    await world.arcade.approve(alice)
    await world.slack.wait_for(lambda: len(world.arcade.pending_for(alice)) == 1, timeout=10)
    await world.slack.wait_for(lambda: len(prompts(world, ALICE)) == 2, timeout=10)
    assert (alice, "google") not in world.arcade.connections
    world.gmail.restore(alice)
    await world.arcade.approve(alice)
    await world.slack.wait_for(lambda: len(label_lists(world, ALICE)) == 1, timeout=10)
    await settle(0.5)
    assert len(prompts(world, ALICE)) == 2


@pytest.mark.parametrize("status", [429, 503])
async def test_transient_gmail_errors_are_retried(world: World, status: int) -> None:
    world.arcade.connect(arcade_user(ALICE), [GMAIL_SCOPE])
    world.gmail.fail_next(status)
    await world.start_bot("http")
    await world.slack.dm(ALICE, "labels", team_id=TEAM)
    await world.slack.wait_for(lambda: len(label_lists(world, ALICE)) == 1, timeout=15)
    assert len([c for c in world.gmail.calls if c.path.endswith("/labels")]) == 2  # a refusal, then success


@pytest.mark.parametrize(("status", "says"), [(429, "slow down"), (503, "Gmail is unavailable")])
async def test_a_gmail_that_keeps_failing_gets_a_clear_message(world: World, status: int, says: str) -> None:
    world.arcade.connect(arcade_user(ALICE), [GMAIL_SCOPE])
    world.gmail.fail_next(status, times=10)
    await world.start_bot("http")
    await world.slack.dm(ALICE, "labels", team_id=TEAM)

    def told() -> bool:
        return any(says in text_of(m) for m in world.slack.private_to(ALICE, TEAM))

    await world.slack.wait_for(told, timeout=20)
    assert label_lists(world, ALICE) == []
    assert (arcade_user(ALICE), "google") in world.arcade.connections  # not a reason to drop the grant
    assert all("Traceback" not in text_of(m) for m in world.slack.private_to(ALICE, TEAM))
