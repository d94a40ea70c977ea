"""The only GitHub user: three read-only REST calls over httpx (already a dependency, for arcadepy).

``GET /user`` names the account; ``GET /search/issues`` finds open pull requests awaiting the
user's review (``review-requested:@me``) and their own (``author:@me``). Server errors and dropped
connections are tried again twice; a refused token (401) is ``TokenRefused``; a rate limit (429,
or 403 with the rate-limit headers) is ``RateLimited``, not waited out: the user is told.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from bot.errors import BotError, RateLimited, ServiceUnavailable, TokenRefused

log = logging.getLogger(__name__)

TIMEOUT = httpx.Timeout(15.0, connect=5.0)
RETRIES = 2
API_VERSION = "2022-11-28"
REVIEW_REQUESTED = "is:pr is:open review-requested:@me"
AUTHORED = "is:pr is:open author:@me"
_DOWN = "GitHub is unavailable right now. Try again in a few minutes."


@dataclass(frozen=True, slots=True)
class Pull:
    title: str
    url: str | None
    repo: str  # owner/name
    number: int
    author: str | None
    draft: bool


@dataclass(frozen=True, slots=True)
class Found:
    pulls: list[Pull]
    total: int  # how many GitHub found, of which ``pulls`` are the first


@dataclass(frozen=True, slots=True)
class PullRequests:
    login: str | None
    to_review: Found
    mine: Found

    @property
    def account(self) -> str | None:
        return f"@{self.login}" if self.login else None


class GitHub:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    @classmethod
    @asynccontextmanager
    async def open(cls, api_url: str) -> AsyncIterator[GitHub]:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
        base = api_url.rstrip("/") + "/"  # GitHub Enterprise's /api/v3 keeps its path
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=TIMEOUT) as client:
            yield cls(client)

    async def pull_requests(self, token: str, *, limit: int) -> PullRequests:
        user, to_review, mine = await asyncio.gather(
            self._get(token, "user"),
            self._search(token, REVIEW_REQUESTED, limit),
            self._search(token, AUTHORED, limit),
        )
        login = user.get("login")
        return PullRequests(login if isinstance(login, str) and login else None, to_review, mine)

    async def _search(self, token: str, query: str, limit: int) -> Found:
        params = {"q": query, "sort": "updated", "order": "desc", "per_page": str(limit)}
        body = await self._get(token, "search/issues", params)
        items = [_pull(item) for item in body.get("items") or [] if isinstance(item, dict)]
        pulls = [pull for pull in items if pull is not None][:limit]
        total = body.get("total_count")
        return Found(pulls, max(total if isinstance(total, int) else 0, len(pulls)))

    async def _get(self, token: str, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        for attempt in range(RETRIES + 1):
            try:
                response = await self._client.get(path, params=params, headers=headers)
            except httpx.TransportError as exc:
                if attempt < RETRIES:
                    await asyncio.sleep(0.5 * 2**attempt)
                    continue
                log.warning("github.error call=%s error=%s", path, type(exc).__name__)
                raise ServiceUnavailable(f"GitHub unreachable: {type(exc).__name__}", user_message=_DOWN) from None
            if response.status_code >= 500 and attempt < RETRIES:
                await asyncio.sleep(0.5 * 2**attempt)
                continue
            if response.status_code != 200:
                raise _refusal(response, path)
            try:
                body = response.json()
            except ValueError:
                raise ServiceUnavailable("GitHub answered 200 without JSON", user_message=_DOWN) from None
            return body if isinstance(body, dict) else {}
        raise AssertionError("unreachable")  # the loop returns or raises


def _refusal(response: httpx.Response, path: str) -> BotError:
    status = response.status_code
    log.warning("github.error call=%s status=%s", path, status)
    if status == 401:
        message = "GitHub no longer accepts your authorization. Run /connect github to connect again."
        return TokenRefused(f"GitHub answered {status}", user_message=message)
    limited = response.headers.get("x-ratelimit-remaining") == "0" or "retry-after" in response.headers
    if status == 429 or (status == 403 and (limited or "rate limit" in response.text.lower())):
        return RateLimited(
            f"GitHub answered {status}", user_message="GitHub asked me to slow down. Try again in a minute."
        )
    if status == 403:
        message = "GitHub refused to show those pull requests (your organization may require single sign-on)."
        return BotError(f"GitHub answered {status}", user_message=message)
    return ServiceUnavailable(f"GitHub answered {status}", user_message=_DOWN)


def _pull(item: dict[str, Any]) -> Pull | None:
    number = item.get("number")
    if not isinstance(number, int) or isinstance(number, bool):
        return None
    repo_url = item.get("repository_url")
    repo = "/".join(repo_url.rstrip("/").split("/")[-2:]) if isinstance(repo_url, str) else "?"
    title, url, user = item.get("title"), item.get("html_url"), item.get("user")
    author = user.get("login") if isinstance(user, dict) else None
    return Pull(
        title=title if isinstance(title, str) and title.strip() else "(no title)",
        url=url if isinstance(url, str) and url.startswith(("https://", "http://")) else None,
        repo=repo,
        number=number,
        author=author if isinstance(author, str) else None,
        draft=item.get("draft") is True,
    )
