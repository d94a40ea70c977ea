"""Label conversion and Gmail-like ordering (gmail.md §1.1 and §5)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.labels import Arranged, Line, arrange, from_api
from bot.models import Label

HIDE = {"messageListVisibility": "hide", "labelListVisibility": "labelHide"}


def system(label_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": label_id, "name": label_id, "type": "system", **extra}


def user(label_id: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"id": label_id, "name": name, "type": "user", **extra}


def convert(raws: list[dict[str, Any]]) -> list[Label]:
    labels = [from_api(raw) for raw in raws]
    return [label for label in labels if label is not None]


# gmail.md §5's example, in the API's order.
API_ORDER = [
    system("CHAT", **HIDE),
    system("SENT"),
    system("INBOX", threadsUnread=12),
    system("IMPORTANT", **HIDE),
    system("TRASH", **HIDE),
    system("DRAFT"),
    system("SPAM", **HIDE),
    system("CATEGORY_FORUMS", **HIDE),
    system("CATEGORY_UPDATES"),
    system("CATEGORY_PERSONAL"),
    system("CATEGORY_PROMOTIONS"),
    system("CATEGORY_SOCIAL"),
    system("STARRED"),
    system("UNREAD"),
    user("Label_2", "work/clients"),
    user("Label_1", "Receipts", color={"textColor": "#ffffff", "backgroundColor": "#16a765"}),
    user("Label_3", "work"),
    user("Label_4", "work/clients/Acme", threadsUnread=3),
    user("Label_5", "[Imap]/Sent", labelListVisibility="labelHide"),
    user("Label_6", "archive/2019"),
]


def test_gmail_example_is_put_in_gmail_order() -> None:
    arranged = arrange(convert(API_ORDER))

    assert arranged == Arranged(
        system=("Inbox", "Starred", "Important", "Chats", "Sent", "Drafts", "Spam", "Trash"),
        categories=("Primary", "Social", "Updates", "Forums", "Promotions"),
        user=(
            Line(0, "archive", None, synthetic=True),
            Line(1, "2019", None, synthetic=False),
            Line(0, "Receipts", None, synthetic=False),
            Line(0, "work", None, synthetic=False),
            Line(1, "clients", None, synthetic=False),
            Line(2, "Acme", 3, synthetic=False),
        ),
        inbox_unread=12,
    )
    assert arranged.count == 8 + 5 + 5  # UNREAD, the hidden label and the synthetic parent don't count


def test_unknown_system_ids_follow_known_ones_sorted_by_name() -> None:
    labels = convert([system("YELLOW_STAR"), system("TRASH"), system("BLUE_STAR"), system("INBOX")])

    assert arrange(labels).system == ("Inbox", "Trash", "BLUE_STAR", "YELLOW_STAR")


def test_unread_is_never_listed() -> None:
    arranged = arrange(convert([system("UNREAD"), system("INBOX")]))

    assert arranged.system == ("Inbox",)
    assert arranged.inbox_unread is None


def test_missing_parents_are_synthesized_once() -> None:
    labels = convert([user("L1", "a/b/c"), user("L2", "a/b/d"), user("L3", "a/x")])

    assert arrange(labels).user == (
        Line(0, "a", None, synthetic=True),
        Line(1, "b", None, synthetic=True),
        Line(2, "c", None, synthetic=False),
        Line(2, "d", None, synthetic=False),
        Line(1, "x", None, synthetic=False),
    )


def test_existing_parent_is_matched_case_insensitively() -> None:
    labels = convert([user("L1", "work/Report"), user("L2", "Work")])

    assert arrange(labels).user == (Line(0, "Work", None, False), Line(1, "Report", None, False))


def test_user_labels_sort_case_insensitively_with_parents_first() -> None:
    names = ["beta", "Alpha", "alpha-2", "Alpha/zeta", "Alpha/Beta", "BETA2", "1-first"]
    labels = convert([user(f"L{n}", name) for n, name in enumerate(names)])

    assert [(line.depth, line.name) for line in arrange(labels).user] == [
        (0, "1-first"),
        (0, "Alpha"),
        (1, "Beta"),
        (1, "zeta"),
        (0, "alpha-2"),
        (0, "beta"),
        (0, "BETA2"),
    ]


def test_name_with_empty_segment_stays_whole() -> None:
    labels = convert([user("L1", "odd/"), user("L2", "/lead")])

    assert [line.name for line in arrange(labels).user] == ["/lead", "odd/"]


def test_hidden_user_label_is_dropped() -> None:
    label = from_api(user("L1", "Secret", labelListVisibility="labelHide"))

    assert label is not None
    assert label.hidden
    assert arrange([label]).user == ()


def test_hidden_system_label_is_kept() -> None:
    label = from_api(system("SPAM", **HIDE))

    assert label == Label(id="SPAM", name="SPAM", kind="system", hidden=False)
    assert arrange([label]).system == ("Spam",)


def test_from_api_reads_unread_count() -> None:
    assert from_api(system("INBOX", threadsUnread=7, messagesUnread=9)) == Label("INBOX", "INBOX", "system", unread=7)
    assert from_api(user("L1", "x", threadsUnread="7")) == Label("L1", "x", "user")


def test_from_api_guesses_a_missing_type_from_the_id() -> None:
    assert from_api({"id": "INBOX", "name": "INBOX"}) == Label("INBOX", "INBOX", "system")
    assert from_api({"id": "Label_9", "name": "Trips"}) == Label("Label_9", "Trips", "user")


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"name": "No id", "type": "user"},
        {"id": "Label_1", "type": "user"},
        {"id": "", "name": "Empty id", "type": "user"},
        {"id": "Label_1", "name": "", "type": "user"},
        {"id": 5, "name": "Number id", "type": "user"},
        {"id": "Label_1", "name": None, "type": "user"},
    ],
)
def test_malformed_entries_are_dropped(raw: dict[str, Any]) -> None:
    assert from_api(raw) is None


def test_empty_input() -> None:
    assert arrange([]) == Arranged()
    assert arrange([]).count == 0


def test_label_show_if_unread_is_shown_only_with_unread_mail() -> None:
    """Gmail's labelShowIfUnread: in the list only while it holds unread conversations."""
    quiet = user("L1", "quiet", labelListVisibility="labelShowIfUnread", threadsUnread=0)
    busy = user("L2", "busy", labelListVisibility="labelShowIfUnread", threadsUnread=2)
    unknown = user("L3", "uncounted", labelListVisibility="labelShowIfUnread")
    assert [line.name for line in arrange(convert([quiet, busy, unknown])).user] == ["busy", "uncounted"]
