"""Block Kit messages (pure functions) and the action ids they use.

Every string that comes from a user, Gmail or Arcade goes through ``escape`` before it is put into
mrkdwn. The ``text`` fallback shows in notifications: it is never empty and never holds a URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from bot.labels import Arranged, Line, arrange
from bot.models import Label, Message
from bot.slack.kit import Block, actions, button, context, escape, note, plural, section

OPEN_AUTH_ACTION = "connect_gmail_open"  # the Authorize link button
START_ACTION = "connect_gmail_start"  # Get a new link / Try again / Connect: a fresh flow for the clicker
DISCONNECT_ACTION = "connect_gmail_disconnect"  # confirmed disconnect
CANCEL_ACTION = "connect_gmail_cancel"  # keep the connection

MAX_BLOCKS = 50  # per message
SECTION_LIMIT = 3000  # characters of section text
BUTTON_URL_LIMIT = 3000  # characters of a button's url
LABELS_BUDGET = 12_000  # label-list characters per message: enough for hundreds, still readable
NAME_LIMIT = 120  # a longer label name is cut, so one name never fills a section
PROBLEM_LIMIT = 500  # characters of an error message, before escaping
DEPTH_LIMIT = 8  # indentation stops growing here
INDENT = "\u2003"  # em space: Slack keeps it where it would collapse ordinary leading spaces

Item = tuple[str, bool]  # a rendered line, and whether it counts as a label


def prompt(url: str, expires_at: int, *, again: bool = False, waiting: bool = False) -> Message:
    """Ask the user to open the Arcade authorization link (a link button; the URL stays out of ``text``)."""
    until = datetime.fromtimestamp(expires_at, tz=UTC).strftime("%H:%M UTC")
    if waiting:
        first = "*Waiting for you to finish in the browser…* I'll post your labels here when you're done."
    elif again:
        first = "*You already have a link waiting* — this is the same link as before."
    else:
        first = "*Connect your Gmail*"
    body = f"{first}\nI'll ask for read-only access to your Gmail through Arcade; I only use it to list your labels."
    if len(url) > BUTTON_URL_LIMIT:
        return _prompt_as_text(body, url, expires_at, until)
    authorize = button("Authorize Gmail", OPEN_AUTH_ACTION, style="primary", url=url)
    fallback = (
        "Your Gmail authorization link is still waiting: open it from this message."
        if again
        else "Connect your Gmail: open the authorization link in this message."
    )
    return Message(
        text=fallback,
        blocks=(
            section(body),
            actions(authorize),
            context(f"This link is valid until <!date^{expires_at}^{{time}}|{until}>"),
        ),
    )


def _prompt_as_text(body: str, url: str, expires_at: int, until: str) -> Message:
    """A link too long for a button (Slack refuses a button ``url`` past 3,000 characters, and a
    section's text is capped the same): the whole prompt as message text, which may be 40,000."""
    safe = url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")
    text = f"{body}\n<{safe}|Authorize Gmail> (valid until <!date^{expires_at}^{{time}}|{until}>)"
    return Message(text=text)


def connected(email: str | None, *, labels_in_dm: bool = False) -> Message:
    """Authorization finished (replaces the prompt in place)."""
    text = ":white_check_mark: Gmail connected" + (f" as {escape(email)}" if email else "")
    if labels_in_dm:
        text += ". Your labels are in your direct messages with me."
    return note(text)


def failed() -> Message:
    """Authorization was declined or failed; the button starts a fresh flow for whoever clicks."""
    text = ":x: Authorization was declined or failed."
    return Message(text=text, blocks=(section(text), actions(button("Try again", START_ACTION))))


def expired(minutes: int) -> Message:
    """The authorization link timed out; the button gets a fresh one."""
    text = f":hourglass: Link expired: it was valid for {plural(minutes, 'minute')}."
    return Message(
        text=text,
        blocks=(
            section(text),
            actions(button("Get a new link", START_ACTION, style="primary")),
        ),
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
