"""bot.slack.Messenger against the fake Slack: DMs by user id, DM channels remembered, and the routes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from slack_sdk.web.async_client import AsyncWebClient

from bot.models import Message, SlackUser
from bot.slack.reply import Reply
from bot.slack.retries import retry_handlers
from bot.slack.sender import Messenger
from tests.fakes.slack import FakeSlack

ALICE = SlackUser("T0000000001", "U0ALICE0001")
BOB = SlackUser("T0000000001", "U0BOB000001")


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as slack:
        yield slack


@pytest.fixture
async def messenger(fake: FakeSlack) -> AsyncIterator[Messenger]:
    async with aiohttp.ClientSession() as session:
        yield Messenger(AsyncWebClient(token=fake.bot_token, base_url=fake.api_url, session=session), session)


def _opens(fake: FakeSlack) -> list[str]:
    return [str(c.args.get("users")) for c in fake.calls if c.method == "conversations.open"]


async def test_a_first_dm_goes_to_the_user_id_and_its_channel_is_remembered(
    fake: FakeSlack, messenger: Messenger
) -> None:
    await messenger.direct(ALICE, Message(text="one"))
    await messenger.direct(BOB, Message(text="for bob"))
    await messenger.direct(ALICE, Message(text="two"))
    assert _opens(fake) == []  # no conversations.open: Slack takes the user id as the DM
    posts = [str(c.args.get("channel")) for c in fake.calls if c.method == "chat.postMessage"]
    assert posts[:2] == [ALICE.user_id, BOB.user_id]
    assert posts[2].startswith("D")  # Alice's DM id, learnt from the first answer
    dms = {m["channel"] for m in fake.messages if m.get("user") == ALICE.user_id}
    assert dms == {posts[2]}  # both of Alice's messages landed in that one DM


async def test_a_user_id_slack_refuses_as_a_channel_opens_the_dm(fake: FakeSlack, messenger: Messenger) -> None:
    fake.fail_next("chat.postMessage", "channel_not_found")
    await messenger.direct(ALICE, Message(text="one"))
    assert _opens(fake) == [ALICE.user_id]
    posted = [c for c in fake.calls if c.method == "chat.postMessage"]
    assert [c.args.get("text") for c in posted] == ["one", "one"]  # the refused one, then into the DM
    assert str(posted[1].args.get("channel")).startswith("D")


async def test_a_429_on_opening_the_dm_is_waited_out(fake: FakeSlack) -> None:
    fake.fail_next("chat.postMessage", "channel_not_found")
    fake.rate_limit_next("conversations.open", retry_after=1)
    async with aiohttp.ClientSession() as session:
        client = AsyncWebClient(
            token=fake.bot_token, base_url=fake.api_url, session=session, retry_handlers=retry_handlers()
        )
        await Messenger(client, session).direct(ALICE, Message(text="one"))
    first, second = [c.at for c in fake.calls if c.method == "conversations.open"]
    assert second - first >= 1.0
    assert [m.get("text") for m in fake.messages if m.get("user") == ALICE.user_id] == ["one"]


async def test_a_dm_slack_no_longer_knows_is_opened_again(fake: FakeSlack, messenger: Messenger) -> None:
    await messenger.direct(ALICE, Message(text="one"))
    fake.fail_next("chat.postMessage", "channel_not_found")
    await messenger.direct(ALICE, Message(text="two"))
    assert _opens(fake) == [ALICE.user_id]
    posted = [c for c in fake.calls if c.method == "chat.postMessage"]
    assert [c.args.get("text") for c in posted] == ["one", "two", "two"]  # the refused one, then again


async def test_a_checked_send_reads_the_dm_first_and_skips_what_slack_has(
    fake: FakeSlack, messenger: Messenger
) -> None:
    await messenger.direct(ALICE, Message(text="owed"), key=7)
    await messenger.direct(ALICE, Message(text="owed"), key=7, check=True)  # a retry after a crash
    await messenger.direct(ALICE, Message(text="other"), key=8, check=True)
    texts = [m.get("text") for m in fake.messages if m.get("user") == ALICE.user_id]
    assert texts == ["owed", "other"]
    assert [c.method for c in fake.calls if c.method == "conversations.history"] == ["conversations.history"] * 2


def _hook(fake: FakeSlack) -> str:
    return f"{fake.base_url.rstrip('/')}/hooks/commands/{ALICE.team_id}/0000000000001/secret"


async def test_a_200_that_says_ok_false_is_not_delivered(fake: FakeSlack, messenger: Messenger) -> None:
    fake.fail_next("response_url", "invalid_blocks")
    route = await messenger.send(ALICE, Reply(response_url=_hook(fake), issued_at=time.time()), Message(text="hi"))
    assert route == "dm"  # the next route carried it
    assert [c.args.get("text") for c in fake.calls if c.method == "chat.postMessage"] == ["hi"]


async def test_response_urls_outside_slack_are_never_posted_to(fake: FakeSlack, messenger: Messenger) -> None:
    posted: list[str] = []

    async def sink(request: web.Request) -> web.Response:
        posted.append(await request.text())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", sink)
    async with TestServer(app) as elsewhere:
        for url in (str(elsewhere.make_url("/hooks/commands/x")), "https://hooks.slack.com.evil.example/commands/x"):
            route = await messenger.send(ALICE, Reply(response_url=url, issued_at=time.time()), Message(text="hi"))
            assert route == "dm"
    assert posted == []
    assert len([c for c in fake.calls if c.method == "chat.postMessage"]) == 2
