"""Reading Slack's Web API failures."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError


def slack_error(exc: SlackApiError) -> str:
    """The ``error`` code of a Web API failure, e.g. ``channel_not_found``; ``unknown`` if absent."""
    try:
        return str(exc.response["error"] or "unknown")
    except (KeyError, TypeError):
        return "unknown"
