"""Arcade's two hot calls as plain aiohttp requests: ``POST /v1/auth/authorize`` (once per command)
and ``GET /v1/auth/status?id=&wait=`` (the long-poll every waiting user holds, whose ``completed``
answer starts each delivery).

Through arcadepy (pydantic options, httpx's request and response, httpx-aiohttp's conversion to and
from aiohttp) one such call cost ~1.3 ms of CPU on the bench machine, against ~0.2 ms for the same
request on aiohttp alone. arcadepy keeps every other call (``confirm_user``, the admin calls).

What goes on the wire is what arcadepy sends (checked by tests/test_arcade_headers.py): its headers,
the raw API key as ``Authorization``, the same path, query and JSON body. Retries follow arcadepy's
rules: 408, 409, 429, 5xx and connection errors, unless ``x-should-retry`` says otherwise; waits of
``Retry-After`` (1-60 s) or 0.5 s doubling up to 8 s, less up to a quarter of jitter.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from arcadepy import AsyncArcade, DefaultAioHttpClient
from multidict import CIMultiDict, istr

KEEPALIVE = 5.0  # s an idle connection is kept (as the arcadepy clients do)
_RETRY_STATUSES = frozenset({408, 409, 429})
_jitter = random.Random()  # noqa: S311 -- spreads retries, nothing secret


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer: its HTTP status, the JSON body (``None`` when not JSON) and ``Retry-After``."""

    status: int
    body: Any
    retry_after: str | None


class ArcadeHTTP:
    """Requests on one connector: up to ``connections`` open at once, then they queue.

    Raises aiohttp's errors (``aiohttp.ClientError``, ``TimeoutError``) once ``retries`` are spent;
    an HTTP error status is returned as an ``Answer``, not raised.
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        connections: int,
        read_timeout: float,
        connect_timeout: float = 5.0,
        retries: int = 0,
        tls: ssl.SSLContext,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._headers = sdk_headers(api_key, base_url, read_timeout)
        self._retries = retries
        self._connector_args = {"limit": connections, "keepalive_timeout": KEEPALIVE, "ssl": tls}
        # No total: a request that finds every connection busy queues (callers own their deadlines).
        self.timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=read_timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ArcadeHTTP:
        connector = aiohttp.TCPConnector(**self._connector_args)  # type: ignore[arg-type]
        self._session = aiohttp.ClientSession(
            connector=connector, headers=self._headers, timeout=self.timeout, skip_auto_headers=("User-Agent",)
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get(self, path: str, params: dict[str, str]) -> Answer:
        return await self._send("GET", path, params=params)

    async def post(self, path: str, body: dict[str, Any]) -> Answer:
        data = orjson.dumps(body)  # compact UTF-8, as httpx encodes arcadepy's bodies
        return await self._send("POST", path, data=data, headers={istr("Content-Type"): "application/json"})

    async def _send(self, method: str, path: str, **request: Any) -> Answer:
        if self._session is None:
            raise RuntimeError("ArcadeHTTP used outside 'async with'")
        url = self._base + path
        headers = request.pop("headers", {})
        for attempt in range(self._retries + 1):
            if attempt:
                headers = {**headers, istr("X-Stainless-Retry-Count"): str(attempt)}
            last = attempt == self._retries
            try:
                # Redirects are followed as arcadepy's httpx client does; aiohttp, like httpx, drops
                # Authorization when a redirect leaves the origin.
                async with self._session.request(method, url, headers=headers, **request) as response:
                    answer = Answer(response.status, _json(await response.read()), response.headers.get("Retry-After"))
                    again = response.headers.get("x-should-retry")
            except (aiohttp.ClientError, TimeoutError):
                if last:
                    raise
                await asyncio.sleep(_backoff(attempt, None))
                continue
            if last or not _should_retry(answer.status, again):
                return answer
            await asyncio.sleep(_backoff(attempt, answer.retry_after))
        raise AssertionError("unreachable: the last attempt returns or raises")


def _json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw) if raw else None
    except ValueError:
        return None


def _should_retry(status: int, header: str | None) -> bool:
    if header in ("true", "false"):
        return header == "true"
    return status in _RETRY_STATUSES or status >= 500


def _backoff(attempt: int, retry_after: str | None) -> float:
    try:
        asked = float(retry_after) if retry_after else None
    except ValueError:
        asked = None
    if asked is not None and 0 < asked <= 60:
        return asked
    return min(0.5 * 2.0**attempt, 8.0) * (1 - 0.25 * _jitter.random())


def sdk_headers(api_key: str, base_url: str, read_timeout: float) -> CIMultiDict[str]:
    """The headers arcadepy (on its aiohttp transport) sends: httpx's defaults, then arcadepy's own,
    which replace ``Accept`` and ``User-Agent``, then its per-request telemetry (constant here but
    for the retry count). Built once, from the SDK's public ``default_headers``, so they follow the
    installed arcadepy; the ``istr`` names are copied into each request as they are."""
    http = DefaultAioHttpClient()
    sdk = AsyncArcade(api_key=api_key, base_url=base_url, http_client=http)
    headers: CIMultiDict[str] = CIMultiDict()
    headers.extend((istr(k), v) for k, v in http.headers.items())
    headers.update({istr(k): v for k, v in sdk.default_headers.items() if isinstance(v, str)})
    headers.popall("Content-Type", None)  # only with a body (httpx leaves it out of a GET)
    headers.update({istr("X-Stainless-Retry-Count"): "0", istr("X-Stainless-Read-Timeout"): str(read_timeout)})
    return headers
