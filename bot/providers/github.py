"""GitHub: open pull requests awaiting the user's review, and their own. The adapter is ``github_api``.

Scopes: ``read:user`` only. With Arcade's GitHub provider as a GitHub App (what GitHub advises), the
app's own permissions (Pull requests: read, Metadata: read) decide which repositories are seen and
OAuth scopes play no part. With a classic OAuth App, ``read:user`` finds pull requests in public
repositories only: private ones need ``repo``, which also grants write access to code, so the
bot does not ask for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from bot.models import Message
from bot.providers.base import Grant, Provider, email_of
from bot.providers.github_api import Found, GitHub, Pull, PullRequests
from bot.slack.kit import Block, context, escape, section

if TYPE_CHECKING:
    from bot.config import Settings

SCOPES = ("read:user",)
MAX_PULLS = 10  # per list
TITLE_LIMIT = 150
HEADER = "Your pull requests"


@asynccontextmanager
async def _open(settings: Settings) -> AsyncIterator[GitHub]:
    async with GitHub.open(settings.github_api_url) as github:
        yield github


async def _pulls(github: GitHub, grant: Grant) -> PullRequests:
    return await github.pull_requests(grant.token, limit=MAX_PULLS)


def _account(user_info: Mapping[str, Any]) -> str | None:
    login = user_info.get("login")
    return f"@{login}" if isinstance(login, str) and login else email_of(user_info)


def _line(pull: Pull, *, by: bool) -> str:
    title = escape(pull.title if len(pull.title) <= TITLE_LIMIT else pull.title[: TITLE_LIMIT - 1] + "…")
    ref = escape(f"{pull.repo}#{pull.number}")
    if pull.url:
        ref = f"<{pull.url.replace('|', '%7C').replace('>', '%3E')}|{ref}>"
    draft = " _(draft)_" if pull.draft else ""
    author = f" · by @{escape(pull.author)}" if by and pull.author else ""
    return f"• {ref} {title}{draft}{author}"


def _list(title: str, found: Found, *, by: bool, empty: str) -> str:
    lines = [_line(pull, by=by) for pull in found.pulls] or [empty]
    if found.total > len(found.pulls):
        lines.append(f"…and {found.total - len(found.pulls)} more on GitHub")
    return "\n".join([f"*{title}* ({found.total})", *lines])


def show(result: PullRequests) -> Message:
    header: Block = {"type": "header", "text": {"type": "plain_text", "text": HEADER}}
    review = _list("Awaiting your review", result.to_review, by=True, empty="Nothing awaits your review.")
    mine = _list("Yours, open", result.mine, by=False, empty="You have no open pull requests.")
    who = f"{escape(result.account)} · " if result.account else ""
    blocks = (header, section(review), section(mine), context(f"{who}read-only via Arcade"))
    text = f"{HEADER}: {result.to_review.total} awaiting your review, {result.mine.total} of yours open"
    return Message(text=text, blocks=blocks)


GITHUB: Provider[GitHub, PullRequests] = Provider(
    name="github",
    title="GitHub",
    arcade_id="github",
    scopes=SCOPES,
    request="prs",
    does="list the open pull requests awaiting your review and your own",
    answer="your pull requests",
    access="read-only access to your GitHub profile and the pull requests you can see",
    account_kind="GitHub account",
    open=_open,
    act=_pulls,
    show=show,
    scope_words={"read:user": "read your GitHub profile"},
    account=_account,
)
