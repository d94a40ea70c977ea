"""Slack payloads (plain dicts) converted once into our types."""

from __future__ import annotations

from typing import Any

from bot.models import SlackUser
from bot.slack.reply import Reply


def who_and_where(body: dict[str, Any], now: float) -> tuple[SlackUser | None, Reply]:
    """The user a Slack payload came from and the private way back to them."""
    event = body.get("event") if isinstance(body.get("event"), dict) else None
    user_field = body.get("user")
    if isinstance(user_field, dict):  # interactivity
        user_id = user_field.get("id")
        team_id = user_field.get("team_id") or (body.get("team") or {}).get("id")
        channel_id = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    elif event is not None:  # Events API
        user_id = event.get("user")
        team_id = event.get("team") or body.get("team_id")
        channel_id = event.get("channel")
    else:  # slash command
        user_id = body.get("user_id")
        team_id = body.get("team_id")
        channel_id = body.get("channel_id")
    response_url = body.get("response_url")
    reply = Reply(
        channel_id=channel_id if isinstance(channel_id, str) else None,
        response_url=response_url if isinstance(response_url, str) else None,
        issued_at=now,
    )
    if isinstance(user_id, str) and isinstance(team_id, str) and user_id and team_id:
        return SlackUser(team_id, user_id), reply
    return None, reply
