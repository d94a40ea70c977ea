"""The real bot on either engine: DATABASE_URL chooses it, and a flow left pending by a stopped bot
is finished by the next one (the pending row and the owed answer live in the database)."""

from __future__ import annotations

import asyncio

from tests.world import ALICE, CHANNEL, TEAM, World, arcade_user, buttons, text_of


async def test_a_flow_pending_when_the_bot_stopped_is_answered_after_a_restart(world: World, database_url: str) -> None:
    first = await world.start_bot("http", DATABASE_URL=database_url)
    ack = await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM, mode="http")
    assert ack.status == 200
    await world.slack.wait_for(lambda: any(buttons(m) for m in world.slack.private_to(ALICE, TEAM)))
    await first.close()

    await world.start_bot("http", DATABASE_URL=database_url)
    await world.arcade.approve(arcade_user(ALICE), email="alice@example.com")

    def label_lists() -> list[str]:
        return [text_of(m) for m in world.slack.private_to(ALICE, TEAM) if "Your Gmail labels" in text_of(m)]

    await world.slack.wait_for(lambda: len(label_lists()) >= 1, timeout=10)
    await asyncio.sleep(0.5)  # room for a wrongly doubled answer to show up
    assert len(label_lists()) == 1
    assert "Inbox" in label_lists()[0]
