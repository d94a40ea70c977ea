"""Account views (pure Block Kit builders): help, status, disconnect, and the App Home tab."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.config import GMAIL_SCOPE
from bot.models import AuditEvent, Message
from bot.slack.kit import Block, actions, button, context, escape, section
from bot.slack.messages import CANCEL_ACTION, DISCONNECT_ACTION, START_ACTION

SCOPE_WORDS = {
    GMAIL_SCOPE: "read your Gmail (messages and labels), read-only",
    "https://www.googleapis.com/auth/gmail.labels": "see and manage your Gmail labels",
    "https://www.googleapis.com/auth/gmail.metadata": "read your Gmail metadata (labels and headers)",
}
EVENT_WORDS = {
    "requested": "Asked for labels",
    "prompted": "Authorization link sent",
    "completed": "Connected",
    "failed": "Authorization failed or declined",
    "expired": "Authorization link expired",
    "disconnected": "Disconnected",
    "delivery_sent": "Answer delivered",
    "labels_sent": "Labels sent",
}


def when(at: float) -> str:
    """A time shown in the reader's own time zone (with a UTC fallback for old clients)."""
    fallback = datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at)}^{{date_short_pretty}} {{time}}|{fallback}>"


def scope_words(scopes: tuple[str, ...]) -> list[str]:
    return [SCOPE_WORDS.get(scope, escape(scope)) for scope in scopes]


def help_message() -> Message:
    text = (
        "*Gmail for Slack*\n"
        "`/connect-gmail` connects your Google account through Arcade, then lists your Gmail labels "
        "here, privately. After that, DM me `labels` or mention me with `labels` at any time.\n\n"
        "*What I can read:* read-only access to your Gmail. I only use it to list your labels and "
        "their unread counts; I never send, change or delete mail. Arcade keeps the authorization; "
        "I never store your Google token.\n\n"
        "*Your connection:* `/connect-gmail status` shows it, `/connect-gmail disconnect` removes it. "
        "You can also revoke access in your Google Account under Security → Third-party access."
    )
    return Message(text="What the Gmail bot does and how to disconnect", blocks=(section(text),))


def status_message(
    email: str | None,
    scopes: tuple[str, ...] | None,
    since: float | None,
    pending_until: float | None,
) -> Message:
    """``scopes`` None means not connected."""
    if scopes is None:
        lines = [":white_circle: *Gmail is not connected.* Run `/connect-gmail` to connect it."]
    else:
        who = f" as {escape(email)}" if email else ""
        lines = [f":large_green_circle: *Gmail is connected{who}.*"]
        if since is not None:
            lines.append(f"Connected since {when(since)}.")
        lines.append("Access: " + "; ".join(scope_words(scopes)) + ".")
    if pending_until is not None:
        lines.append(f":hourglass_flowing_sand: An authorization link is waiting for you until {when(pending_until)}.")
    text = "\n".join(lines)
    return Message(text="Your Gmail connection", blocks=(section(text),))


def confirm_disconnect() -> Message:
    text = (
        "*Disconnect Gmail?* Arcade will forget your Google authorization and I won't be able to read "
        "your labels until you connect again."
    )
    buttons = actions(button("Disconnect", DISCONNECT_ACTION, style="danger"), button("Cancel", CANCEL_ACTION))
    return Message(text="Disconnect Gmail?", blocks=(section(text), buttons))


def disconnected(removed: int) -> Message:
    text = (
        ":wave: Gmail disconnected. Run `/connect-gmail` to connect again."
        if removed
        else "Gmail was not connected, so there was nothing to disconnect."
    )
    return Message(text=text, blocks=(section(text),))


def kept() -> Message:
    text = "OK, your Gmail stays connected."
    return Message(text=text, blocks=(section(text),))


def home_view(
    email: str | None,
    scopes: tuple[str, ...] | None,
    since: float | None,
    last_used: float | None,
    pending_until: float | None,
    history: list[AuditEvent],
) -> dict[str, Any]:
    """The App Home tab for one user: their connection, one action, and their own recent events."""
    status = status_message(email, scopes, since, pending_until).blocks
    blocks: list[Block] = [{"type": "header", "text": {"type": "plain_text", "text": "Your Gmail connection"}}]
    blocks.extend(status)
    if last_used is not None:
        blocks.append(context(f"Last used {when(last_used)}"))
    if scopes is None:
        action = button("Connect Gmail", START_ACTION, style="primary")
    else:
        action = button("Disconnect", DISCONNECT_ACTION, style="danger")
        action["confirm"] = {
            "title": {"type": "plain_text", "text": "Disconnect Gmail?"},
            "text": {"type": "mrkdwn", "text": "Arcade will forget your Google authorization."},
            "confirm": {"type": "plain_text", "text": "Disconnect"},
            "deny": {"type": "plain_text", "text": "Cancel"},
            "style": "danger",
        }
    blocks.append(actions(action))
    blocks.append({"type": "divider"})
    blocks.append(section("*Recent activity*"))
    if history:
        lines = [f"• {EVENT_WORDS.get(e.event, escape(e.event))} — {when(e.at)}" for e in history]
        blocks.append(section("\n".join(lines)))
    else:
        blocks.append(context("Nothing yet."))
    return {"type": "home", "blocks": blocks}
