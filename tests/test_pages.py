"""The verifier's pages: self-contained, phone-sized, branded, escaped, with the right status."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from bot.verifier.pages import APP_NAME, PAGES, Branding, page

BRAND = Branding(workspace="Acme Corp")


class Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Collect:
    parser = Collect()
    parser.feed(html)
    return parser


@pytest.mark.parametrize("kind", list(PAGES))
def test_every_page_is_self_contained_and_branded(kind: str) -> None:
    shown = page(kind, BRAND)  # type: ignore[arg-type]
    parsed = parse(shown.html)
    tags = {tag for tag, _ in parsed.tags}
    assert not tags & {"script", "img", "link", "iframe", "object", "embed", "form"}
    assert not re.search(r"(?i)(src|href)\s*=|url\(|@import", shown.html)  # nothing fetched from anywhere
    viewport = [a for t, a in parsed.tags if t == "meta" and a.get("name") == "viewport"]
    assert viewport == [{"name": "viewport", "content": "width=device-width, initial-scale=1"}]
    text = "".join(parsed.text)
    assert APP_NAME in text
    assert "Acme Corp" in text
    assert shown.title in text
    assert shown.html.startswith("<!doctype html>")


@pytest.mark.parametrize("kind", [k for k in PAGES if k != "verified"])
def test_every_error_page_says_what_to_do_and_is_not_a_success(kind: str) -> None:
    shown = page(kind, BRAND)  # type: ignore[arg-type]
    assert 400 <= shown.status < 600
    text = "".join(parse(shown.html).text)
    assert "/connect-gmail" in text or "Authorize Gmail" in text


def test_statuses() -> None:
    statuses = {kind: spec.status for kind, spec in PAGES.items()}
    assert statuses["verified"] == 200
    assert statuses["mismatch"] == 403
    assert statuses["slack_refused"] == 403
    assert statuses["closed"] == 410
    for kind in ("missing_flow", "state_invalid", "state_expired", "state_replayed", "missing_code", "other_browser"):
        assert statuses[kind] == 400
    assert statuses["slack_unavailable"] == statuses["arcade_unavailable"] == 424  # not the user's doing


def test_the_mismatch_page_says_it_plainly() -> None:
    text = "".join(parse(page("mismatch", BRAND).html).text)
    assert "This link belongs to another Slack user" in text
    assert "Run /connect-gmail in Slack yourself" in text


def test_interpolated_values_are_escaped() -> None:
    evil = '<script>alert(1)</script> & "quotes" /connect-gmail'
    shown = page("mismatch", Branding(app=evil, workspace=evil))
    assert "<script>" not in shown.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;" in shown.html
    assert evil in "".join(parse(shown.html).text)


def test_an_unknown_workspace_reads_naturally() -> None:
    text = "".join(parse(page("closed", Branding()).html).text)
    assert "your Slack workspace" in text
    assert "the your" not in text
