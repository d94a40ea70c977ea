"""Block Kit builders: valid under slack_sdk's own models, within Slack's limits, escaped."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from bot.models import Label, Message
from bot.providers.gmail import GMAIL
from bot.slack import messages as blocks
from bot.slack.kit import escape

URL = "https://cloud.arcade.dev/api/v1/oauth/authorize?state=abc&client=xyz"
EXPIRES = 1_700_000_700  # 2023-11-14 22:25:00 UTC


def validated(message: Message) -> Message:
    """Parse every block with slack_sdk's models; ``to_dict()`` runs their length checks."""
    assert message.text.strip()
    assert 1 <= len(message.blocks) <= 50
    for raw in message.blocks:
        model = Block.parse(raw)
        assert model is not None, raw
        assert model.to_dict() == raw  # nothing unknown was dropped
    return message


def sections(message: Message) -> list[str]:
    return [block["text"]["text"] for block in message.blocks if block["type"] == "section"]


def contexts(message: Message) -> list[str]:
    return [el["text"] for block in message.blocks if block["type"] == "context" for el in block["elements"]]


def everything(message: Message) -> str:
    return "\n".join([message.text, *sections(message), *contexts(message)])


def user_labels(count: int, *, long: bool = False) -> list[Label]:
    if long:  # deep, long paths: every third label sits under a parent that does not exist
        names = [f"Projects & Clients {n // 30:02}/Customer account {n:03} — {'x' * 60}/Q{n % 4}" for n in range(count)]
    else:
        names = [f"Label {n:03}" for n in range(count)]
    return [Label(id=f"Label_{n}", name=name, kind="user", unread=n % 7 or None) for n, name in enumerate(names)]


def test_escape_follows_slack_rules() -> None:
    assert escape("a & b <c> &amp;") == "a &amp; b &lt;c&gt; &amp;amp;"


@pytest.mark.parametrize("again", [False, True])
def test_prompt(again: bool) -> None:
    message = validated(blocks.prompt(GMAIL, URL, EXPIRES, again=again))

    actions = [block for block in message.blocks if block["type"] == "actions"]
    assert len(actions) == 1
    [button] = actions[0]["elements"]
    assert button["url"] == URL
    assert button["action_id"] == blocks.OPEN_AUTH_ACTION == "connect_gmail_open"
    assert button["text"] == {"type": "plain_text", "text": "Authorize Gmail"}
    assert button["style"] == "primary"
    assert len(button["text"]["text"]) <= 75
    assert URL not in message.text
    assert "arcade.dev" not in message.text
    assert contexts(message) == [f"This link is valid until <!date^{EXPIRES}^{{time}}|22:25 UTC>"]
    assert "read-only access to your Gmail" in sections(message)[0]
    assert "list your labels" in sections(message)[0]
    assert ("already" in sections(message)[0].splitlines()[0]) is again
    assert ("same link" in sections(message)[0]) is again


def test_connected() -> None:
    assert "Gmail connected" in validated(blocks.connected(GMAIL, None)).text
    message = validated(blocks.connected(GMAIL, "alice@example.com"))
    assert sections(message) == [":white_check_mark: Gmail connected as alice@example.com"]
    assert "&lt;b&gt;" in everything(validated(blocks.connected(GMAIL, "<b>@example.com")))


def action_buttons(message: Message) -> list[dict[str, Any]]:
    return [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]


def test_outcomes_offer_a_fresh_start() -> None:
    failed = validated(blocks.failed(GMAIL))
    assert "declined or failed" in sections(failed)[0]
    assert [(b["text"]["text"], b["action_id"]) for b in action_buttons(failed)] == [("Try again", blocks.START_ACTION)]
    expired = validated(blocks.expired(GMAIL, 5))
    assert "Link expired" in sections(expired)[0]
    assert "valid for 5 minutes" in sections(expired)[0]
    assert "valid for 1 minute." in sections(validated(blocks.expired(GMAIL, 1)))[0]
    assert [b["text"]["text"] for b in action_buttons(expired)] == ["Get a new link"]
    assert all("url" not in b for b in action_buttons(expired) + action_buttons(failed))


def test_waiting_prompt_keeps_the_link() -> None:
    message = validated(blocks.prompt(GMAIL, URL, EXPIRES, waiting=True))
    assert "Waiting for you" in sections(message)[0]
    assert action_buttons(message)[0]["url"] == URL


def test_short_notes() -> None:
    usage = everything(validated(blocks.usage()))
    assert "/connect-gmail" in usage
    assert "`labels`" in usage
    for word in ("help", "status", "disconnect"):
        assert word in usage
    assert "direct messages" in validated(blocks.connected(GMAIL, "a@example.com", answer_in_dm=True)).text


def test_problem_is_escaped_and_bounded() -> None:
    message = validated(blocks.problem("Gmail said <no> & left"))
    assert sections(message) == [":warning: Gmail said &lt;no&gt; &amp; left"]
    assert message.text == sections(message)[0]
    long = validated(blocks.problem("&" * 5000))
    assert sections(long)[0].endswith("&amp;…")
    assert validated(blocks.problem("  ")).text == ":warning: Something went wrong."


def test_no_labels() -> None:
    message = validated(blocks.labels([Label("UNREAD", "UNREAD", "system")]))

    assert "No labels found" in message.text
    assert "No labels found" in sections(message)[0]
    assert contexts(message) == ["0 labels · read-only via Arcade"]


def test_five_labels() -> None:
    labels = [
        Label("INBOX", "INBOX", "system", unread=12),
        Label("SENT", "SENT", "system"),
        Label("CATEGORY_SOCIAL", "CATEGORY_SOCIAL", "system"),
        Label("Label_1", "work", "user"),
        Label("Label_2", "work/Acme", "user", unread=2),
    ]
    message = validated(blocks.labels(labels, email="alice@example.com"))

    assert message.blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Your Gmail labels"},
    }
    assert sections(message) == [
        "*System*\nInbox (12 unread)\nSent",
        "*Categories*\nSocial",
        "*Labels*\nwork\n↳ Acme (2 unread)",
    ]
    assert contexts(message) == ["5 labels · alice@example.com · read-only via Arcade"]
    assert message.text == "Your Gmail labels (5)"


def test_nesting_is_indented_by_depth() -> None:
    labels = [Label("L1", "a/b/c/d", "user")]
    text = sections(validated(blocks.labels(labels)))[0]

    assert text.splitlines() == ["*Labels*", "a", "↳ b", "\u2003↳ c", "\u2003\u2003↳ d"]


def test_many_short_labels_fit_without_a_note() -> None:
    message = validated(blocks.labels(user_labels(300)))

    text = "\n".join(sections(message))
    assert all(f"Label {n:03}" in text for n in range(300))
    assert not any("more label" in context for context in contexts(message))
    assert contexts(message)[-1] == "300 labels · read-only via Arcade"


def test_hundreds_of_long_nested_labels_are_truncated_within_limits() -> None:
    labels = [
        Label("INBOX", "INBOX", "system", unread=3),
        *user_labels(300, long=True),
        Label("Label_x", "<script>&<@U123>", "user"),
    ]
    message = validated(blocks.labels(labels))

    assert len(message.blocks) <= 50
    assert all(len(text) <= 3000 for text in sections(message))
    assert sum(len(text) for text in sections(message)) <= 13_000
    shown = sum(text.count("Q") for text in sections(message))  # one real label per "Q" leaf
    more = [context for context in contexts(message) if "more label" in context]
    assert more == [f"…and {300 - shown} more labels not shown"]
    assert contexts(message)[-1] == "302 labels · read-only via Arcade"
    assert "Inbox (3 unread)" in sections(message)[0]
    assert "&amp;" in sections(message)[1]  # "&" in the names is escaped
    assert "<script>" not in everything(message)  # the odd one sorts first, before the long ones
    assert "&lt;script&gt;&amp;&lt;@U123&gt;" in sections(message)[1]


def test_label_names_are_escaped() -> None:
    hostile = Label("Label_1", "<script>&<@U123>", "user")
    message = validated(blocks.labels([hostile], email="<!channel>@example.com"))

    text = everything(message)
    assert "&lt;script&gt;&amp;&lt;@U123&gt;" in text
    assert "&lt;!channel&gt;@example.com" in text
    assert "<script>" not in text
    assert "<@U123>" not in text
    assert "<!channel>" not in text


def test_very_long_name_is_cut() -> None:
    message = validated(blocks.labels([Label("Label_1", "&" * 3000, "user")]))

    [text] = sections(message)
    assert text.endswith("…")
    assert len(text) < 1000


@pytest.mark.parametrize("count", [0, 5, 300, 2000])
def test_block_budget_holds_for_any_size(count: int) -> None:
    message = validated(blocks.labels(user_labels(count, long=True)))

    assert len(message.blocks) <= 50
    assert all(len(text) <= 3000 for text in sections(message))
