"""Block Kit messages (pure functions) and the action ids they use.

Every string that comes from a user, Gmail or Arcade goes through ``escape`` before it is put into
mrkdwn. The ``text`` fallback shows in notifications: it is never empty and never holds a URL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.labels import Arranged, Line, arrange
from bot.models import Label, Message
from bot.slack.kit import Block, actions, button, context, escape, note, plural, section

if TYPE_CHECKING:
    from bot.providers import AnyProvider

# What a button does; its action id says it for one provider (``action``), and its value names that provider.
OPEN = "open"  # the Authorize link button
START = "start"  # Get a new link / Try again / Connect: a fresh flow for the clicker
DISCONNECT = "disconnect"  # confirmed disconnect
CANCEL = "cancel"  # keep the connection
VERBS = (OPEN, START, DISCONNECT, CANCEL)


def action(provider: str, verb: str) -> str:
    """A button's action id: ``connect_<provider>_<verb>`` (Gmail's are the ones it always had)."""
    return f"connect_{provider}_{verb}"


OPEN_AUTH_ACTION = action("gmail", OPEN)
START_ACTION = action("gmail", START)
DISCONNECT_ACTION = action("gmail", DISCONNECT)
CANCEL_ACTION = action("gmail", CANCEL)

MAX_BLOCKS = 50  # per message
SECTION_LIMIT = 3000  # characters of section text
BUTTON_URL_LIMIT = 3000  # characters of a button's url
LABELS_BUDGET = 12_000  # label-list characters per message: enough for hundreds, still readable
NAME_LIMIT = 120  # a longer label name is cut, so one name never fills a section
PROBLEM_LIMIT = 500  # characters of an error message, before escaping
DEPTH_LIMIT = 8  # indentation stops growing here
INDENT = "\u2003"  # em space: Slack keeps it where it would collapse ordinary leading spaces

Item = tuple[str, bool]  # a rendered line, and whether it counts as a label


def start_button(provider: AnyProvider, text: str, *, style: str | None = None) -> Block:
    return button(text, action(provider.name, START), style=style, value=provider.name)


def prompt(provider: AnyProvider, url: str, expires_at: int, *, again: bool = False, waiting: bool = False) -> Message:
    """Ask the user to open the Arcade authorization link (a link button; the URL stays out of ``text``)."""
    until = datetime.fromtimestamp(expires_at, tz=UTC).strftime("%H:%M UTC")
    if waiting:
        first = f"*Waiting for you to finish in the browser…* I'll post {provider.answer} here when you're done."
    elif again:
        first = "*You already have a link waiting* — this is the same link as before."
    else:
        first = f"*Connect your {provider.title}*"
    body = f"{first}\nI'll ask for {provider.access} through Arcade; I only use it to {provider.does}."
    if len(url) > BUTTON_URL_LIMIT:
        return _prompt_as_text(provider, body, url, expires_at, until)
    open_action = action(provider.name, OPEN)
    authorize = button(f"Authorize {provider.title}", open_action, style="primary", url=url, value=provider.name)
    fallback = (
        f"Your {provider.title} authorization link is still waiting: open it from this message."
        if again
        else f"Connect your {provider.title}: open the authorization link in this message."
    )
    return Message(
        text=fallback,
        blocks=(
            section(body),
            actions(authorize),
            context(f"This link is valid until <!date^{expires_at}^{{time}}|{until}>"),
        ),
    )


def _prompt_as_text(provider: AnyProvider, body: str, url: str, expires_at: int, until: str) -> Message:
    """A link too long for a button (Slack refuses a button ``url`` past 3,000 characters, and a
    section's text is capped the same): the whole prompt as message text, which may be 40,000."""
    safe = url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")
    text = f"{body}\n<{safe}|Authorize {provider.title}> (valid until <!date^{expires_at}^{{time}}|{until}>)"
    return Message(text=text)


def connected(provider: AnyProvider, account: str | None, *, answer_in_dm: bool = False) -> Message:
    """Authorization finished (replaces the prompt in place)."""
    text = f":white_check_mark: {provider.title} connected" + (f" as {escape(account)}" if account else "")
    if answer_in_dm:
        text += f". {provider.answer[:1].upper()}{provider.answer[1:]} are in your direct messages with me."
    return note(text)


def failed(provider: AnyProvider) -> Message:
    """Authorization was declined or failed; the button starts a fresh flow for whoever clicks."""
    text = f":x: Authorization was declined or failed: {provider.title} is not connected."
    return Message(text=text, blocks=(section(text), actions(start_button(provider, "Try again"))))


def expired(provider: AnyProvider, minutes: int) -> Message:
    """The authorization link timed out; the button gets a fresh one."""
    text = f":hourglass: Link expired: your {provider.title} link was valid for {plural(minutes, 'minute')}."
    return Message(
        text=text,
        blocks=(
            section(text),
            actions(start_button(provider, "Get a new link", style="primary")),
        ),
    )


def choose(providers: Iterable[AnyProvider]) -> Message:
    """``/connect`` alone: what can be connected, with a button each."""
    listed = list(providers)
    lines = [
        f"• *{escape(p.title)}* (`/connect {p.name}`): {escape(p.does)}; then `{p.request}` again." for p in listed
    ]
    text = "*What would you like to connect?*\n" + "\n".join(lines)
    buttons = actions(*(start_button(p, f"Connect {p.title}") for p in listed))
    more = (
        "`/connect status` shows your connections, `/connect disconnect <name>` removes one, `/connect help` says more."
    )
    return Message(text="Choose what to connect", blocks=(section(text), buttons, context(more)))


def usage_all(providers: Iterable[AnyProvider]) -> Message:
    """``/connect`` with words it does not know."""
    names = " | ".join(p.name for p in providers)
    text = (
        f"`/connect [{names}]` connects one (alone, it lists them).\n"
        f"`/connect status [{names}]` shows your connections, `/connect disconnect <{names}>` removes one, "
        "`/connect help` explains what I can read."
    )
    return Message(
        text="Use /connect, /connect status, /connect disconnect <name> or /connect help.", blocks=(section(text),)
    )


def usage() -> Message:
    """What the bot understands."""
    text = (
        "`/connect-gmail` connects your Gmail and lists your labels.\n"
        "`/connect-gmail status` shows your connection, `/connect-gmail disconnect` removes it, "
        "`/connect-gmail help` explains what I can read.\n"
        "DM me `labels`, or mention me with `labels`, to list them again."
    )
    return Message(text="Use /connect-gmail, /connect-gmail help, or send me `labels`.", blocks=(section(text),))


def problem(text: str) -> Message:
    """A short, friendly error; ``text`` is one of our own messages, escaped anyway."""
    text = text.strip() or "Something went wrong."
    return note(f":warning: {escape(_cut(text, PROBLEM_LIMIT))}")


def labels(labels: Sequence[Label], *, email: str | None = None) -> Message:
    """The user's labels like Gmail's sidebar, packed to stay within Slack's limits."""
    arranged = arrange(labels)
    count = arranged.count
    footer = f"{plural(count, 'label')} · {escape(email) + ' · ' if email else ''}read-only via Arcade"
    header: Block = {"type": "header", "text": {"type": "plain_text", "text": "Your Gmail labels"}}
    if count == 0:
        empty = "No labels found in your Gmail."
        return Message(text=empty, blocks=(header, section(f"{empty} :mailbox_with_no_mail:"), context(footer)))
    texts, omitted = _pack(_groups(arranged), MAX_BLOCKS - 3)  # header, "more" note, footer
    blocks = [header, *(section(text) for text in texts)]
    if omitted:
        blocks.append(context(f"…and {plural(omitted, 'more label')} not shown"))
    blocks.append(context(footer))
    return Message(text=f"Your Gmail labels ({count})", blocks=tuple(blocks))


def _groups(arranged: Arranged) -> list[tuple[str, list[Item]]]:
    inbox = arranged.inbox_unread
    system = [
        (_name(name) + (f" ({inbox} unread)" if name == "Inbox" and inbox else ""), True) for name in arranged.system
    ]
    return [
        ("System", system),
        ("Categories", [(_name(name), True) for name in arranged.categories]),
        ("Labels", [(_line(line), not line.synthetic) for line in arranged.user]),
    ]


def _cut(text: str, limit: int) -> str:
    """At most ``limit`` characters; cut before escaping so no entity is split."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _name(name: str) -> str:
    return escape(_cut(name, NAME_LIMIT))


def _line(line: Line) -> str:
    indent = (INDENT * (min(line.depth, DEPTH_LIMIT) - 1) + "↳ ") if line.depth else ""
    unread = f" ({line.unread} unread)" if line.unread else ""
    return f"{indent}{_name(line.name)}{unread}"


def _pack(groups: Sequence[tuple[str, Sequence[Item]]], max_sections: int) -> tuple[list[str], int]:
    """Section texts for the groups (newline separated) and how many labels did not fit.

    Stops at the first line that does not fit, so a tree is never shown with holes.
    """
    texts: list[str] = []
    used = 0  # label-list characters so far, across sections
    omitted = 0
    full = False
    for title, items in groups:
        chunk, size, lines = [f"*{title}*"], len(title) + 2, 0
        full = full or len(texts) >= max_sections
        for line, real in items:
            full = full or used + len(line) + 1 > LABELS_BUDGET
            if not full and size + 1 + len(line) > SECTION_LIMIT:
                if len(texts) + 2 > max_sections:  # no room for this section and another
                    full = True
                else:
                    texts.append("\n".join(chunk))
                    chunk, size = [], -1
            if full:
                omitted += real
                continue
            chunk.append(line)
            size += 1 + len(line)
            used += 1 + len(line)
            lines += 1
        if lines:
            texts.append("\n".join(chunk))
    return texts, omitted
