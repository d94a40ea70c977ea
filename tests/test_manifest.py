"""manifest.yml and the listeners must agree: every command and event has a listener and vice versa."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.slack import listeners

MANIFEST = Path(__file__).resolve().parent.parent / "manifest.yml"
# Slack subscription names -> the event type Bolt's listeners see.
EVENT_TYPES = {
    "message.im": "message",
    "message.channels": "message",
    "app_mention": "app_mention",
    "app_home_opened": "app_home_opened",
}


def manifest() -> dict[str, Any]:
    data = yaml.safe_load(MANIFEST.read_text())
    assert isinstance(data, dict)
    return data


def test_every_command_has_a_listener_and_vice_versa() -> None:
    commands = {c["command"] for c in manifest()["features"]["slash_commands"]}
    assert commands == set(listeners.COMMANDS)


def test_every_event_has_a_listener_and_vice_versa() -> None:
    subscribed = manifest()["settings"]["event_subscriptions"]["bot_events"]
    assert {EVENT_TYPES[e] for e in subscribed} == set(listeners.EVENTS)


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


def test_the_usage_hint_names_what_the_command_takes() -> None:
    [command] = manifest()["features"]["slash_commands"]
    hint = command["usage_hint"]
    assert [word for word in ("help", "status", "disconnect") if word in hint] == ["help", "status", "disconnect"]
