"""bot.gmail against the fake Gmail: connections are reused, tokens never are."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.errors import GmailAuthError
from bot.gmail import Gmail
from tests.fakes.gmail import FakeGmail, default_mailbox

TOKENS = {"tok-alice": "alice", "tok-bob": "bob"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeGmail]:
    async with FakeGmail(token_owner=TOKENS.get) as gmail:
        yield gmail


async def test_users_take_turns_on_one_connection_each_with_their_own_token(fake: FakeGmail) -> None:
    gmail = Gmail(fake.base_url, max_workers=1)  # one pool thread: every call on the same thread
    seen: dict[str, dict[str, int]] = {}
    try:
        fake.set_labels("bob", [*default_mailbox("bob"), {"id": "Label_9", "name": "bob-only", "type": "user"}])
        for token in ("tok-alice", "tok-bob", "tok-alice", "tok-bob"):
            user = TOKENS[token]
            labels = await gmail.list_labels(token)
            assert ("bob-only" in {label.name for label in labels}) == (user == "bob")
            counts = {label.id: label.unread for label in labels if label.unread is not None}
            # Every count is this user's own: the fake's counts differ per user, so a count that
            # came from the other user's mailbox (a part answered with their token) would show.
            assert counts == {label_id: fake.unread(user, label_id) for label_id in counts}
            assert {"INBOX", "Label_1", "Label_2"} <= set(counts)
            seen[user] = counts
    finally:
        gmail.close()
    assert all(seen["alice"][label_id] != seen["bob"][label_id] for label_id in seen["alice"])
    assert len(fake.calls) == 8  # per listing: labels.list and one batch of labels.get
    assert {c.client_port for c in fake.calls} == {fake.calls[0].client_port}  # one kept-alive connection
    for call in fake.calls:  # the connection is shared; the Authorization header never is
        assert call.authorization == f"Bearer tok-{call.user_id}"
    assert [c.user_id for c in fake.calls[::2]] == ["alice", "bob", "alice", "bob"]
    batches = [c for c in fake.calls if c.batch_parts]
    assert [p.user_id for p in fake.batch_part_calls] == [c.user_id for c in batches for _ in range(c.batch_parts)]


async def test_a_refused_token_does_not_spoil_the_connection_for_the_next_user(fake: FakeGmail) -> None:
    gmail = Gmail(fake.base_url, max_workers=1)
    try:
        with pytest.raises(GmailAuthError):
            await gmail.list_labels("tok-mallory")
        assert await gmail.list_labels("tok-alice")
    finally:
        gmail.close()
    assert [c.user_id for c in fake.calls][-2:] == ["alice", "alice"]


async def test_a_connection_gmail_closed_while_idle_is_replaced_without_a_failure() -> None:
    async with FakeGmail(token_owner=TOKENS.get, keepalive_timeout=0.2) as fake:
        gmail = Gmail(fake.base_url, max_workers=1)
        try:
            first = await gmail.list_labels("tok-alice")
            await asyncio.sleep(0.5)  # the server has closed the kept-alive connection by now
            again = await gmail.list_labels("tok-alice")
        finally:
            gmail.close()
    assert again == first
    assert any(label.unread is not None for label in again)  # the batch went through too
    assert len({c.client_port for c in fake.calls}) == 2  # a new connection for the second listing


async def test_unread_counts_are_conversations_like_gmails_sidebar(fake: FakeGmail) -> None:
    fake.set_unread("alice", "INBOX", 9, threads_unread=4)  # nine unread messages in four conversations
    fake.set_unread("alice", "Label_6", 0, threads_unread=0)  # labelShowIfUnread, nothing unread
    gmail = Gmail(fake.base_url, max_workers=1)
    try:
        labels = {label.id: label for label in await gmail.list_labels("tok-alice")}
    finally:
        gmail.close()
    assert labels["INBOX"].unread == 4
    assert labels["Label_6"].hidden  # shown only while it has unread mail
