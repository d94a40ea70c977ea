"""bot.gmail against the fake Gmail: connections are reused, tokens never are; errors and batches."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from bot.errors import GmailAuthError, GmailRateLimited, GmailUnavailable
from bot.gmail import NUM_RETRIES, Gmail
from bot.gmail_batch import batch_body, parse_batch
from tests.fakes.gmail import FakeGmail, default_mailbox

TOKENS = {"tok-alice": "alice", "tok-bob": "bob"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeGmail]:
    async with FakeGmail(token_owner=TOKENS.get) as gmail:
        yield gmail


async def test_users_take_turns_on_one_connection_each_with_their_own_token(fake: FakeGmail) -> None:
    seen: dict[str, dict[str, int]] = {}
    async with Gmail.open(fake.base_url, max_connections=1) as gmail:  # one connection for everyone
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
    assert all(seen["alice"][label_id] != seen["bob"][label_id] for label_id in seen["alice"])
    assert len(fake.calls) == 8  # per listing: labels.list and one batch of labels.get
    assert {c.client_port for c in fake.calls} == {fake.calls[0].client_port}  # one kept-alive connection
    for call in fake.calls:  # the connection is shared; the Authorization header never is
        assert call.authorization == f"Bearer tok-{call.user_id}"
    assert [c.user_id for c in fake.calls[::2]] == ["alice", "bob", "alice", "bob"]
    batches = [c for c in fake.calls if c.batch_parts]
    assert [p.user_id for p in fake.batch_part_calls] == [c.user_id for c in batches for _ in range(c.batch_parts)]


async def test_a_refused_token_does_not_spoil_the_connection_for_the_next_user(fake: FakeGmail) -> None:
    async with Gmail.open(fake.base_url, max_connections=1) as gmail:
        with pytest.raises(GmailAuthError):
            await gmail.list_labels("tok-mallory")
        assert await gmail.list_labels("tok-alice")
    assert [c.user_id for c in fake.calls][-2:] == ["alice", "alice"]


async def test_a_connection_gmail_closed_while_idle_is_replaced_without_a_failure() -> None:
    async with (
        FakeGmail(token_owner=TOKENS.get, keepalive_timeout=0.2) as fake,
        Gmail.open(fake.base_url, max_connections=1) as gmail,
    ):
        first = await gmail.list_labels("tok-alice")
        await asyncio.sleep(0.5)  # the server has closed the kept-alive connection by now
        again = await gmail.list_labels("tok-alice")
    assert again == first
    assert any(label.unread is not None for label in again)  # the batch went through too
    assert len({c.client_port for c in fake.calls}) == 2  # a new connection for the second listing


async def test_unread_counts_are_conversations_like_gmails_sidebar(fake: FakeGmail) -> None:
    fake.set_unread("alice", "INBOX", 9, threads_unread=4)  # nine unread messages in four conversations
    fake.set_unread("alice", "Label_6", 0, threads_unread=0)  # labelShowIfUnread, nothing unread
    async with Gmail.open(fake.base_url) as gmail:
        labels = {label.id: label for label in await gmail.list_labels("tok-alice")}
    assert labels["INBOX"].unread == 4
    assert labels["Label_6"].hidden  # shown only while it has unread mail


@pytest.mark.parametrize(
    ("status", "reason", "error", "calls"),
    [
        (401, None, GmailAuthError, 1),  # refused token: never retried, never refreshed here
        (403, "insufficientPermissions", GmailAuthError, 1),
        (429, None, GmailRateLimited, 1 + NUM_RETRIES),
        (403, "rateLimitExceeded", GmailRateLimited, 1 + NUM_RETRIES),
    ],
)
async def test_errors_are_read_as_google_documents_them(
    fake: FakeGmail, status: int, reason: str | None, error: type[Exception], calls: int
) -> None:
    fake.fail_next(status, times=10, reason=reason)
    async with Gmail.open(fake.base_url) as gmail:
        with pytest.raises(error):
            await gmail.list_labels("tok-alice")
    assert len(fake.calls) == calls


async def test_a_server_error_is_retried_and_the_listing_completes(fake: FakeGmail) -> None:
    fake.fail_next(503)
    async with Gmail.open(fake.base_url) as gmail:
        labels = await gmail.list_labels("tok-alice")
    assert [c.path.endswith("/labels") for c in fake.calls] == [True, True, False]  # 503, again, the batch
    assert any(label.unread is not None for label in labels)


def _answer(boundary: str, *parts: tuple[str, str, str], newline: str = "\r\n") -> bytes:
    text = "".join(
        f"--{boundary}{newline}Content-Type: application/http{newline}Content-ID: {cid}{newline}{newline}"
        f"HTTP/1.1 {status}{newline}Content-Type: application/json{newline}{newline}{body}{newline}"
        for cid, status, body in parts
    )
    return f"{text}--{boundary}--{newline}".encode()


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
@pytest.mark.parametrize("content_type", ['multipart/mixed; boundary="b_1"', "multipart/mixed; boundary=b_1"])
def test_a_batch_answer_is_read_part_by_part(newline: str, content_type: str) -> None:
    content = _answer(
        "b_1",
        ("<response-INBOX>", "200 OK", '{"id": "INBOX", "threadsUnread": 3}'),
        ("<response-Label_1>", "404 Not Found", '{"error": {"code": 404}}'),
        ("response-Label_2", "200 OK", '{"id": "Label_2", "threadsUnread": 0}'),
        ("<other-Label_3>", "200 OK", '{"id": "Label_3"}'),
        ("<response-Label_4>", "200 OK", "not json"),
        newline=newline,
    )
    assert parse_batch(content_type, content) == {
        "INBOX": {"id": "INBOX", "threadsUnread": 3},
        "Label_2": {"id": "Label_2", "threadsUnread": 0},
    }


def test_a_batch_request_names_each_part_and_carries_no_token() -> None:
    content_type, body = batch_body("https://gmail.example/gmail/v1/users/me/labels", ["INBOX", "Label/1"])
    boundary = content_type.split('boundary="', 1)[1].rstrip('"')
    text = body.decode()
    assert text.count(f"--{boundary}\r\n") == 2
    assert text.endswith(f"--{boundary}--\r\n")
    assert "Content-ID: <INBOX>" in text
    assert "GET /gmail/v1/users/me/labels/Label%2F1?alt=json HTTP/1.1" in text
    assert "authorization" not in text.lower()
    assert batch_body("https://g/x", ["A"])[0] != content_type  # a fresh boundary each time


async def test_a_gmail_that_cannot_be_reached_is_reported_after_the_retries() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with Gmail.open(f"http://127.0.0.1:{port}/") as gmail:
        with pytest.raises(GmailUnavailable, match="unreachable"):
            await gmail.list_labels("tok-alice")


async def test_a_listing_queued_behind_a_busy_pool_is_not_timed_out(fake: FakeGmail) -> None:
    fake.set_latency(0.1)
    async with Gmail.open(fake.base_url, max_connections=1, request_timeout=0.3) as gmail:
        # Twenty listings through one connection: the last ones wait ~4 s for it, far longer than the
        # timeout of a request (and its retries), which each one (0.1 s) stays well within.
        results = await asyncio.gather(*(gmail.list_labels(t) for t in ["tok-alice", "tok-bob"] * 10))
    assert all(results)
