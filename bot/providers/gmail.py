"""Gmail: the user's labels, as Gmail's sidebar shows them. The adapter is ``bot.gmail``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.gmail import Gmail
from bot.models import Label, Message
from bot.providers.base import Grant, Provider
from bot.slack import messages

if TYPE_CHECKING:
    from bot.config import Settings

SCOPE = "https://www.googleapis.com/auth/gmail.readonly"


@dataclass(frozen=True, slots=True)
class Labels:
    labels: list[Label]
    email: str | None

    @property
    def account(self) -> str | None:
        return self.email


@asynccontextmanager
async def _open(settings: Settings) -> AsyncIterator[Gmail]:
    async with Gmail.open(settings.gmail_api_url) as gmail:
        yield gmail


async def _labels(gmail: Gmail, grant: Grant) -> Labels:
    return Labels(await gmail.list_labels(grant.token), grant.account)


def _show(result: Labels) -> Message:
    return messages.labels(result.labels, email=result.email)


GMAIL: Provider[Gmail, Labels] = Provider(
    name="gmail",
    title="Gmail",
    arcade_id="google",
    scopes=(SCOPE,),
    request="labels",
    does="list your labels",
    answer="your labels",
    access="read-only access to your Gmail",
    account_kind="Google account",
    open=_open,
    act=_labels,
    show=_show,
    scope_words={
        SCOPE: "read your Gmail (messages and labels), read-only",
        "https://www.googleapis.com/auth/gmail.labels": "see and manage your Gmail labels",
        "https://www.googleapis.com/auth/gmail.metadata": "read your Gmail metadata (labels and headers)",
    },
)
