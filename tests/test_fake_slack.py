"""The fake Slack, exercised with the real slack_sdk / slack_bolt clients over loopback HTTP."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from tests.fakes.slack import FakeSlack

ALICE = "U0ALICE0001"
BOB = "U0BOB000001"
PUBLIC = "C0PUBLIC001"
PRIVATE = "G0PRIVATE01"
WITH_BOT = "C0WITHBOT01"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as slack:
        yield slack


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)


@pytest.fixture
async def bolt(fake: FakeSlack) -> AsyncIterator[list[dict[str, Any]]]:
    """A minimal Bolt app in HTTP mode behind aiohttp; yields the request bodies its listeners saw."""
    app = AsyncApp(
        signing_secret=fake.signing_secret,
        client=AsyncWebClient(token=fake.bot_token, base_url=fake.api_url),
    )
    seen: list[dict[str, Any]] = []

    @app.command("/connect-gmail")
    async def command(ack: AsyncAck, body: dict[str, Any]) -> None:
        seen.append(body)
        await ack("hi")

    @app.action("connect_gmail_open")
    async def action(ack: AsyncAck, body: dict[str, Any]) -> None:
        seen.append(body)
        await ack()

    @app.message(re.compile(r"^labels$"))
    async def labels(body: dict[str, Any]) -> None:
        seen.append(body)

    async def endpoint(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    server = web.Application()
    server.router.add_post("/slack/events", endpoint)
    runner = web.AppRunner(server, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    fake.app_url = f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
    yield seen
    await runner.cleanup()


# -- Web API ------------------------------------------------------------------------------------


async def test_dm_after_conversations_open_is_private(fake: FakeSlack, client: AsyncWebClient) -> None:
    opened = await client.conversations_open(users=ALICE)
    channel = opened["channel"]["id"]
    assert channel == fake.dm_channel_id(ALICE)
    assert re.fullmatch(r"D[A-Z0-9]{8,}", channel)

    posted = await client.chat_postMessage(
        channel=channel, text="Your labels", blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "• INBOX"}}]
    )

    assert re.fullmatch(r"\d{10}\.\d{6}", posted["ts"])
    assert posted["message"]["bot_id"] == fake.bot_id
    [item] = fake.private_to(ALICE)
    assert (item["via"], item["text"], item["user"], item["channel"]) == ("dm", "Your labels", ALICE, channel)
    assert fake.private_to(BOB) == []
    assert fake.public_messages() == []
    assert [(c.method, c.token) for c in fake.calls] == [
        ("conversations.open", fake.bot_token),
        ("chat.postMessage", fake.bot_token),
    ]
    again = await client.conversations_open(users=ALICE)
    assert again["already_open"] is True


async def test_post_ephemeral_in_the_bots_own_dm_is_allowed(fake: FakeSlack, client: AsyncWebClient) -> None:
    """Slack's reference: an IM channel the bot is part of takes ephemerals (to its user)."""
    await client.chat_postEphemeral(channel=fake.dm_channel_id(ALICE), user=ALICE, text="psst")
    assert [(i["via"], i["text"]) for i in fake.private_to(ALICE)] == [("ephemeral", "psst")]
    with pytest.raises(SlackApiError) as error:
        await client.chat_postEphemeral(channel=ALICE, user=ALICE, text="psst")  # a user id is no channel
    assert error.value.response["error"] == "channel_not_found"


@pytest.mark.parametrize(("argument", "error"), [("latest", "invalid_ts_latest"), ("oldest", "invalid_ts_oldest")])
async def test_history_with_a_bad_timestamp_gets_slacks_own_error(
    fake: FakeSlack, client: AsyncWebClient, argument: str, error: str
) -> None:
    channel = fake.dm_channel_id(ALICE)
    await client.chat_postMessage(channel=channel, text="one")
    with pytest.raises(SlackApiError) as refused:
        await client.api_call("conversations.history", params={"channel": channel, argument: "yesterday"})
    assert refused.value.response["error"] == error


@pytest.mark.parametrize(
    ("method", "channel", "error"),
    [
        ("chat_postMessage", PUBLIC, "not_in_channel"),
        ("chat_postMessage", PRIVATE, "channel_not_found"),
        ("chat_postMessage", "D0HUMANS001", "channel_not_found"),
        ("chat_postMessage", "C0UNKNOWN01", "channel_not_found"),
        ("chat_postEphemeral", PUBLIC, "not_in_channel"),
        ("chat_postEphemeral", PRIVATE, "channel_not_found"),
    ],
)
async def test_channels_the_bot_is_not_in(
    fake: FakeSlack, client: AsyncWebClient, method: str, channel: str, error: str
) -> None:
    fake.add_channel(PUBLIC, members=[ALICE])
    fake.add_channel(PRIVATE, members=[ALICE], is_private=True)
    fake.add_channel("D0HUMANS001", members=[ALICE, BOB])
    with pytest.raises(SlackApiError) as raised:
        await getattr(client, method)(channel=channel, user=ALICE, text="hello")
    assert raised.value.response["error"] == error


async def test_ephemeral_needs_the_recipient_in_the_channel(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.add_channel(WITH_BOT, members=[ALICE, fake.bot_user_id])
    with pytest.raises(SlackApiError, match="user_not_in_channel"):
        await client.chat_postEphemeral(channel=WITH_BOT, user=BOB, text="hello")
    await client.chat_postEphemeral(channel=WITH_BOT, user=ALICE, text="hello")
    await client.chat_postMessage(channel=WITH_BOT, text="everyone")
    assert [(i["via"], i["text"]) for i in fake.private_to(ALICE)] == [("ephemeral", "hello")]
    assert [(m["via"], m["text"]) for m in fake.public_messages()] == [("channel", "everyone")]


async def test_messages_tab_disabled(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.add_user(BOB, messages_tab=False)
    opened = await client.conversations_open(users=BOB)
    with pytest.raises(SlackApiError, match="messages_tab_disabled"):
        await client.chat_postMessage(channel=opened["channel"]["id"], text="hi")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({}, "no_text"),
        ({"text": "x", "blocks": [{"type": "divider"}] * 51}, "msg_blocks_too_long"),
        (
            {"text": "x", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]},
            "invalid_blocks",
        ),
        (
            {"text": "x", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3001}}]},
            "invalid_blocks",
        ),
        ({"text": "x", "blocks": [{"text": "no type"}]}, "invalid_blocks"),
        (
            {
                "text": "x",
                "blocks": [
                    {
                        "type": "actions",
                        "elements": [
                            {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "b" * 76}}
                        ],
                    }
                ],
            },
            "invalid_blocks",
        ),
    ],
)
async def test_block_kit_limits(fake: FakeSlack, client: AsyncWebClient, kwargs: dict[str, Any], error: str) -> None:
    with pytest.raises(SlackApiError) as raised:  # api_call: chat_postMessage would warn about missing text
        await client.api_call("chat.postMessage", json={"channel": fake.dm_channel_id(ALICE), **kwargs})
    assert raised.value.response["error"] == error
    assert fake.messages == []


async def test_tokens(fake: FakeSlack) -> None:
    auth = await AsyncWebClient(token=fake.bot_token, base_url=fake.api_url).auth_test()
    assert (auth["user_id"], auth["bot_id"], auth["team_id"]) == (fake.bot_user_id, fake.bot_id, fake.team_id)
    with pytest.raises(SlackApiError, match="not_authed"):
        await AsyncWebClient(base_url=fake.api_url).auth_test()
    with pytest.raises(SlackApiError, match="invalid_auth"):
        await AsyncWebClient(token="xoxb-wrong", base_url=fake.api_url).auth_test()
    with pytest.raises(SlackApiError, match="not_allowed_token_type"):
        await AsyncWebClient(token=fake.app_token, base_url=fake.api_url).chat_postMessage(channel=ALICE, text="x")


async def test_rate_limit_is_retried_transparently(fake: FakeSlack) -> None:
    retrying = AsyncWebClient(
        token=fake.bot_token,
        base_url=fake.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    fake.rate_limit_next("chat.postMessage", retry_after=0)

    await retrying.chat_postMessage(channel=fake.dm_channel_id(ALICE), text="after a 429")

    assert [c.method for c in fake.calls] == ["chat.postMessage", "chat.postMessage"]
    assert [m["text"] for m in fake.messages] == ["after a 429"]


async def test_rate_limit_and_injected_errors_without_retries(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.rate_limit_next("users.info", retry_after=7)
    with pytest.raises(SlackApiError) as raised:
        await client.users_info(user=ALICE)
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "7"
    assert raised.value.response["error"] == "ratelimited"

    fake.fail_next("users.info", "fatal_error", times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError, match="fatal_error"):
            await client.users_info(user=ALICE)
    info = await client.users_info(user=ALICE)
    assert info["user"]["profile"]["email"] == "u0alice0001@example.com"


async def test_update_and_home_view(fake: FakeSlack, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel=ALICE, text="waiting…")  # channel=U… means the app's DM
    assert posted["channel"] == fake.dm_channel_id(ALICE)
    await client.chat_update(channel=posted["channel"], ts=posted["ts"], text="done")
    with pytest.raises(SlackApiError, match="message_not_found"):
        await client.chat_update(channel=posted["channel"], ts="1700000000.000100", text="nope")
    assert [m["text"] for m in fake.messages] == ["done"]

    view = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Connect"}}]}
    published = await client.views_publish(user_id=ALICE, view=view)
    assert fake.home_views[ALICE]["id"] == published["view"]["id"]
    with pytest.raises(SlackApiError, match="hash_conflict"):
        await client.views_publish(user_id=ALICE, view=view, hash="1700000000.stale")


# -- HTTP mode with a real Bolt app -------------------------------------------------------------


async def test_slash_command_over_http_is_signed_and_acked(fake: FakeSlack, bolt: list[dict[str, Any]]) -> None:
    ack = await fake.slash_command(ALICE, text="now")

    assert (ack.status, ack.text) == (200, "hi")
    [body] = bolt
    assert (body["user_id"], body["text"], body["channel_id"]) == (ALICE, "now", fake.dm_channel_id(ALICE))
    assert body["response_url"].startswith(f"{fake.base_url}hooks/commands/{fake.team_id}/")
    assert [(i["via"], i["text"]) for i in fake.private_to(ALICE)] == [("ack", "hi")]
    assert "auth.test" in [c.method for c in fake.calls]  # Bolt's lazy authorization went to the fake


async def test_unsigned_and_stale_requests_are_rejected(fake: FakeSlack, bolt: list[dict[str, Any]]) -> None:
    body = b"command=%2Fconnect-gmail&user_id=U0ALICE0001&text="
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert (await fake.post_raw(body, headers)).status == 401
    stale = fake.sign(body, timestamp=1_700_000_000)
    assert (await fake.post_raw(body, headers | stale)).status == 401
    assert bolt == []


async def test_block_action_and_dm_event_over_http(fake: FakeSlack, bolt: list[dict[str, Any]]) -> None:
    clicked = await fake.block_action(ALICE, action_id="connect_gmail_open", url="https://example.com/auth")
    dm = await fake.dm(ALICE, "labels", event_id="Ev0000000042", retry_num=1, retry_reason="http_timeout")
    unhandled = await fake.mention(ALICE, WITH_BOT, "hello")

    assert (clicked.status, dm.status, unhandled.status) == (200, 200, 404)  # no app_mention listener
    action, event = bolt
    assert action["actions"][0]["url"] == "https://example.com/auth"
    assert action["container"]["is_ephemeral"] is True
    assert (event["event_id"], event["event"]["channel_type"]) == ("Ev0000000042", "im")


async def test_response_url_allows_five_uses(fake: FakeSlack, bolt: list[dict[str, Any]]) -> None:
    await fake.slash_command(ALICE)
    webhook = AsyncWebhookClient(url=bolt[0]["response_url"])

    statuses = [(await webhook.send(text=f"update {n}")).status_code for n in range(6)]

    assert statuses == [200] * 5 + [404]
    assert (await webhook.send(text="again")).body == "used_url"
    assert len(fake.webhook_posts) == 5
    assert [i["via"] for i in fake.private_to(ALICE)] == ["ack"] + ["response_url"] * 5


async def test_response_url_expires(fake: FakeSlack, bolt: list[dict[str, Any]]) -> None:
    await fake.slash_command(ALICE)
    await fake.slash_command(ALICE)
    first, second = (AsyncWebhookClient(url=body["response_url"]) for body in bolt)
    assert (await first.send(text="public", response_type="in_channel")).body == "ok"
    assert [m["text"] for m in fake.public_messages()] == ["public"]

    issued_at = fake.clock()
    fake.clock = lambda: issued_at + 30 * 60 + 1
    response = await first.send(text="too late")
    assert (response.status_code, response.body) == (404, "expired_url")

    fake.clock = lambda: issued_at
    fake.expire_response_urls()
    assert (await second.send(text="expired by switch")).body == "expired_url"
    assert [p["text"] for p in fake.webhook_posts] == ["public"]


# -- Socket Mode with the real slack_sdk client -------------------------------------------------


async def test_socket_mode_slash_command_reconnect_and_missing_ack(fake: FakeSlack) -> None:
    received: list[SocketModeRequest] = []

    async def on_request(client: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        received.append(request)
        if request.type == "slash_commands":
            await client.send_socket_mode_response(
                SocketModeResponse(envelope_id=request.envelope_id, payload={"text": "hello over the socket"})
            )

    socket = SocketModeClient(
        app_token=fake.app_token, web_client=AsyncWebClient(base_url=fake.api_url), ping_interval=1
    )
    socket.socket_mode_request_listeners.append(on_request)
    try:
        await socket.connect()
        await fake.wait_socket_connected()
        assert [(c.method, c.token) for c in fake.calls] == [("apps.connections.open", fake.app_token)]

        ack = await fake.slash_command(ALICE, text="go", mode="socket")

        assert (ack.status, ack.text) == (200, "hello over the socket")
        assert json.loads(ack.body) == {"text": "hello over the socket"}
        [request] = received
        assert (request.type, request.payload["user_id"], request.payload["text"]) == ("slash_commands", ALICE, "go")
        assert request.payload["response_url"].startswith(f"{fake.base_url}hooks/commands/")

        await fake.disconnect_socket()
        await fake.wait_for(lambda: fake.socket_connections == 2)
        await fake.wait_socket_connected()
        assert [c.method for c in fake.calls].count("apps.connections.open") == 2

        fake.ack_timeout = 0.2  # the listener never acks events: Slack would count a failure
        missed = await fake.dm(ALICE, "labels", mode="socket")
        assert (missed.status, missed.body, missed.json) == (0, "", None)
        assert received[-1].type == "events_api"
        assert received[-1].retry_attempt == 0
    finally:
        await socket.close()


async def test_bolt_socket_mode_handler_end_to_end(fake: FakeSlack) -> None:
    app = AsyncApp(client=AsyncWebClient(token=fake.bot_token, base_url=fake.api_url))

    @app.command("/connect-gmail")
    async def command(ack: AsyncAck, respond: AsyncRespond, client: AsyncWebClient, command: dict[str, Any]) -> None:
        await ack(text="working on it")
        await respond(text="still here", replace_original=False)
        dm = await client.conversations_open(users=command["user_id"])
        await client.chat_postMessage(channel=dm["channel"]["id"], text="your labels")

    handler = AsyncSocketModeHandler(app, fake.app_token)
    try:
        await handler.connect_async()
        await fake.wait_socket_connected()

        ack = await fake.slash_command(ALICE, mode="socket")
        await fake.wait_for(lambda: len(fake.private_to(ALICE)) == 3)

        assert ack.text == "working on it"
        # Bolt acks once ack() is called but the listener runs on: respond() may land before the ack.
        assert sorted((i["via"], i["text"]) for i in fake.private_to(ALICE)) == [
            ("ack", "working on it"),
            ("dm", "your labels"),
            ("response_url", "still here"),
        ]
    finally:
        await handler.close_async()


async def test_echoed_bot_message_is_ignored_by_bolt(
    fake: FakeSlack, bolt: list[dict[str, Any]], client: AsyncWebClient
) -> None:
    fake.echo_bot_messages("http")

    await client.chat_postMessage(channel=fake.dm_channel_id(ALICE), text="labels")
    await fake.wait_for(lambda: len(fake.acks) == 1)

    assert (fake.acks[0].kind, fake.acks[0].status) == ("events_api", 200)  # acked by IgnoringSelfEvents
    assert bolt == []
