"""The only Google Calendar user (google-api-python-client): events.list on the primary calendar.

Built like ``bot.gmail``: one credential-less service from the bundled discovery document, and each
call in a bounded thread pool with its own ``AuthorizedHttp`` (the user's token, for this call
only) over the pool thread's own ``httplib2.Http`` (httplib2 is not thread-safe);
``refresh_status_codes=()`` so a refused token is a real 401.

What "today and tomorrow" means is the calendar's own time zone (events.list answers it as
``timeZone``): one request from now to 48 hours on (the end of tomorrow is never later, wherever
the user is), then the events that start before the end of tomorrow there are kept. Times are shown
with Slack's date formatting, so each reader sees them in their own time zone.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httplib2
from google.oauth2.credentials import Credentials
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from bot import google_errors
from bot.errors import BotError, RateLimited, ServiceUnavailable, TokenRefused

log = logging.getLogger(__name__)

SERVICE_PATH = "calendar/v3/"  # the API's path under its root, https://www.googleapis.com/
REQUEST_TIMEOUT = 15.0
NUM_RETRIES = 2  # googleapiclient retries 429, 5xx and rate-limit 403s with exponential backoff
MAX_PAGES = 3  # a page may hold fewer events than asked for; a few more pages are enough
_NAME = "Google Calendar"


@dataclass(frozen=True, slots=True)
class Event:
    summary: str
    link: str | None
    start: datetime | None  # None: an all-day event
    end: datetime | None
    day: date  # the day it is listed under, in the calendar's time zone


@dataclass(frozen=True, slots=True)
class Agenda:
    today: date
    events: list[Event]
    more: bool  # more events today and tomorrow than shown
    time_zone: str
    email: str | None

    @property
    def account(self) -> str | None:
        return self.email


def endpoint(api_url: str) -> str:
    """``CALENDAR_API_URL`` (the API's root, like Google's) with the API's own path after it."""
    base = api_url.rstrip("/") + "/"
    return base if base.endswith("/" + SERVICE_PATH) else base + SERVICE_PATH


class Calendar:
    def __init__(self, api_url: str, *, max_workers: int = 16) -> None:
        service = build(
            "calendar",
            "v3",
            http=httplib2.Http(timeout=REQUEST_TIMEOUT),  # placeholder: every call passes its own http
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": endpoint(api_url)},
        )
        self._events = service.events()
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="calendar")
        self._local = threading.local()
        self._connections: list[httplib2.Http] = []

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        for connection in self._connections:
            connection.close()

    async def upcoming(self, token: str, *, now: datetime, limit: int, email: str | None = None) -> Agenda:
        """The next events of today and tomorrow (ongoing ones too), at most ``limit``."""
        loop = asyncio.get_running_loop()
        pages = await loop.run_in_executor(self._executor, self._list_sync, token, now, limit + 1)
        zone_name = next((p["timeZone"] for p in pages if isinstance(p.get("timeZone"), str)), "UTC")
        zone = _zone(zone_name)
        today = now.astimezone(zone).date()
        items = _items(pages)
        parsed = [event for item in items if (event := _event(item, zone, today)) is not None]
        events = [event for event in parsed if event.day <= today + timedelta(days=1)]  # starts by tomorrow's end
        # More than shown: one past the cap, or pages left unread while every event read was inside.
        unread = bool(pages and pages[-1].get("nextPageToken")) and len(events) == len(items)
        return Agenda(today, events[:limit], len(events) > limit or unread, zone_name, email)

    def _list_sync(self, token: str, now: datetime, wanted: int) -> list[dict[str, Any]]:
        http = self._authorized(token)
        pages: list[dict[str, Any]] = []
        page_token: str | None = None
        found = 0
        for _ in range(MAX_PAGES):
            request = self._events.list(
                calendarId="primary",
                timeMin=_rfc3339(now),
                timeMax=_rfc3339(now + timedelta(hours=48)),
                singleEvents=True,
                orderBy="startTime",
                maxResults=wanted,
                pageToken=page_token,
            )
            try:
                body = request.execute(http=http, num_retries=NUM_RETRIES)
            except HttpError as exc:
                raise _translate(exc) from None
            except (OSError, httplib2.HttpLib2Error) as exc:
                log.warning("calendar.error call=events.list error=%s", type(exc).__name__)
                raise ServiceUnavailable(f"Calendar unreachable: {type(exc).__name__}", user_message=_DOWN) from None
            page = body if isinstance(body, dict) else {}
            pages.append(page)
            found += len(page.get("items") or [])
            page_token = page.get("nextPageToken") if isinstance(page.get("nextPageToken"), str) else None
            if found >= wanted or not page_token:
                break
        return pages

    def _authorized(self, token: str) -> AuthorizedHttp:
        connection: httplib2.Http | None = getattr(self._local, "http", None)
        if connection is None:
            connection = self._local.http = httplib2.Http(timeout=REQUEST_TIMEOUT)
            self._connections.append(connection)
        return AuthorizedHttp(
            Credentials(token),  # type: ignore[no-untyped-call]  # google-auth leaves __init__ unannotated
            http=connection,
            refresh_status_codes=(),
        )


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _items(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item for page in pages for item in page.get("items") or [] if isinstance(item, dict)]


def _when(value: object, zone: ZoneInfo) -> tuple[datetime | None, date | None]:
    """An event's ``start`` or ``end``: a moment (``dateTime``), or a day (``date``, all-day events)."""
    if not isinstance(value, dict):
        return None, None
    try:
        if isinstance(value.get("dateTime"), str):
            moment = datetime.fromisoformat(value["dateTime"])
            return (moment if moment.tzinfo else moment.replace(tzinfo=zone)), None
        if isinstance(value.get("date"), str):
            return None, date.fromisoformat(value["date"])
    except ValueError:
        pass
    return None, None


def _event(item: dict[str, Any], zone: ZoneInfo, today: date) -> Event | None:
    if item.get("status") == "cancelled":
        return None
    start, start_day = _when(item.get("start"), zone)
    end, _ = _when(item.get("end"), zone)
    if start is None and start_day is None:
        return None
    day = start.astimezone(zone).date() if start is not None else start_day
    summary = item.get("summary")
    link = item.get("htmlLink")
    return Event(
        summary=summary.strip() if isinstance(summary, str) and summary.strip() else "(No title)",
        link=link if isinstance(link, str) and link.startswith("https://") else None,
        start=start,
        end=end,
        day=max(day, today) if day is not None else today,  # begun earlier and still on: listed today
    )


_DOWN = f"{_NAME} is unavailable right now. Try again in a few minutes."


def _translate(exc: HttpError) -> BotError:
    status = exc.status_code
    refusal, reasons = google_errors.classify(status, exc.content)
    log.warning("calendar.error status=%s reasons=%s", status, ",".join(sorted(reasons)) or "-")
    if refusal == "refused":
        refused = f"{_NAME} no longer accepts your authorization. Run /connect calendar to connect again."
        return TokenRefused(f"Calendar answered {status}", user_message=refused)
    if refusal == "slow_down":
        return RateLimited(
            f"Calendar answered {status}", user_message=f"{_NAME} asked me to slow down. Try again in a minute."
        )
    return ServiceUnavailable(f"Calendar answered {status}", user_message=_DOWN)
