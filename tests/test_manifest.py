"""manifest.yml and the app must agree: every command and event the manifest subscribes to, and every
button the bot sends, reaches a listener of the app ``build_app`` builds, and every listener of that
app is reached by one of them (the listeners' own matchers decide, as when Bolt dispatches)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from slack_bolt.async_app import AsyncApp
from slack_bolt.listener.async_listener import AsyncListener
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.models import AccountState, AuditEvent, Message
from bot.providers import SHIPPED, Registry
from bot.slack import home, messages
from bot.slack.app import build_app
from bot.slack.deps import Deps
from tests.world import ALICE, TEAM, buttons

MANIFEST = Path(__file__).resolve().parent.parent / "manifest.yml"
USER = ALICE


def manifest() -> dict[str, Any]:
    data = yaml.safe_load(MANIFEST.read_text())
    assert isinstance(data, dict)
    return data


class _Unused:
    """Stands in for the listeners' collaborators: matching a request never calls them."""

    def __getattr__(self, name: str) -> Any:
        def called(*args: Any, **kwargs: Any) -> None:
            raise AssertionError(f"deps.{name} was called while only matching requests")

        return called


@pytest.fixture
def app() -> AsyncApp:
    client = AsyncWebClient(token="xoxb-manifest-test", base_url="http://127.0.0.1:9/")  # never called
    stand_in = cast(Any, _Unused())
    deps = Deps(client=client, delivery=stand_in, store=stand_in, clock=lambda: 0.0, after_ack=stand_in)
    return build_app(deps, signing_secret=None)


def _request(body: dict[str, Any]) -> AsyncBoltRequest:
    return AsyncBoltRequest(body=body, mode="socket_mode")


def _event(subscription: str) -> AsyncBoltRequest:
    """A Slack delivery for an event subscription (``message.im`` is a ``message`` in a DM)."""
    event_type, _, where = subscription.partition(".")
    event: dict[str, Any] = {"type": event_type, "user": USER, "text": "labels", "channel": "D0000000001"}
    if where:
        event["channel_type"] = where
    return _request({"type": "event_callback", "team_id": TEAM, "event_id": "Ev01", "event": event})


def _command(command: str) -> AsyncBoltRequest:
    return _request({"command": command, "text": "", "team_id": TEAM, "user_id": USER, "channel_id": "C0000000001"})


def _click(action_id: str) -> AsyncBoltRequest:
    action = {"type": "button", "action_id": action_id, "block_id": "b", "value": "v"}
    return _request({"type": "block_actions", "team": {"id": TEAM}, "user": {"id": USER}, "actions": [action]})


def _sent_action_ids() -> set[str]:
    """The action ids of every button in every message and view the bot renders, for every provider."""
    now, history = 1_700_000_000.0, [AuditEvent("completed", "", 1_699_999_000.0)]
    providers = Registry(SHIPPED)
    connected = AccountState("a@example.com", ("scope",), now, now, None, [])
    idle = AccountState(None, None, None, None, now + 300, [])
    rendered: list[Any] = [
        home.help_message(),
        home.help_all(list(providers)),
        messages.choose(providers),
        home.home_view([(p, idle, providers.sharing(p)) for p in providers], []),
        home.home_view([(p, connected, providers.sharing(p)) for p in providers], history),
    ]
    for p in providers:
        rendered += [
            messages.prompt(p, "https://example.com/auth", int(now) + 600),
            messages.prompt(p, "https://example.com/auth", int(now) + 600, again=True, waiting=True),
            messages.failed(p),
            messages.expired(p, 10),
            home.confirm_disconnect(p, providers.sharing(p)),
            home.status_message([(p, idle)]),
            home.status_message([(p, connected)]),
        ]
    payloads = [m.as_payload() if isinstance(m, Message) else m for m in rendered]
    return {button["action_id"] for payload in payloads for button in buttons(payload)}


def _requests() -> dict[str, AsyncBoltRequest]:
    data = manifest()
    requests = {f"command {c['command']}": _command(c["command"]) for c in data["features"]["slash_commands"]}
    requests |= {f"event {e}": _event(e) for e in data["settings"]["event_subscriptions"]["bot_events"]}
    requests |= {f"button {a}": _click(a) for a in _sent_action_ids()}
    return requests


async def _matching(app: AsyncApp, request: AsyncBoltRequest) -> list[AsyncListener]:
    listeners: list[AsyncListener] = app._async_listeners  # Bolt keeps no public list of its listeners
    return [li for li in listeners if await li.async_matches(req=request, resp=BoltResponse(status=200))]


async def test_every_command_event_and_button_reaches_a_listener(app: AsyncApp) -> None:
    requests = _requests()
    expected = {"command /connect-gmail", "command /connect", "event message.im", "event app_mention"}
    assert expected | {"event app_home_opened"} <= set(requests)
    assert sum(name.startswith("button ") for name in requests) >= 4 * len(SHIPPED)  # four buttons per provider
    assert [name for name, request in requests.items() if not await _matching(app, request)] == []


async def test_every_listener_is_reached_by_the_manifest_or_a_button_the_bot_sends(app: AsyncApp) -> None:
    reached: set[int] = set()
    for request in _requests().values():
        reached |= {id(li) for li in await _matching(app, request)}
    listeners = app._async_listeners
    assert len(listeners) >= 5 + 4 * len(SHIPPED)
    assert [li for li in listeners if id(li) not in reached] == []


async def test_a_command_event_or_button_the_manifest_does_not_name_reaches_no_listener(app: AsyncApp) -> None:
    """The check above can fail: what the app does not handle matches nothing."""
    for request in (_command("/other"), _event("reaction_added"), _click("other")):
        assert await _matching(app, request) == []


def test_scopes_cover_what_the_bot_calls() -> None:
    scopes = set(manifest()["oauth_config"]["scopes"]["bot"])
    # commands: /connect-gmail; chat:write: ephemeral and DM answers; im:write: conversations.open;
    # im:history: message.im; app_mentions:read: app_mention.
    assert scopes == {"commands", "chat:write", "im:write", "im:history", "app_mentions:read"}


def test_socket_mode_interactivity_and_dms_are_on() -> None:
    data = manifest()
    assert data["settings"]["socket_mode_enabled"] is True
    assert data["settings"]["interactivity"]["is_enabled"] is True  # link buttons still send block_actions
    assert data["features"]["app_home"]["messages_tab_enabled"] is True
    assert data["features"]["app_home"]["home_tab_enabled"] is True
    assert data["features"]["app_home"]["messages_tab_read_only_enabled"] is False


def test_sign_in_with_slack_is_set_up_for_the_verifier() -> None:
    oauth = manifest()["oauth_config"]
    assert oauth["scopes"]["user"] == ["openid"]
    [redirect] = oauth["redirect_urls"]
    assert redirect.startswith("https://")
    assert redirect.endswith("/arcade/verify/callback")
    # Development mode's users.info scopes stay opt-in (commented out), so production asks for no emails.
    assert not {"users:read", "users:read.email"} & set(oauth["scopes"]["bot"])
    assert "# - users:read.email" in MANIFEST.read_text()


def test_the_usage_hints_name_what_the_commands_take() -> None:
    commands = {c["command"]: c["usage_hint"] for c in manifest()["features"]["slash_commands"]}
    assert set(commands) == {"/connect-gmail", "/connect"}
    hint = commands["/connect-gmail"]
    assert [word for word in ("help", "status", "disconnect") if word in hint] == ["help", "status", "disconnect"]
    hint = commands["/connect"]
    assert all(word in hint for word in ("help", "status", "disconnect", *(p.name for p in SHIPPED)))
