"""What a provider is: one declaration that the flows, the store, the listeners and the views read.

A provider names itself (the word after ``/connect``, kept with its flows in the store), says what
it asks Arcade for (provider id and scopes), how it opens its outside API's adapter, what it does
right after a user connects and on request (its first action), how that result is shown in Block
Kit, and how its account is named. Nothing else in the bot knows one provider from another.

Providers that share an Arcade provider (Gmail and Google Calendar are both ``google``) share one
grant at Arcade: connecting the second asks only for its own scopes (Arcade adds the ones already
granted), and removing the grant disconnects both.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from bot.models import Message, Need

if TYPE_CHECKING:
    from bot.config import Settings

A = TypeVar("A")  # the provider's adapter
R = TypeVar("R", bound="Result")  # what its first action found


class Result(Protocol):
    """What a first action found; ``account`` names the account it was found in, when known."""

    @property
    def account(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Grant:
    """What a first action gets: the user's token for this one call, and their account's name."""

    token: str = field(repr=False)
    account: str | None = None


def email_of(user_info: Mapping[str, Any]) -> str | None:
    """The account's name in Arcade's user info: its email (Google)."""
    email = user_info.get("email")
    return email if isinstance(email, str) and email else None


@dataclass(frozen=True)
class Provider(Generic[A, R]):
    name: str  # the word after /connect, and the provider's name in the store: never change it
    title: str  # "Google Calendar"
    arcade_id: str  # Arcade's provider id ("google")
    scopes: tuple[str, ...]  # only this provider's own: a shared grant adds the others'
    request: str  # what a user DMs or mentions for the first action again ("events")
    does: str  # what the first action does, after "I only use it to …" ("list your next events")
    answer: str  # what it shows, after "I'll post …" ("your next events")
    access: str  # the access asked for, after "I'll ask for …" ("read-only access to your calendar")
    account_kind: str  # whose grant it is, in plain words ("Google account")
    open: Callable[[Settings], AbstractAsyncContextManager[A]]  # the outside API's adapter
    act: Callable[[A, Grant], Awaitable[R]]  # the first action; raises TokenRefused if the token is refused
    show: Callable[[R], Message]  # its result in Block Kit
    scope_words: Mapping[str, str] = field(default_factory=dict)  # scope -> plain words, for status
    account: Callable[[Mapping[str, Any]], str | None] = email_of  # Arcade's user info -> "you@example.com"

    @property
    def need(self) -> Need:
        return Need(self.name, self.arcade_id, self.scopes)


AnyProvider = Provider[Any, Any]
NAME = re.compile(r"[a-z][a-z0-9-]{0,30}")  # typed after /connect, and part of button action ids


class Registry:
    """The providers this bot serves, in the order users see them."""

    def __init__(self, providers: Iterable[AnyProvider]) -> None:
        listed = list(providers)
        self._providers = {p.name: p for p in listed}
        if len(self._providers) != len(listed):
            raise ValueError("two providers have the same name")
        for provider in listed:
            if not NAME.fullmatch(provider.name) or not NAME.fullmatch(provider.request):
                raise ValueError(f"{provider.name!r}: names and request words are lowercase letters, digits, -")
        requests = [p.request for p in listed]
        if len(set(requests)) != len(requests):
            raise ValueError("two providers answer the same request word")
        reserved = {"help", "status", "disconnect"} & {*self._providers, *requests}
        if reserved:
            raise ValueError(f"a provider may not be called {sorted(reserved)}: those words are commands")

    def __iter__(self) -> Iterator[AnyProvider]:
        return iter(self._providers.values())

    def __len__(self) -> int:
        return len(self._providers)

    def get(self, name: str) -> AnyProvider | None:
        return self._providers.get(name)

    def by_request(self, word: str) -> AnyProvider | None:
        return next((p for p in self if p.request == word), None)

    def sharing(self, provider: AnyProvider) -> list[AnyProvider]:
        """The other providers on the same Arcade grant."""
        return [p for p in self if p.arcade_id == provider.arcade_id and p.name != provider.name]

    @asynccontextmanager
    async def open(self, settings: Settings) -> AsyncIterator[dict[str, Any]]:
        """Every provider's adapter, by provider name, closed together at the end."""
        async with AsyncExitStack() as stack:
            yield {p.name: await stack.enter_async_context(p.open(settings)) for p in self}
