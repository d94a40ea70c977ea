"""Bad input over HTTP: unsigned, stale, malformed and hostile requests, and random ones (hypothesis).

Nothing runs for a request Slack did not sign; nothing malformed gets a 5xx or crashes the app;
nothing a user typed is reflected back into mrkdwn.
"""

from __future__ import annotations

import io
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.slack.messages import CANCEL_ACTION, DISCONNECT_ACTION, OPEN_AUTH_ACTION, START_ACTION
from tests.fakes.slack import Ack
from tests.support import GMAIL_SCOPE, label_lists, prompts
from tests.world import ALICE, BOB, CHANNEL, TEAM, World, arcade_user, text_of

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}


def command_form(user: str = ALICE, text: str = "", **extra: str) -> bytes:
    fields = {
        "token": "fakeverificationtoken00",
        "team_id": TEAM,
        "team_domain": "fake",
        "channel_id": CHANNEL,
        "channel_name": "general",
        "user_id": user,
        "user_name": user.lower(),
        "command": "/connect-gmail",
        "text": text,
        "api_app_id": "A0APP000001",
        "trigger_id": "1.2.abc",
    }
    return urlencode(fields | extra).encode()


async def signed(world: World, body: bytes, headers: dict[str, str], *, timestamp: int | None = None) -> Ack:
    return await world.slack.post_raw(body, {**headers, **world.slack.sign(body, timestamp)})


def nothing_ran(world: World) -> bool:
    return world.arcade.calls == [] and all(c.method == "auth.test" for c in world.slack.calls)


@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture) -> Iterator[list[logging.LogRecord]]:
    """ERROR records from anywhere (the bot's 'request.crashed', Bolt, asyncio's unretrieved task errors)."""
    caplog.set_level(logging.WARNING)
    found: list[logging.LogRecord] = []
    yield found
    found += [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert found == [], [f"{r.name}: {r.getMessage()}" for r in found]


# -- signatures -----------------------------------------------------------------------------------


async def test_unsigned_badly_signed_and_stale_requests_get_401_and_nothing_runs(world: World) -> None:
    await world.start_bot("http")
    body = command_form()
    now = int(time.time())
    good = world.slack.sign(body)
    cases = {
        "no signature": await world.slack.post_raw(body, FORM),
        "wrong signature": await world.slack.post_raw(body, {**FORM, **good, "X-Slack-Signature": "v0=" + "0" * 64}),
        "signature of another body": await world.slack.post_raw(command_form(text="x"), {**FORM, **good}),
        "six minutes old": await signed(world, body, FORM, timestamp=now - 360),
        "six minutes ahead": await signed(world, body, FORM, timestamp=now + 360),
        "timestamp not a number": await world.slack.post_raw(
            body, {**FORM, "X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": good["X-Slack-Signature"]}
        ),
        "signature not ASCII": await world.slack.post_raw(
            body, {**FORM, **good, "X-Slack-Signature": good["X-Slack-Signature"][:-1] + "\u00e9"}
        ),
        "signature without v0": await world.slack.post_raw(
            body, {**FORM, **good, "X-Slack-Signature": good["X-Slack-Signature"].removeprefix("v0=")}
        ),
    }
    assert {name: ack.status for name, ack in cases.items()} == dict.fromkeys(cases, 401)
    assert nothing_ran(world)
    ok = await signed(world, body, FORM)  # the same request, properly signed, does run
    assert ok.status == 200
    await world.slack.wait_for(lambda: len(prompts(world, ALICE)) == 1)


# -- malformed bodies -----------------------------------------------------------------------------

MALFORMED: dict[str, tuple[bytes, dict[str, str]]] = {
    "not UTF-8 form": (b"command=/connect-gmail&text=\xff\xfe\xfd&user_id=U0ALICE0001", FORM),
    "not UTF-8 JSON": (b'{"type": "event_callback", "event": "\xc3\x28"}', JSON),
    "truncated JSON": (b'{"type": "event_callback", "event": {"type": "mess', JSON),
    "JSON list": (b"[1, 2, 3]", JSON),
    "JSON string": (b'"event_callback"', JSON),
    "JSON null": (b"null", JSON),
    "payload not JSON": (b"payload=%7Bnot-json", FORM),
    "payload a list": (b"payload=%5B1%2C2%5D", FORM),
    "payload a string": (b"payload=%22block_actions%22", FORM),
    "payload without user": (urlencode({"payload": json.dumps({"type": "block_actions"})}).encode(), FORM),
    "event not an object": (json.dumps({"type": "event_callback", "event": "labels"}).encode(), JSON),
    "event user not a string": (
        json.dumps(
            {"type": "event_callback", "team_id": TEAM, "event_id": "Ev0BAD", "event": {"type": "message",
             "channel_type": "im", "text": "labels", "user": 123, "channel": ["D1"]}}
        ).encode(),
        JSON,
    ),
    "event_id not a string": (
        json.dumps(
            {"type": "event_callback", "team_id": TEAM, "event_id": {"a": 1},
             "event": {"type": "app_mention", "text": "labels", "user": ALICE, "channel": CHANNEL}}
        ).encode(),
        JSON,
    ),
    "command without user or team": (urlencode({"command": "/connect-gmail", "text": ""}).encode(), FORM),
    "command with team as list": (command_form(team_id="") + b"&team_id=T1&team_id=T2", FORM),
    "empty body": (b"", FORM),
    "binary": (bytes(range(256)), {"Content-Type": "application/octet-stream"}),
    "url_verification without challenge": (b'{"type": "url_verification"}', JSON),
}  # fmt: skip


async def test_malformed_bodies_get_4xx_or_are_ignored_never_5xx(world: World, errors: list[logging.LogRecord]) -> None:
    world.arcade.connect(arcade_user(ALICE), [GMAIL_SCOPE])
    await world.start_bot("http")
    statuses: dict[str, tuple[int, int]] = {}
    for name, (body, headers) in MALFORMED.items():
        signed_ack, unsigned_ack = await signed(world, body, headers), await world.slack.post_raw(body, headers)
        statuses[name] = (signed_ack.status, unsigned_ack.status)
    assert {n: s for n, s in statuses.items() if not all(0 < code < 500 for code in s)} == {}
    unparseable = [n for n in MALFORMED if n.startswith(("not UTF-8", "truncated", "payload not", "binary", "JSON "))]
    assert {n: statuses[n] for n in unparseable if statuses[n][0] != 400} == {}
    # Still serving, and still correct.
    await world.slack.dm(ALICE, "labels", team_id=TEAM)
    await world.slack.wait_for(lambda: len(label_lists(world, ALICE)) >= 1)


async def test_an_oversized_body_is_refused_with_413(world: World) -> None:
    await world.start_bot("http")
    body = command_form(text="x" * (2 * 1024 * 1024))
    headers = {**FORM, **world.slack.sign(body)}
    assert world.slack.app_url is not None
    async with (
        aiohttp.ClientSession() as session,
        session.post(world.slack.app_url, data=io.BytesIO(body), headers=headers) as r,
    ):
        assert r.status == 413
    assert nothing_ran(world)


async def test_a_command_whose_body_contains_payload_still_works(world: World) -> None:
    """Bolt's form parser takes any body containing "payload" for interactivity (slack.md fact 4)."""
    await world.start_bot("http")
    body = command_form(channel_name="payload-team", user_name="payload_fan")
    ack = await signed(world, body, FORM)
    assert ack.status == 200
    await world.slack.wait_for(lambda: len(prompts(world, ALICE)) == 1)
    usage = await world.slack.slash_command(BOB, channel_id=CHANNEL, team_id=TEAM, text="payload")
    assert usage.status == 200
    assert usage.text is not None
    assert "/connect-gmail" in usage.text


# -- what users type ------------------------------------------------------------------------------

HOSTILE_TEXTS = [
    "junk",
    "x" * 4000,
    "\U0001f600\U0001f4e7 \u202egnirts desrever",
    "<script>alert(1)</script>",
    "<!channel> <!here> <!everyone>",
    "<@U0BOB000002> <#C0GENERAL01> <https://evil.example|click me>",
    "*bold* _it_ ~strike~ `code` ```block``` &amp; &lt;",
    "labels\n\nand\tmore",
    "disconnect please",
]


async def test_unexpected_command_text_gets_a_short_usage_without_echo(
    world: World, errors: list[logging.LogRecord]
) -> None:
    await world.start_bot("http")
    for text in HOSTILE_TEXTS:
        ack = await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM, text=text)
        assert (ack.status, ack.elapsed < 3) == (200, True), text
        assert ack.json is not None, text
        shown = text_of(ack.json)
        assert "/connect-gmail" in shown, text
        assert len(shown) < 1000, text  # short
        for piece in ("<script", "<!channel", "<!here", "<@U0BOB", "<#C0", "evil.example", "\u202e", "x" * 50):
            assert piece not in ack.body, (text, piece)
        assert len(text) < 8 or text not in shown, text
        assert ack.json.get("response_type", "ephemeral") == "ephemeral"
    assert world.arcade.calls == []  # usage never starts an authorization


@pytest.mark.parametrize("word", ["help", "HELP", " status "])
async def test_known_words_are_answered_not_crashed_on(
    world: World, errors: list[logging.LogRecord], word: str
) -> None:
    await world.start_bot("http")
    ack = await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM, text=word)
    assert ack.status == 200
    await world.slack.wait_for(
        lambda: any("/connect-gmail" in text_of(m) or "Gmail" in text_of(m) for m in world.slack.private_to(ALICE))
    )


# -- random input ---------------------------------------------------------------------------------

_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
_users = st.sampled_from([ALICE, BOB]) | st.from_regex(r"\AU[A-Z0-9]{8,10}\Z")
_texts = st.sampled_from(["labels", "<@U0BOT000001> labels", "LABELS?", "", " "]) | st.text(max_size=300)
_events = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["message", "app_mention", "app_home_opened", "reaction_added"]) | st.text(max_size=15),
        "user": _users | _json,
        "text": _texts | _json,
    },
    optional={
        "channel": st.sampled_from([CHANNEL, "D0000000009", "C0UNKNOWN01"]) | _json,
        "channel_type": st.sampled_from(["im", "channel", "mpim"]),
        "subtype": st.sampled_from(["message_changed", "bot_message", "file_share"]),
        "bot_id": st.just("B0OTHER0001"),
        "tab": st.sampled_from(["home", "messages"]) | _json,
        "team": st.sampled_from([TEAM, "T0OTHER0001"]) | _json,
        "extra": _json,
    },
)
INTERACTION_TYPES = (
    "block_actions",
    "interactive_message",
    "dialog_submission",
    "view_submission",
    "view_closed",
    "shortcut",
    "message_action",
    "block_suggestion",
)
_action = st.fixed_dictionaries(
    {},
    optional={
        "action_id": st.sampled_from([OPEN_AUTH_ACTION, START_ACTION, DISCONNECT_ACTION, CANCEL_ACTION]) | _json,
        "block_id": st.text(max_size=8) | _json,
        "type": st.just("button"),
        "value": _json,
        "url": st.just("https://example.com/x") | _json,
    },
)
_interactions = st.fixed_dictionaries(
    {
        "type": st.sampled_from(INTERACTION_TYPES) | _json,
    },
    optional={
        "actions": st.lists(_action, max_size=2) | _json,
        "callback_id": st.text(max_size=8) | _json,
        "action_id": st.text(max_size=8) | _json,
        "view": st.fixed_dictionaries({"type": st.just("home")}, optional={"callback_id": _json}) | _json,
        "team": st.fixed_dictionaries({"id": st.just(TEAM)}) | _json,
        "channel": st.fixed_dictionaries({"id": st.just(CHANNEL)}) | _json,
        "container": _json,
        "message": _json,
        "trigger_id": _json,
    },
)
_requests = st.one_of(
    st.tuples(st.just("command"), _texts, _users),
    st.tuples(st.just("event"), _events | _json, st.text(max_size=12) | _json),
    st.tuples(st.just("action"), _interactions, _users | _json),
)


async def test_the_bot_never_draws_from_the_module_level_random(world: World) -> None:
    """Hypothesis forbids changes to the global ``random`` state while it generates data, and pool
    threads run whenever they like: waits, retries and Gmail's batch use generators of their own."""
    state = random.getstate()
    await world.start_bot("http")
    world.slack.rate_limit_next("chat.postEphemeral", retry_after=1)  # slack_sdk's 429 handler
    world.slack.fail_next("chat.postEphemeral", "ratelimited")  # ok: false, tried again after a backoff
    await world.slack.slash_command(ALICE, channel_id=CHANNEL, team_id=TEAM)
    await world.slack.wait_for(lambda: len(prompts(world, ALICE)) == 1, timeout=10)
    await world.arcade.approve(arcade_user(ALICE))  # a long-poll answered, then the listing
    await world.slack.wait_for(lambda: len(label_lists(world, ALICE)) == 1, timeout=10)
    [batch] = [c for c in world.gmail.calls if c.batch_parts]  # the unread counts went through a batch
    assert batch.batch_parts > 1
    assert random.getstate() == state


@pytest.fixture
async def serving(world: World) -> AsyncIterator[World]:
    """A bot that must still be healthy and correct after everything thrown at it."""
    world.arcade.connect(arcade_user(ALICE), [GMAIL_SCOPE])
    await world.start_bot("http")
    yield world
    await world.slack.slash_command(BOB, channel_id=CHANNEL, team_id=TEAM)
    await world.slack.wait_for(lambda: len(prompts(world, BOB)) >= 1, timeout=10)


async def _healthy(world: World) -> bool:
    assert world.slack.app_url is not None
    async with (
        aiohttp.ClientSession() as session,
        session.get(world.slack.app_url.replace("/slack/events", "/healthz")) as r,
    ):
        return r.status == 200


async def _send(world: World, kind: str, payload: Any, extra: Any) -> Ack:
    if kind == "command":
        return await signed(world, command_form(user=str(extra), text=str(payload)), FORM)
    if kind == "event":
        envelope = {"type": "event_callback", "team_id": TEAM, "api_app_id": "A0APP000001", "event": payload}
        envelope["event_id"] = extra
        return await signed(world, json.dumps(envelope).encode(), JSON)
    interaction = {"user": {"id": extra, "team_id": TEAM}, "api_app_id": "A0APP000001", **payload}
    return await signed(world, urlencode({"payload": json.dumps(interaction)}).encode(), FORM)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=_requests)
async def test_random_commands_events_and_clicks_never_get_a_5xx(
    serving: World, errors: list[logging.LogRecord], request: tuple[str, Any, Any]
) -> None:
    ack = await _send(serving, *request)
    assert 0 < ack.status < 500, (request, ack.status, ack.body)
    assert ack.elapsed < 3
    assert await _healthy(serving)
