"""A provider declared only here, handed to the real bot: it works end to end (connect, its first
action, its request word, status, the Home tab, disconnect) with no other module changed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest

from bot.config import Settings
from bot.errors import TokenRefused
from bot.models import Message
from bot.providers import SHIPPED, Grant, Provider
from bot.slack.kit import escape, note
from bot.slack.messages import DISCONNECT, OPEN, action
from tests.fakes.arcade import FakeArcade
from tests.world import ALICE, CHANNEL, TEAM, World, arcade_user, buttons, text_of

SCOPE = "files.metadata.read"


@dataclass(frozen=True)
class Files:
    names: list[str]
    account: str | None


class Drive:
    """The adapter: here, an in-process "API" that accepts only tokens Arcade minted for a dropbox grant."""

    def __init__(self, arcade: FakeArcade) -> None:
        self.arcade = arcade
        self.calls = 0

    async def list_files(self, token: str) -> list[str]:
        self.calls += 1
        grant = self.arcade.grant_of(token)
        if grant is None or grant.provider_id != "dropbox" or SCOPE not in grant.scopes:
            raise TokenRefused("dropbox refused the token")
        return ["notes.txt", "<plans>.md"]


def dropbox(drive: Drive) -> Provider[Drive, Files]:
    @asynccontextmanager
    async def open_(settings: Settings) -> AsyncIterator[Drive]:
        yield drive

    async def act(adapter: Drive, grant: Grant) -> Files:
        return Files(await adapter.list_files(grant.token), grant.account)

    def show(files: Files) -> Message:
        return note("*Your Dropbox files*\n" + "\n".join(f"• {escape(name)}" for name in files.names))

    return Provider(
        name="dropbox",
        title="Dropbox",
        arcade_id="dropbox",
        scopes=(SCOPE,),
        request="files",
        does="list your files",
        answer="your files",
        access="read-only access to your file names",
        account_kind="Dropbox account",
        open=open_,
        act=act,
        show=show,
    )


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_a_provider_declared_only_in_the_test_works_end_to_end(world: World, mode: str) -> None:
    drive = Drive(world.arcade)
    world.providers = [*SHIPPED, dropbox(drive)]  # declared here, handed to the real bot as it is
    await world.start_bot(mode)
    user = arcade_user(ALICE)

    def private(needle: str) -> list[dict[str, object]]:
        return [m for m in world.slack.private_to(ALICE, TEAM) if needle in text_of(m)]

    listing = await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM, command="/connect", mode=mode)
    assert listing.json is not None
    assert "Connect Dropbox" in [b["text"]["text"] for b in buttons(listing.json)]

    await world.slack.slash_command(
        ALICE, channel_id=CHANNEL, team_id=TEAM, command="/connect", text="dropbox", mode=mode
    )
    await world.slack.wait_for(lambda: bool(private("Authorize Dropbox")))
    [prompt] = private("Authorize Dropbox")
    assert buttons(prompt)[0]["action_id"] == action("dropbox", OPEN)
    [flow] = world.arcade.pending_for(user)
    assert (flow.provider_id, set(flow.scopes)) == ("dropbox", {SCOPE})

    await world.arcade.approve(user, provider_id="dropbox", email="alice@dropbox.example")
    await world.slack.wait_for(lambda: bool(private("Your Dropbox files")))
    assert "&lt;plans&gt;.md" in text_of(private("Your Dropbox files")[0])
    await world.slack.dm(ALICE, "files", team_id=TEAM, mode=mode)  # its request word
    await world.slack.wait_for(lambda: len(private("Your Dropbox files")) == 2)
    assert drive.calls == 2

    await world.slack.send_event({"type": "app_home_opened", "user": ALICE, "tab": "home"}, team_id=TEAM, mode=mode)
    await world.slack.wait_for(
        lambda: "Dropbox is connected as alice@dropbox.example" in text_of(world.slack.home_views.get(ALICE, {}))
    )

    await world.slack.slash_command(
        ALICE, channel_id=CHANNEL, team_id=TEAM, command="/connect", text="status dropbox", mode=mode
    )
    await world.slack.wait_for(lambda: bool(private("Your Dropbox connection")))
    await world.slack.block_action(
        ALICE, action_id=action("dropbox", DISCONNECT), value="dropbox", team_id=TEAM, mode=mode
    )
    await world.slack.wait_for(lambda: any("Dropbox disconnected" in text_of(p) for p in world.slack.webhook_posts))
    assert (user, "dropbox") not in world.arcade.connections
