"""The fake Slack's additions for the reliability tests: history with metadata, holds, two workspaces."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import FakeSlack

ALICE = "U0ALICE0001"
TEAM = "T0000000001"
OTHER = "T0OTHER0001"
PUBLIC = "C0PUBLIC001"
MARK = {"event_type": "gmail_connect_delivery", "event_payload": {"outbox_id": 7}}


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as slack:
        slack.add_user(ALICE, team_id=TEAM)
        slack.add_channel(PUBLIC, members=[ALICE, slack.bot_user_id])
        yield slack


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)


async def test_history_lists_the_dm_newest_first_with_metadata_on_request(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    dm = (await client.conversations_open(users=ALICE))["channel"]["id"]
    posted = await client.chat_postMessage(channel=dm, text="first", metadata=MARK)
    assert posted["message"]["metadata"] == MARK
    for n in range(3):
        await client.chat_postMessage(channel=dm, text=f"later {n}")
    await client.chat_postMessage(channel=PUBLIC, text="elsewhere")

    plain = await client.conversations_history(channel=dm, limit=10)
    assert [m["text"] for m in plain["messages"]] == ["later 2", "later 1", "later 0", "first"]
    assert all("metadata" not in m for m in plain["messages"])
    assert plain["has_more"] is False

    full = await client.conversations_history(channel=dm, limit=10, include_all_metadata=True)
    assert full["messages"][-1]["metadata"] == MARK
    assert all(m["bot_id"] == fake.bot_id and m["type"] == "message" for m in full["messages"])

    page = await client.conversations_history(channel=dm, limit=3)
    assert page["has_more"] is True
    rest = await client.conversations_history(channel=dm, limit=3, cursor=page["response_metadata"]["next_cursor"])
    assert [m["text"] for m in rest["messages"]] == ["first"]


async def test_history_needs_a_channel_the_bot_can_read(fake: FakeSlack, client: AsyncWebClient) -> None:
    for channel, error in ((PUBLIC, "missing_scope"), ("C0NOWHERE01", "channel_not_found")):
        with pytest.raises(SlackApiError) as caught:
            await client.conversations_history(channel=channel)
        assert caught.value.response["error"] == error


async def test_metadata_must_have_a_type_and_an_object_payload(fake: FakeSlack, client: AsyncWebClient) -> None:
    for bad in ({"event_type": "no spaces allowed", "event_payload": {}}, {"event_type": "x"}):
        with pytest.raises(SlackApiError) as caught:
            await client.chat_postMessage(channel=ALICE, text="t", metadata=bad)
        assert caught.value.response["error"] == "invalid_metadata_schema"
    form = await client.api_call("chat.postMessage", data={"channel": ALICE, "text": "t", "metadata": json.dumps(MARK)})
    assert fake.messages[-1]["metadata"] == MARK
    assert form["ok"]


async def test_accept_then_delay_records_the_message_before_answering(fake: FakeSlack) -> None:
    fake.accept_then_delay("chat.postMessage", 30, match=lambda args: args.get("text") == "held")
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url, timeout=1)
    with pytest.raises(asyncio.TimeoutError):
        await client.chat_postMessage(channel=ALICE, text="held")
    assert [m["text"] for m in fake.messages] == ["held"]  # Slack has it; the sender never heard
    assert fake.held == [("after", "chat.postMessage", fake.held[0][2])]
    await client.chat_postMessage(channel=ALICE, text="not held")  # the hold was used up
    fake.release_delays()


async def test_delay_before_leaves_nothing_behind_when_the_sender_gives_up(fake: FakeSlack) -> None:
    fake.delay_before("chat.postMessage", 30)
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url, timeout=0.5)  # type: ignore[arg-type]  # typed int, used as aiohttp's float
    with pytest.raises(asyncio.TimeoutError):
        await client.chat_postMessage(channel=ALICE, text="too late")
    fake.release_delays()
    await asyncio.sleep(0.1)
    assert fake.messages == []
    assert [when for when, _, _ in fake.held] == ["before"]


async def test_response_url_posts_can_be_held_too(fake: FakeSlack) -> None:
    url = fake._issue_response_url("commands", fake.users[ALICE], PUBLIC, ephemeral_source=True)
    fake.accept_then_delay("response_url", 30)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(TimeoutError):
            await session.post(url, json={"text": "hi"}, timeout=aiohttp.ClientTimeout(total=0.5))
    assert [p["text"] for p in fake.webhook_posts] == ["hi"]
    fake.release_delays()


async def test_the_same_user_id_in_another_workspace_has_its_own_dm(fake: FakeSlack, client: AsyncWebClient) -> None:
    here = (await client.conversations_open(users=ALICE, team_id=TEAM))["channel"]["id"]
    there = (await client.conversations_open(users=ALICE, team_id=OTHER))["channel"]["id"]
    assert here != there
    await client.chat_postMessage(channel=there, text="for the other Alice")
    assert [m["text"] for m in fake.private_to(ALICE, OTHER)] == ["for the other Alice"]
    assert fake.private_to(ALICE, TEAM) == []
