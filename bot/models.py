"""Small typed values that the middle of the program passes around.

SDK responses (arcadepy models with every field optional, googleapiclient dicts, Slack payload
dicts) are converted into these once, at the edge, so nothing in between checks for ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class SlackUser:
    """A Slack user. IDs are only unique inside a workspace, so the team is part of the identity."""

    team_id: str
    user_id: str

    @property
    def arcade_id(self) -> str:
        """``slack:<team_id>:<user_id>``: namespaced, stable, not personal data.

        The Arcade user id with the custom verifier (``bot.identity`` decides), and the stable
        name of a user in logs in every mode.
        """
        return f"slack:{self.team_id}:{self.user_id}"


@dataclass(frozen=True, slots=True)
class Authorized:
    """Arcade holds a grant covering our scopes. The token is for one job and is never stored."""

    token: str = field(repr=False)
    email: str | None = None
    user_info: dict[str, Any] = field(default_factory=dict, repr=False)  # Arcade's word on the account


@dataclass(frozen=True, slots=True)
class NeedsConsent:
    """The user has to visit ``url`` (Google consent through Arcade) before we can act."""

    auth_id: str
    url: str


Authorization = Authorized | NeedsConsent


@dataclass(frozen=True, slots=True)
class Need:
    """What one of our providers asks Arcade for: its own name (kept with its flows), Arcade's
    provider id and the scopes. Providers that share an Arcade provider share its grant."""

    name: str
    arcade_id: str
    scopes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Label:
    """One Gmail label, as ``labels.list`` describes it."""

    id: str
    name: str
    kind: Literal["system", "user"]
    hidden: bool = False
    unread: int | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """A Slack message: fallback text plus Block Kit blocks (plain dicts, built in ``blocks``)."""

    text: str
    blocks: tuple[dict[str, Any], ...] = ()

    def as_payload(self) -> dict[str, Any]:
        """Without blocks, Slack shows ``text`` itself (mrkdwn), so a message may be text alone."""
        return {"text": self.text, "blocks": list(self.blocks)} if self.blocks else {"text": self.text}


# Closed sets of words, checked by mypy.
Outcome = Literal["completed", "failed", "expired"]  # how an authorization flow ends; also the outbox kinds
AuditName = Literal[
    "requested",
    "prompted",
    "completed",
    "failed",
    "expired",
    "disconnected",
    "delivery_sent",
    "labels_sent",  # a provider's answer was shown (the name dates from when Gmail was the only one)
]
VerifierMode = Literal["custom", "arcade"]  # ARCADE_USER_VERIFIER; see bot/identity.py


@dataclass(frozen=True, slots=True)
class PendingFlow:
    """An authorization the user has not finished yet: the waiter's durable state."""

    user: SlackUser
    auth_id: str
    url: str
    reply: str  # opaque outside the Slack layer: its note of where to answer
    created_at: float
    deadline: float
    provider: str = "gmail"  # whose authorization: one pending flow per user and provider


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """What a user is owed once their flow ended."""

    id: int
    user: SlackUser
    kind: Outcome
    reply: str
    created_at: float
    attempts: int = 0  # > 0: an earlier send may have reached Slack before a crash
    provider: str = "gmail"  # whose flow ended


@dataclass(frozen=True, slots=True)
class Held:
    """What one replica still holds leases on: pending flows (by auth id) and owed answers (by id)."""

    flows: frozenset[str]
    outbox: frozenset[int]


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One line of a user's audit trail."""

    event: AuditName
    detail: str
    at: float
    provider: str = "gmail"


@dataclass(frozen=True, slots=True)
class AccountState:
    """What a user's connection to one provider looks like: Arcade's grant, our pending flow, their
    audit trail. ``email`` is how the account is named ("you@example.com", "@octocat")."""

    email: str | None
    scopes: tuple[str, ...] | None  # None: not connected
    since: float | None
    last_used: float | None
    pending_until: float | None
    history: list[AuditEvent]
