"""A fake GitHub REST API (``GET /user``, ``GET /search/issues``), served over real HTTP on loopback.

As GitHub documents them: a token goes in ``Authorization: Bearer <token>`` (or ``token <token>``)
and must stand for a ``github`` grant at the fake Arcade (else 401 ``Bad credentials``); search
reads ``q`` as words and qualifiers (``is:pr``/``is:issue``, ``is:open``/``is:closed``,
``review-requested:``, ``author:``, ``archived:``; ``@me`` is the token's user), ``sort=updated``,
``order``, ``per_page`` (default 30, at most 100) and ``page``, and answers ``total_count``,
``incomplete_results`` and ``items`` shaped like GitHub's issue search results. ``fail_next``
answers 401, 403 (primary rate limit: ``x-ratelimit-remaining: 0``), 429 (secondary rate limit,
``retry-after``) or 5xx.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.arcade import TokenGrant
from tests.fakes.served import Served

DOCS = "https://docs.github.com/rest"


@dataclass
class PullRequest:
    repo: str  # owner/name
    number: int
    title: str
    author: str  # login
    reviewers: set[str] = field(default_factory=set)  # logins whose review is requested
    state: str = "open"
    draft: bool = False
    updated_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class GitHubCall:
    path: str
    query: dict[str, str]
    login: str | None
    at: float


@dataclass
class FakeGitHub(Served):
    """In-memory pull requests; tokens resolved through ``grant_of``, logins by Arcade user id."""

    grant_of: Callable[[str], TokenGrant | None]
    base_url: str = ""
    calls: list[GitHubCall] = field(default_factory=list)
    logins: dict[str, str] = field(default_factory=dict)  # Arcade user id -> GitHub login
    pulls: list[PullRequest] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)  # Arcade connection ids whose tokens GitHub no longer accepts
    _faults: list[list[int]] = field(default_factory=list)  # [status, remaining]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/user", self._user)
        app.router.add_get("/search/issues", self._search)
        self.base_url = await self._serve(app)

    async def stop(self) -> None:
        await self._unserve()

    def fail_next(self, status: int, *, times: int = 1) -> None:
        self._faults.append([status, times])

    def add_pull(self, repo: str, title: str, author: str, **more: Any) -> PullRequest:
        pull = PullRequest(repo, sum(p.repo == repo for p in self.pulls) + 1, title, author, **more)
        self.pulls.append(pull)
        return pull

    def login_of(self, user_id: str) -> str:
        return self.logins.get(user_id) or user_id.rsplit(":", 1)[-1].lower()

    def _who(self, request: web.Request) -> tuple[str | None, web.Response | None]:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        grant = self.grant_of(token) if scheme.lower() in ("bearer", "token") and token else None
        valid = grant is not None and grant.provider_id == "github" and grant.connection_id not in self.revoked
        login = self.login_of(grant.user_id) if grant is not None and valid else None
        self.calls.append(GitHubCall(request.path, dict(request.query), login, time.time()))
        if self._faults:
            status = self._faults[0][0]
            self._faults[0][1] -= 1
            if self._faults[0][1] == 0:
                self._faults.pop(0)
            return login, _fault(status)
        if login is None:
            return None, web.json_response({"message": "Bad credentials", "documentation_url": DOCS}, status=401)
        return login, None

    async def _user(self, request: web.Request) -> web.Response:
        login, refused = self._who(request)
        if refused is not None or login is None:
            return refused or _fault(401)
        number = sum(map(ord, login))
        return web.json_response({"login": login, "id": number, "type": "User", "name": login.title()})

    async def _search(self, request: web.Request) -> web.Response:
        login, refused = self._who(request)
        if refused is not None or login is None:
            return refused or _fault(401)
        query = request.query
        try:
            per_page = min(int(query.get("per_page", "30")), 100)
            page = int(query.get("page", "1"))
        except ValueError:
            return web.json_response({"message": "Validation Failed", "documentation_url": DOCS}, status=422)
        q = query.get("q", "").strip()
        if not q:
            return web.json_response({"message": "Validation Failed", "documentation_url": DOCS}, status=422)
        found = [p for p in self.pulls if _matches(p, q.split(), login)]
        if query.get("sort") == "updated":
            found.sort(key=lambda p: p.updated_at, reverse=query.get("order", "desc") == "desc")
        items = [self._item(p) for p in found[(page - 1) * per_page : page * per_page]]
        return web.json_response({"total_count": len(found), "incomplete_results": False, "items": items})

    def _item(self, pull: PullRequest) -> dict[str, Any]:
        api = f"{self.base_url}/repos/{pull.repo}"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(pull.updated_at))
        return {
            "url": f"{api}/issues/{pull.number}",
            "repository_url": api,
            "html_url": f"https://github.com/{pull.repo}/pull/{pull.number}",
            "id": abs(hash((pull.repo, pull.number))) % 10**9,
            "number": pull.number,
            "title": pull.title,
            "user": {"login": pull.author, "type": "User"},
            "state": pull.state,
            "draft": pull.draft,
            "created_at": stamp,
            "updated_at": stamp,
            "pull_request": {
                "url": f"{api}/pulls/{pull.number}",
                "html_url": f"https://github.com/{pull.repo}/pull/{pull.number}",
            },
        }


def _matches(pull: PullRequest, terms: list[str], me: str) -> bool:
    for term in terms:
        key, _, value = term.partition(":")
        value = me if value == "@me" else value
        if term in ("is:pr", "type:pr", "is:open", "state:open", "archived:false"):
            ok = term not in ("is:open", "state:open") or pull.state == "open"
        elif term in ("is:issue", "type:issue"):
            ok = False
        elif term in ("is:closed", "state:closed"):
            ok = pull.state == "closed"
        elif key == "review-requested":
            ok = value in pull.reviewers
        elif key == "author":
            ok = pull.author == value
        else:  # a word: in the title
            ok = term.lower() in pull.title.lower()
        if not ok:
            return False
    return True


def _fault(status: int) -> web.Response:
    if status == 401:
        return web.json_response({"message": "Bad credentials", "documentation_url": DOCS}, status=401)
    if status == 403:
        headers = {
            "x-ratelimit-limit": "30",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(int(time.time()) + 60),
        }
        body = {"message": "API rate limit exceeded for user ID 1.", "documentation_url": DOCS}
        return web.json_response(body, status=403, headers=headers)
    if status == 429:
        body = {"message": "You have exceeded a secondary rate limit.", "documentation_url": DOCS}
        return web.json_response(body, status=429, headers={"retry-after": "60"})
    return web.json_response({"message": "Server Error"}, status=status)
