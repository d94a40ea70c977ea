"""Installations of the app in workspaces (``SLACK_INSTALL=on``), and the install flow's states.

Tables (schema version 5):

* ``installations``: one row per workspace the app is installed in, keyed by the app's client id,
  the enterprise ('' outside Enterprise Grid) and the workspace. ``data`` is the installation as
  the Slack layer serialised it (opaque here); ``bot_token`` is repeated in a column of its own so
  a refreshed token is written only over the token it replaces. ``refreshing_until`` is the lease
  of the one replica refreshing the token (token rotation); 0 when nobody is.
* ``install_states``: the OAuth ``state`` values handed out by ``/slack/install``, each spent once.

Bot tokens have to be kept for the bot to act in a workspace at all: they are stored here, in the
bot's own database, and nowhere else (never logged). Users' Google tokens never are.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from bot.store.engine import Tx

T = TypeVar("T")


class Runner(Protocol):
    """``Store``'s read or write: runs a query, turning an unreachable database into StoreUnavailable."""

    def __call__(self, query: Callable[[Tx], Awaitable[T]], /) -> Awaitable[T]: ...


@dataclass(frozen=True, slots=True)
class InstallRow:
    enterprise_id: str
    team_id: str
    bot_token: str = field(repr=False)
    data: str = field(repr=False)
    refreshing_until: float


class Installs:
    """Queries on ``installations`` and ``install_states``, for one app (``client_id``)."""

    def __init__(self, read: Runner, write: Runner, clock: Callable[[], float], client_id: str) -> None:
        self._read = read
        self._write = write
        self._clock = clock
        self._client_id = client_id

    async def save(self, enterprise_id: str, team_id: str, bot_token: str, data: str) -> None:
        """Record (or replace: a re-install) the workspace's installation."""
        now = self._clock()
        await self._write(
            lambda tx: tx.execute(
                "INSERT INTO installations (client_id, enterprise_id, team_id, bot_token, data, installed_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (client_id, enterprise_id, team_id) DO UPDATE SET"
                " bot_token = excluded.bot_token, data = excluded.data, installed_at = excluded.installed_at,"
                " refreshing_until = 0",
                self._client_id,
                enterprise_id,
                team_id,
                bot_token,
                data,
                now,
            )
        )

    async def find(self, team_id: str) -> InstallRow | None:
        """The installation in workspace ``team_id`` (team ids are unique across enterprises)."""

        async def query(tx: Tx) -> InstallRow | None:
            rows = await tx.fetch(
                "SELECT enterprise_id, team_id, bot_token, data, refreshing_until FROM installations"
                " WHERE client_id = ? AND team_id = ? ORDER BY installed_at DESC LIMIT 1",
                self._client_id,
                team_id,
            )
            if not rows:
                return None
            enterprise, team, token, data, refreshing = rows[0]
            return InstallRow(str(enterprise), str(team), str(token), str(data), float(refreshing))

        return await self._read(query)

    async def forget(self, team_id: str) -> tuple[int, int]:
        """The app left the workspace: its installation, its pending flows and the answers still owed
        to its users go, in one transaction. (installations, pending flows) removed."""

        async def statement(tx: Tx) -> tuple[int, int]:
            removed = await tx.execute(
                "DELETE FROM installations WHERE client_id = ? AND team_id = ?", self._client_id, team_id
            )
            flows = await tx.execute("DELETE FROM pending WHERE team_id = ?", team_id)
            await tx.execute("DELETE FROM outbox WHERE team_id = ? AND sent_at IS NULL", team_id)
            return removed, flows

        return await self._write(statement)

    async def claim_refresh(self, team_id: str, until: float) -> bool:
        """True if this caller may refresh the workspace's token now (nobody else is, until ``until``)."""
        now = self._clock()
        claimed = await self._write(
            lambda tx: tx.fetch(
                "UPDATE installations SET refreshing_until = ? WHERE client_id = ? AND team_id = ?"
                " AND refreshing_until < ? RETURNING 1",
                until,
                self._client_id,
                team_id,
                now,
            )
        )
        return bool(claimed)

    async def refreshed(self, team_id: str, old_token: str, new_token: str, data: str) -> bool:
        """Store a refreshed token over ``old_token`` only; False if the row changed meanwhile."""
        changed = await self._write(
            lambda tx: tx.execute(
                "UPDATE installations SET bot_token = ?, data = ?, refreshing_until = 0"
                " WHERE client_id = ? AND team_id = ? AND bot_token = ?",
                new_token,
                data,
                self._client_id,
                team_id,
                old_token,
            )
        )
        return changed == 1

    async def issue_state(self, state: str, expires_at: float) -> None:
        now = self._clock()

        async def statement(tx: Tx) -> None:
            await tx.execute("DELETE FROM install_states WHERE expires_at < ?", now)
            await tx.execute("INSERT INTO install_states (state, expires_at) VALUES (?, ?)", state, expires_at)

        await self._write(statement)

    async def consume_state(self, state: str) -> bool:
        """True once for a state that was issued and has not expired; False ever after."""
        now = self._clock()
        spent = await self._write(
            lambda tx: tx.fetch("DELETE FROM install_states WHERE state = ? RETURNING expires_at", state)
        )
        return bool(spent) and float(spent[0][0]) >= now
