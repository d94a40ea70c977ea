"""Acting for a user: a fresh token from Arcade, then a provider's first action with it. Knows
nothing about Slack.

The token lives for one call. When the provider's API refuses it (revoked, expired beyond
refresh, scope missing), Arcade may keep answering ``completed`` with the dead grant, so asking
again would loop forever: the grant is removed at Arcade first, and a new consent flow is started.

Providers that share an Arcade provider share its grant: one of them is connected when the grant
covers its own scopes (a provider alone on its Arcade provider, whenever it has a grant), and
removing the grant disconnects each of them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.arcade import Arcade, Connection
from bot.authflow import AuthFlows, Prompt
from bot.errors import TokenRefused
from bot.models import AccountState, Authorized, SlackUser
from bot.providers import AnyProvider, Grant, Registry
from bot.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Answer:
    """What a provider's first action found, for ``provider.show``."""

    provider: AnyProvider
    result: Any

    @property
    def account(self) -> str | None:
        account = self.result.account
        return account if isinstance(account, str) else None


@dataclass(frozen=True, slots=True)
class Disconnected:
    removed: int  # grants removed at Arcade
    also: list[AnyProvider]  # providers on the same grant that were connected, and no longer are


class Mailbox:
    def __init__(
        self, arcade: Arcade, adapters: Mapping[str, Any], flows: AuthFlows, store: Store, providers: Registry
    ) -> None:
        self._arcade = arcade
        self._adapters = adapters  # provider name -> its opened adapter
        self._flows = flows
        self._store = store
        self.providers = providers

    def _covers(self, provider: AnyProvider, connection: Connection) -> bool:
        if not self.providers.sharing(provider):
            return True
        return set(provider.scopes) <= set(connection.scopes)

    async def state(
        self, user: SlackUser, provider: AnyProvider, *, connections: list[Connection] | None = None
    ) -> AccountState:
        if connections is None:
            connections = await self._arcade.connections(user, provider.arcade_id)
        mine = [c for c in connections if self._covers(provider, c)]
        pending = await self._store.get_pending(user, provider.name)
        since = await self._store.last_audit(user, ("completed",), provider=provider.name)
        used = await self._store.last_audit(user, ("delivery_sent", "labels_sent"), provider=provider.name)
        known = {*provider.scopes, *provider.scope_words}
        return AccountState(
            email=next((name for c in mine if (name := provider.account(c.user_info))), None),
            scopes=(tuple(sorted({s for c in mine for s in c.scopes if s in known})) or provider.scopes)
            if mine
            else None,
            since=since.at if since and mine else None,
            last_used=used.at if used else None,
            pending_until=pending.deadline if pending else None,
            history=[],
        )

    async def states(self, user: SlackUser) -> list[tuple[AnyProvider, AccountState]]:
        """Every provider's state, asking Arcade once per Arcade provider."""
        grants: dict[str, list[Connection]] = {}
        for arcade_id in dict.fromkeys(p.arcade_id for p in self.providers):
            grants[arcade_id] = await self._arcade.connections(user, arcade_id)
        return [(p, await self.state(user, p, connections=grants[p.arcade_id])) for p in self.providers]

    async def disconnect(self, user: SlackUser, provider: AnyProvider) -> Disconnected:
        """Remove the grant behind ``provider`` at Arcade (shared: the others on it go too)."""
        connections = await self._arcade.connections(user, provider.arcade_id)
        if not any(self._covers(provider, c) for c in connections):
            await self._store.audit(user, "disconnected", "0", provider=provider.name)
            return Disconnected(0, [])  # another provider's part of a shared grant is left alone
        also = [p for p in self.providers.sharing(provider) if any(self._covers(p, c) for c in connections)]
        removed = await self._arcade.disconnect(user, provider.arcade_id)
        await self._store.audit(user, "disconnected", str(removed), provider=provider.name)
        for other in also:
            await self._store.audit(
                user, "disconnected", f"shared grant removed for {provider.name}", provider=other.name
            )
        return Disconnected(removed, also)

    async def act(
        self, user: SlackUser, provider: AnyProvider, reply: str, authorized: Authorized | None = None
    ) -> Answer | Prompt:
        """The provider's first action for the user, or the prompt they must follow first.

        ``authorized`` is a token Arcade just handed us (e.g. with a completed status); without
        one, Arcade is asked.
        """
        started = authorized or await self._flows.start(user, reply, provider.need)
        if isinstance(started, Prompt):
            return started
        grant = Grant(started.token, provider.account(started.user_info) or started.email)
        try:
            result = await provider.act(self._adapters[provider.name], grant)
        except TokenRefused:
            log.warning("%s.token_refused user=%s: removing the grant and asking again", provider.name, user.arcade_id)
        else:
            return Answer(provider, result)
        await self._arcade.disconnect(user, provider.arcade_id)
        for each in (provider, *self.providers.sharing(provider)):
            await self._store.audit(user, "disconnected", f"{provider.name} refused the token", provider=each.name)
        again = await self._flows.start(user, reply, provider.need)
        if isinstance(again, Authorized):  # Arcade still hands out a refused grant
            raise TokenRefused("Arcade answered completed right after the grant was removed")
        return again
