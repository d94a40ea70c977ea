"""A fake Google Calendar API v3 (events.list only), served over real HTTP on loopback.

google-api-python-client reaches it with ``client_options={"api_endpoint": base_url + "calendar/v3/"}``
(the bot's ``CALENDAR_API_URL`` is ``base_url``). Served: ``GET /calendar/v3/calendars/{calendarId}/events``
as Google documents it: ``timeMin``/``timeMax`` are RFC 3339 with an offset (anything else is a 400),
``timeMin`` bounds an event's *end* and ``timeMax`` its *start* (both exclusive), ``orderBy=startTime``
needs ``singleEvents=true`` (else 400), ``maxResults`` (default 250, at most 2500) pages with
``nextPageToken``; the answer carries the calendar's ``timeZone``. Only ``primary`` exists (other
ids: 404). The token must stand for a Google grant with a calendar scope (401 ``authError``; 403
``insufficientPermissions`` without the scope). Errors are Google's envelopes; ``fail_next`` switches
to 401/403/429/5xx.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from tests.fakes.arcade import TokenGrant
from tests.fakes.served import Served

CALENDAR_SCOPES = frozenset(
    {
        "https://www.googleapis.com/auth/calendar.readonly",
        "https://www.googleapis.com/auth/calendar",
        "https://www.googleapis.com/auth/calendar.events.readonly",
    }
)
_MESSAGES = {
    "authError": (401, "Invalid Credentials", "UNAUTHENTICATED"),
    "insufficientPermissions": (403, "Insufficient Permission", "PERMISSION_DENIED"),
    "rateLimitExceeded": (403, "Rate Limit Exceeded", "PERMISSION_DENIED"),
    "userRateLimitExceeded": (403, "User Rate Limit Exceeded", "PERMISSION_DENIED"),
    "tooManyRequests": (429, "Too Many Requests", "RESOURCE_EXHAUSTED"),
    "notFound": (404, "Not Found", "NOT_FOUND"),
    "badRequest": (400, "Bad Request", "INVALID_ARGUMENT"),
    "backendError": (500, "Backend Error", "INTERNAL"),
}
_DEFAULT_REASON = {401: "authError", 403: "rateLimitExceeded", 404: "notFound", 429: "tooManyRequests"}


def error(status: int, reason: str, message: str | None = None) -> web.Response:
    _, text, rpc = _MESSAGES.get(reason, (status, "Backend Error", "INTERNAL"))
    item = {"domain": "global" if reason != "rateLimitExceeded" else "usageLimits", "reason": reason}
    body = {"error": {"errors": [{**item, "message": message or text}], "code": status, "message": message or text}}
    body["error"]["status"] = rpc
    return web.json_response(body, status=status)


@dataclass(frozen=True)
class CalendarCall:
    path: str
    query: dict[str, str]
    user_id: str | None
    at: float


@dataclass
class _Fault:
    status: int
    remaining: int
    reason: str


@dataclass
class FakeCalendar(Served):
    """In-memory primary calendars, by Arcade user id; tokens resolved through ``grant_of``."""

    grant_of: Callable[[str], TokenGrant | None]
    base_url: str = ""
    calls: list[CalendarCall] = field(default_factory=list)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    time_zones: dict[str, str] = field(default_factory=dict)  # user -> the calendar's IANA zone (default UTC)
    revoked: set[str] = field(default_factory=set)  # Arcade connection ids whose tokens Google no longer accepts
    _faults: list[_Fault] = field(default_factory=list)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/calendar/v3/calendars/{calendar_id}/events", self._list)
        self.base_url = await self._serve(app) + "/"

    async def stop(self) -> None:
        await self._unserve()

    def fail_next(self, status: int, *, times: int = 1, reason: str | None = None) -> None:
        """Answer the next ``times`` requests with ``status`` (reason: Google's, e.g. ``userRateLimitExceeded``)."""
        self._faults.append(_Fault(status, times, reason or _DEFAULT_REASON.get(status, "backendError")))

    def add_event(
        self,
        user_id: str,
        summary: str,
        start: datetime | date,
        end: datetime | date | None = None,
        *,
        status: str = "confirmed",
    ) -> dict[str, Any]:
        """An event in the user's primary calendar: timed (datetimes) or all-day (dates, end exclusive)."""
        number = len(self.events.get(user_id, ())) + 1
        if isinstance(start, datetime):
            finish = end if isinstance(end, datetime) else start + timedelta(hours=1)
            when = {"dateTime": start.isoformat()}, {"dateTime": finish.isoformat()}
        else:
            finish_day = end if isinstance(end, date) and not isinstance(end, datetime) else start + timedelta(days=1)
            when = {"date": start.isoformat()}, {"date": finish_day.isoformat()}
        event = {
            "kind": "calendar#event",
            "id": f"evt{number:04d}",
            "status": status,
            "htmlLink": f"https://www.google.com/calendar/event?eid=evt{number:04d}",
            "summary": summary,
            "start": when[0],
            "end": when[1],
        }
        self.events.setdefault(user_id, []).append(event)
        return event

    def _zone(self, user_id: str) -> ZoneInfo:
        return ZoneInfo(self.time_zones.get(user_id, "UTC"))

    def _bounds(self, event: dict[str, Any], zone: ZoneInfo) -> tuple[datetime, datetime]:
        def moment(value: dict[str, str]) -> datetime:
            if "dateTime" in value:
                return datetime.fromisoformat(value["dateTime"])
            return datetime.combine(date.fromisoformat(value["date"]), datetime.min.time(), zone)

        return moment(event["start"]), moment(event["end"])

    def _take_fault(self) -> _Fault | None:
        if not self._faults:
            return None
        fault = self._faults[0]
        fault.remaining -= 1
        if fault.remaining == 0:
            self._faults.pop(0)
        return fault

    async def _list(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        grant = self.grant_of(header.removeprefix("Bearer ")) if header.startswith("Bearer ") else None
        self.calls.append(
            CalendarCall(request.path, dict(request.query), grant.user_id if grant else None, time.time())
        )
        fault = self._take_fault()
        if fault is not None:
            return error(fault.status, fault.reason)
        if grant is None or grant.provider_id != "google" or grant.connection_id in self.revoked:
            return error(401, "authError")
        if not grant.scopes & CALENDAR_SCOPES:
            return error(403, "insufficientPermissions", "Request had insufficient authentication scopes.")
        if request.match_info["calendar_id"] != "primary":
            return error(404, "notFound")
        query = request.query
        try:
            low, high = (_rfc3339(query[k]) if k in query else None for k in ("timeMin", "timeMax"))
            limit = min(int(query.get("maxResults", "250")), 2500)
            offset = int(query.get("pageToken", "0"))
        except ValueError as exc:
            return error(400, "badRequest", str(exc))
        if limit < 1:
            return error(400, "badRequest", "Invalid value for: maxResults")
        if query.get("orderBy") == "startTime" and query.get("singleEvents") != "true":
            return error(400, "badRequest", "The requested ordering is not available for the particular query.")
        zone = self._zone(grant.user_id)
        found = []
        for event in self.events.get(grant.user_id, []):
            start, end = self._bounds(event, zone)
            if event["status"] != "cancelled" and (low is None or end > low) and (high is None or start < high):
                found.append((start, event))
        if query.get("orderBy") == "startTime":
            found.sort(key=lambda pair: pair[0])
        page = [event for _, event in found[offset : offset + limit]]
        body: dict[str, Any] = {
            "kind": "calendar#events",
            "summary": grant.user_id,
            "updated": datetime.now(UTC).isoformat(),
            "timeZone": self.time_zones.get(grant.user_id, "UTC"),
            "accessRole": "owner",
            "defaultReminders": [],
            "items": page,
        }
        if offset + limit < len(found):
            body["nextPageToken"] = str(offset + limit)
        return web.json_response(body)


def _rfc3339(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"Bad Request: {text} has no time zone offset")
    return moment
