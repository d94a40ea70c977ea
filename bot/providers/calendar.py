"""Google Calendar: the next events of today and tomorrow. The adapter is ``calendar_api``.

It shares Gmail's Arcade provider (``google``): connecting it asks only for its own scope, and
Arcade keeps the Gmail scope granted before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from bot.models import Message
from bot.providers.base import Grant, Provider
from bot.providers.calendar_api import Agenda, Calendar, Event
from bot.slack.kit import Block, context, escape, plural, section

if TYPE_CHECKING:
    from bot.config import Settings

SCOPE = "https://www.googleapis.com/auth/calendar.readonly"
MAX_EVENTS = 10
SUMMARY_LIMIT = 150
HEADER = "Your calendar: today and tomorrow"


@asynccontextmanager
async def _open(settings: Settings) -> AsyncIterator[Calendar]:
    calendar = Calendar(settings.calendar_api_url)
    try:
        yield calendar
    finally:
        calendar.close()


async def _events(calendar: Calendar, grant: Grant) -> Agenda:
    return await calendar.upcoming(grant.token, now=datetime.now(UTC), limit=MAX_EVENTS, email=grant.account)


def _time(moment: datetime) -> str:
    """A time each reader sees in their own time zone (Slack's date formatting), UTC as the fallback."""
    return f"<!date^{int(moment.timestamp())}^{{time}}|{moment.astimezone(UTC):%H:%M} UTC>"


def _line(event: Event) -> str:
    summary = event.summary if len(event.summary) <= SUMMARY_LIMIT else event.summary[: SUMMARY_LIMIT - 1] + "…"
    title = escape(summary)
    if event.link:
        title = f"<{event.link.replace('|', '%7C').replace('>', '%3E')}|{title}>"
    if event.start is None:
        return f"• All day · {title}"
    until = f"\u2013{_time(event.end)}" if event.end is not None else ""  # an en dash
    return f"• {_time(event.start)}{until} · {title}"


def _day(name: str, day: date) -> str:
    return f"*{name}* ({day:%a %d %b})"


def show(agenda: Agenda) -> Message:
    header: Block = {"type": "header", "text": {"type": "plain_text", "text": HEADER}}
    who = f"{escape(agenda.email)} · " if agenda.email else ""
    footer = context(f"{who}read-only via Arcade · days in {escape(agenda.time_zone)}, times in yours")
    if not agenda.events:
        empty = "Nothing on your calendar for the rest of today or tomorrow."
        return Message(text=empty, blocks=(header, section(f"{empty} :palm_tree:"), footer))
    blocks = [header]
    for name, day in (("Today", agenda.today), ("Tomorrow", agenda.today + timedelta(days=1))):
        lines = [_line(event) for event in agenda.events if event.day == day]
        blocks.append(section("\n".join([_day(name, day), *(lines or ["Nothing planned."])])))
    if agenda.more:
        blocks.append(context(f"More events than these {len(agenda.events)}: see Google Calendar for the rest."))
    blocks.append(footer)
    count = plural(len(agenda.events), "event") + ("+" if agenda.more else "")
    return Message(text=f"{HEADER} ({count})", blocks=tuple(blocks))


CALENDAR: Provider[Calendar, Agenda] = Provider(
    name="calendar",
    title="Google Calendar",
    arcade_id="google",
    scopes=(SCOPE,),
    request="events",
    does="list your next events of today and tomorrow",
    answer="your next events",
    access="read-only access to your Google Calendar",
    account_kind="Google account",
    open=_open,
    act=_events,
    show=show,
    scope_words={
        SCOPE: "see your calendars and events, read-only",
        "https://www.googleapis.com/auth/calendar.events.readonly": "see your events, read-only",
    },
)
