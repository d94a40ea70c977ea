"""Block Kit building blocks shared by every view (pure functions)."""

from __future__ import annotations

from typing import Any

from bot.models import Message

Block = dict[str, Any]


def escape(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` the way Slack's mrkdwn requires (``&`` first)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def note(text: str) -> Message:
    """A one-section message whose fallback is the same text."""
    return Message(text=text, blocks=(section(text),))


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def button(
    text: str, action_id: str, *, style: str | None = None, url: str | None = None, value: str | None = None
) -> Block:
    element: Block = {"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": text}}
    if style:
        element["style"] = style
    if url:
        element["url"] = url
    if value:
        element["value"] = value
    return element


def actions(*elements: Block) -> Block:
    return {"type": "actions", "elements": list(elements)}
