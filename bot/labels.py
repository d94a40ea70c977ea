"""Gmail labels: conversion from ``labels.list`` entries and Gmail-like ordering (pure, no I/O).

The API returns labels in an internal order with system ids as names (``DRAFT``, ``CHAT``).
``arrange`` puts them in the web UI's order with its names; see ``gmail.md`` §5.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bot.models import Label

SYSTEM_ORDER = ("INBOX", "STARRED", "IMPORTANT", "CHAT", "SENT", "DRAFT", "SPAM", "TRASH")
CATEGORY_ORDER = (
    "CATEGORY_PERSONAL",
    "CATEGORY_SOCIAL",
    "CATEGORY_UPDATES",
    "CATEGORY_FORUMS",
    "CATEGORY_PROMOTIONS",
)
NAMES = {
    "INBOX": "Inbox",
    "STARRED": "Starred",
    "IMPORTANT": "Important",
    "CHAT": "Chats",
    "SENT": "Sent",
    "DRAFT": "Drafts",
    "SPAM": "Spam",
    "TRASH": "Trash",
    "CATEGORY_PERSONAL": "Primary",
    "CATEGORY_SOCIAL": "Social",
    "CATEGORY_UPDATES": "Updates",
    "CATEGORY_FORUMS": "Forums",
    "CATEGORY_PROMOTIONS": "Promotions",
}
UNREAD = "UNREAD"  # a message state, never listed in Gmail's sidebar
CATEGORY_PREFIX = "CATEGORY_"


@dataclass(frozen=True, slots=True)
class Line:
    """One row of the user-label tree. ``synthetic`` rows stand in for a parent that does not exist."""

    depth: int
    name: str
    unread: int | None = None
    synthetic: bool = False


@dataclass(frozen=True, slots=True)
class Arranged:
    """Labels in the order Gmail's sidebar shows them, with the UI's names."""

    system: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    user: tuple[Line, ...] = ()
    inbox_unread: int | None = None

    @property
    def count(self) -> int:
        """How many real labels are shown (synthetic parents are not labels)."""
        real = sum(not line.synthetic for line in self.user)
        return len(self.system) + len(self.categories) + real


def from_api(raw: Mapping[str, Any]) -> Label | None:
    """One ``labels.list``/``labels.get`` entry as a ``Label``; ``None`` if it has no id or name."""
    label_id, name = raw.get("id"), raw.get("name")
    if not isinstance(label_id, str) or not label_id or not isinstance(name, str) or not name:
        return None
    kind: Literal["system", "user"]
    if raw.get("type") in ("system", "user"):
        kind = raw["type"]
    else:  # always present in practice; guess from the id if not
        kind = "system" if label_id in NAMES or label_id == UNREAD else "user"
    unread = raw.get("threadsUnread")  # Gmail's sidebar counts unread conversations, not messages
    if isinstance(unread, bool) or not isinstance(unread, int) or unread < 0:
        unread = None
    # Real accounts report labelHide on SPAM, TRASH, IMPORTANT: only user labels can be hidden.
    # labelShowIfUnread: shown only while it has unread mail (kept when the count is unknown).
    visibility = raw.get("labelListVisibility")
    hidden = kind == "user" and (visibility == "labelHide" or (visibility == "labelShowIfUnread" and unread == 0))
    return Label(id=label_id, name=name, kind=kind, hidden=hidden, unread=unread)


def arrange(labels: Iterable[Label]) -> Arranged:
    """Order labels like Gmail: system, categories, then user labels as a ``/`` tree."""
    system: dict[str, Label] = {}
    categories: dict[str, Label] = {}
    user: list[Label] = []
    for label in labels:
        if label.kind == "user":
            if not label.hidden:
                user.append(label)
        elif label.id.startswith(CATEGORY_PREFIX):
            categories[label.id] = label
        elif label.id != UNREAD:
            system[label.id] = label
    inbox = system.get("INBOX")
    return Arranged(
        system=_ordered(system, SYSTEM_ORDER),
        categories=_ordered(categories, CATEGORY_ORDER),
        user=_tree(user),
        inbox_unread=inbox.unread if inbox else None,
    )


def _ordered(by_id: Mapping[str, Label], order: tuple[str, ...]) -> tuple[str, ...]:
    """Known ids in ``order`` with UI names, then unknown ones by name."""
    known = [NAMES[label_id] for label_id in order if label_id in by_id]
    rest = sorted(
        (label.name for label_id, label in by_id.items() if label_id not in order),
        key=lambda name: (name.casefold(), name),
    )
    return (*known, *rest)


def _segments(name: str) -> tuple[str, ...]:
    """``a/b/c`` → ``("a", "b", "c")``; a name with an empty segment is kept whole."""
    parts = tuple(name.split("/"))
    return parts if all(parts) else (name,)


def _tree(labels: Iterable[Label]) -> tuple[Line, ...]:
    """User labels sorted case-insensitively on path segments; missing parents synthesized."""
    lines: dict[tuple[str, ...], Line] = {}
    paths: list[tuple[str, ...]] = []
    for label in sorted(labels, key=lambda label: label.name):
        segments = _segments(label.name)
        key = tuple(segment.casefold() for segment in segments)
        lines[key] = Line(len(segments) - 1, segments[-1], label.unread)
        paths.append(segments)
    for segments in paths:
        for depth in range(len(segments) - 1):
            key = tuple(segment.casefold() for segment in segments[: depth + 1])
            if key not in lines:
                lines[key] = Line(depth, segments[depth], synthetic=True)
    return tuple(lines[key] for key in sorted(lines))
