"""Block Kit checks the fake Slack applies to what the bot posts (limits from slack.md §2.1).

``block_errors`` answers the way Slack does: an error code (``invalid_blocks_format``,
``msg_blocks_too_long``, ``invalid_blocks``) plus ``response_metadata.messages``-style strings such
as ``[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

MESSAGE_BLOCK_LIMIT = 50
VIEW_BLOCK_LIMIT = 100

KNOWN_BLOCKS = frozenset(
    {"actions", "context", "divider", "file", "header", "image", "input", "markdown", "rich_text"}
    | {"section", "table", "video"}
)

Problem = tuple[str, str]  # (json pointer below the block, message)
Check = Callable[[Any, str], Iterator[Problem]]


def block_errors(blocks: Any, *, limit: int = MESSAGE_BLOCK_LIMIT) -> tuple[str | None, list[str]]:
    """``(None, [])`` when Slack would accept ``blocks``, else ``(error code, messages)``."""
    if not isinstance(blocks, list):
        return "invalid_blocks_format", ["[ERROR] must be an array [json-pointer:/blocks]"]
    if len(blocks) > limit:
        return "msg_blocks_too_long", [f"[ERROR] no more than {limit} items allowed [json-pointer:/blocks]"]
    messages = [
        f"[ERROR] {message} [json-pointer:/blocks/{index}{pointer}]"
        for index, block in enumerate(blocks)
        for pointer, message in _block(block)
    ]
    return ("invalid_blocks", messages) if messages else (None, [])


def _block(block: Any) -> Iterator[Problem]:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        yield "", "missing required field: type"
        return
    yield from _max_len(block.get("block_id"), "/block_id", 255)
    kind = block["type"]
    if kind not in KNOWN_BLOCKS:
        yield "/type", f"unsupported type: {kind}"
    elif kind == "section":
        if block.get("text") is None and not block.get("fields"):
            yield "", "must provide either text or fields"
        if block.get("text") is not None:
            yield from _text(block["text"], "/text", 3000)
        yield from _items(block.get("fields"), "/fields", 10, lambda f, p: _text(f, p, 2000), required=False)
        if block.get("accessory") is not None:
            yield from _element(block["accessory"], "/accessory")
    elif kind == "header":
        yield from _text(block.get("text"), "/text", 150, plain=True)
    elif kind == "actions":
        yield from _items(block.get("elements"), "/elements", 25, _element)
    elif kind == "context":
        yield from _items(block.get("elements"), "/elements", 10, _context_element)


def _items(items: Any, pointer: str, limit: int, check: Check, *, required: bool = True) -> Iterator[Problem]:
    if items is None and not required:
        return
    if not isinstance(items, list) or not items:
        yield pointer, "must provide at least 1 item"
    elif len(items) > limit:
        yield pointer, f"must provide no more than {limit} items"
    else:
        for index, item in enumerate(items):
            yield from check(item, f"{pointer}/{index}")


def _text(obj: Any, pointer: str, limit: int, *, plain: bool = False) -> Iterator[Problem]:
    allowed = ("plain_text",) if plain else ("plain_text", "mrkdwn")
    if not isinstance(obj, dict) or obj.get("type") not in allowed:
        yield pointer, f"must be a text object of type {' or '.join(allowed)}"
        return
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        yield f"{pointer}/text", "must be more than 0 characters"
    elif len(text) > limit:
        yield f"{pointer}/text", f"must be less than {limit + 1} characters"


def _max_len(value: Any, pointer: str, limit: int) -> Iterator[Problem]:
    if value is not None and (not isinstance(value, str) or len(value) > limit):
        yield pointer, f"must be a string of less than {limit + 1} characters"


def _element(element: Any, pointer: str) -> Iterator[Problem]:
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        yield pointer, "missing required field: type"
        return
    yield from _max_len(element.get("action_id"), f"{pointer}/action_id", 255)
    if element["type"] == "button":
        yield from _text(element.get("text"), f"{pointer}/text", 75, plain=True)
        yield from _max_len(element.get("url"), f"{pointer}/url", 3000)
        yield from _max_len(element.get("value"), f"{pointer}/value", 2000)
        if element.get("style") not in (None, "primary", "danger"):
            yield f"{pointer}/style", "must be one of primary, danger"


def _context_element(element: Any, pointer: str) -> Iterator[Problem]:
    if isinstance(element, dict) and element.get("type") == "image":
        return
    yield from _text(element, pointer, 3000)
