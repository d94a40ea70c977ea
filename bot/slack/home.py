"""Account views (pure Block Kit builders): help, status, disconnect, and the App Home tab."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.models import AccountState, AuditEvent, Message
from bot.slack.kit import Block, actions, button, context, escape, section
from bot.slack.messages import CANCEL, DISCONNECT, action, start_button

if TYPE_CHECKING:
    from bot.providers import AnyProvider

EVENT_WORDS = {
    "requested": "Asked for an answer",
    "prompted": "Authorization link sent",
    "completed": "Connected",
    "failed": "Authorization failed or declined",
    "expired": "Authorization link expired",
    "disconnected": "Disconnected",
    "delivery_sent": "Answer delivered",
    "labels_sent": "Answer sent",
}


def when(at: float) -> str:
    """A time shown in the reader's own time zone (with a UTC fallback for old clients)."""
    fallback = datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at)}^{{date_short_pretty}} {{time}}|{fallback}>"


def scope_words(provider: AnyProvider, scopes: tuple[str, ...]) -> list[str]:
    return [provider.scope_words.get(scope, escape(scope)) for scope in scopes]


def help_message() -> Message:
    """``/connect-gmail help``, as it always was."""
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


def status_lines(provider: AnyProvider, state: AccountState) -> list[str]:
    title = escape(provider.title)
    if state.scopes is None:
        lines = [f":white_circle: *{title} is not connected.* Run `/connect {provider.name}` to connect it."]
    else:
        who = f" as {escape(state.email)}" if state.email else ""
        lines = [f":large_green_circle: *{title} is connected{who}.*"]
        if state.since is not None:
            lines.append(f"Connected since {when(state.since)}.")
        lines.append("Access: " + "; ".join(scope_words(provider, state.scopes)) + ".")
    if state.pending_until is not None:
        lines.append(
            f":hourglass_flowing_sand: An authorization link is waiting for you until {when(state.pending_until)}."
        )
    return lines


def status_message(states: Sequence[tuple[AnyProvider, AccountState]]) -> Message:
    """One provider's connection, or every one's (``/connect status``)."""
    blocks = tuple(section("\n".join(status_lines(provider, state))) for provider, state in states)
    if len(states) == 1:
        return Message(text=f"Your {states[0][0].title} connection", blocks=blocks)
    return Message(text="Your connections", blocks=blocks)


def help_all(providers: Sequence[AnyProvider]) -> Message:
    """``/connect help``: what each provider reads, how to disconnect, and which share a grant."""
    lines = ["*What I can connect*"]
    for p in providers:
        lines.append(
            f"• *{escape(p.title)}*: `/connect {p.name}`. I'll ask for {escape(p.access)} through Arcade; "
            f"I only use it to {escape(p.does)}. Then DM me `{p.request}` (or mention me with it) at any time."
        )
    lines.append(
        "\nI never change anything in your accounts. Arcade keeps the authorizations; I never store a token.\n"
        "`/connect status` shows your connections; `/connect disconnect <name>` removes one."
    )
    for p in providers:
        others = [o for o in providers if o.arcade_id == p.arcade_id and o is not p]
        if others and providers.index(p) < min(providers.index(o) for o in others):
            names = " and ".join(escape(o.title) for o in (p, *others))
            lines.append(f"{names} share one {escape(p.account_kind)} grant: disconnecting one disconnects them all.")
    return Message(text="What the bot can connect and how to disconnect", blocks=(section("\n".join(lines)),))


def _sharing_words(provider: AnyProvider, sharing: Sequence[AnyProvider]) -> str:
    names = " and ".join(escape(o.title) for o in sharing)
    kind = escape(provider.account_kind)
    return f"{escape(provider.title)} shares one {kind} grant with {names}: disconnecting it disconnects {names} too."


def confirm_disconnect(provider: AnyProvider, sharing: Sequence[AnyProvider] = ()) -> Message:
    title = escape(provider.title)
    text = (
        f"*Disconnect {title}?* Arcade will forget your {escape(provider.account_kind.split()[0])} authorization "
        f"and I won't be able to {escape(provider.does)} until you connect again."
    )
    if sharing:
        text += "\n" + _sharing_words(provider, sharing)
    buttons = actions(
        button("Disconnect", action(provider.name, DISCONNECT), style="danger", value=provider.name),
        button("Cancel", action(provider.name, CANCEL), value=provider.name),
    )
    return Message(text=f"Disconnect {provider.title}?", blocks=(section(text), buttons))


def disconnected(provider: AnyProvider, removed: int, also: Sequence[AnyProvider] = ()) -> Message:
    title = escape(provider.title)
    if not removed:
        text = f"{title} was not connected, so there was nothing to disconnect."
    else:
        text = f":wave: {title} disconnected. Run `/connect {provider.name}` to connect again."
    if also:
        names = " and ".join(escape(o.title) for o in also)
        again = ", ".join(f"`/connect {o.name}`" for o in also)
        text += (
            f"\n{names} used the same {escape(provider.account_kind)} grant, so it is disconnected too: "
            f"run {again} to connect it again."
        )
    return Message(text=text, blocks=(section(text),))


def kept(provider: AnyProvider) -> Message:
    text = f"OK, your {escape(provider.title)} stays connected."
    return Message(text=text, blocks=(section(text),))


def _action(provider: AnyProvider, state: AccountState, sharing: Sequence[AnyProvider]) -> Block:
    if state.scopes is None:
        return start_button(provider, f"Connect {provider.title}", style="primary")
    element = button("Disconnect", action(provider.name, DISCONNECT), style="danger", value=provider.name)
    warning = f"Arcade will forget your {provider.account_kind.split()[0]} authorization."
    if sharing:
        warning += " " + _sharing_words(provider, sharing)
    element["confirm"] = {
        "title": {"type": "plain_text", "text": f"Disconnect {provider.title}?"[:100]},
        "text": {"type": "mrkdwn", "text": warning},
        "confirm": {"type": "plain_text", "text": "Disconnect"},
        "deny": {"type": "plain_text", "text": "Cancel"},
        "style": "danger",
    }
    return element


def home_view(
    rows: Sequence[tuple[AnyProvider, AccountState, Sequence[AnyProvider]]], history: list[AuditEvent]
) -> dict[str, Any]:
    """The App Home tab for one user: each provider with its state and its own button, then their
    own recent events. ``rows``: provider, state, and the others sharing its grant."""
    blocks: list[Block] = [{"type": "header", "text": {"type": "plain_text", "text": "Your connections"}}]
    titles = {provider.name: provider.title for provider, _, _ in rows}
    for provider, state, sharing in rows:
        blocks.append(section("\n".join(status_lines(provider, state))))
        if state.last_used is not None:
            blocks.append(context(f"Last used {when(state.last_used)}"))
        blocks.append(actions(_action(provider, state, sharing)))
    blocks.append({"type": "divider"})
    blocks.append(section("*Recent activity*"))
    if history:
        words = EVENT_WORDS
        lines = [
            f"• {escape(titles.get(e.provider, e.provider))}: {words.get(e.event, e.event)} — {when(e.at)}"
            for e in history
        ]
        blocks.append(section("\n".join(lines)))
    else:
        blocks.append(context("Nothing yet."))
    return {"type": "home", "blocks": blocks}
