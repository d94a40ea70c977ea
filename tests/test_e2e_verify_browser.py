"""End to end in a real headless Chromium: the Authorize Gmail link from Slack, consent at the fake
Arcade, the bot's verifier, Sign in with Slack at the fake Slack, and the labels arriving in Slack.
Then the forwarded-link attack. Each person is their own browser context (their own cookies).

Chromium is Debian's (``/usr/bin/chromium``, installed by ``.ci/run``), driven by Playwright
without ``playwright install``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Page, Request, ViewportSize

from tests.browser_support import chromium, needs_chromium
from tests.verify_support import ask_for_link, label_lists, start_verified_bot, wait_for_labels
from tests.world import ALICE, BOB, TEAM, World, arcade_user, text_of

PHONE: ViewportSize = {"width": 390, "height": 844}

pytestmark = needs_chromium


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


async def signed_in(browser: Browser, world: World, user: str) -> Page:
    """A new browser (context) whose person is signed in to the fake Slack as ``user``."""
    context = await browser.new_context(viewport=PHONE)
    page = await context.new_page()
    response = await page.goto(f"{world.slack.base_url}_fake/login?user={user}")
    assert response is not None
    assert response.ok
    return page


async def fits_the_screen(page: Page) -> bool:
    return bool(await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_click_the_link_and_the_labels_arrive_in_slack(world: World, browser: Browser, mode: str) -> None:
    await start_verified_bot(world, mode)
    link = await ask_for_link(world, ALICE, mode)
    [flow] = world.arcade.pending_for(arcade_user(ALICE))

    alice = await signed_in(browser, world, ALICE)
    response = await alice.goto(link)
    assert response is not None
    assert response.status == 200
    assert alice.url == f"{world.arcade.base_url}/_fake/oauth/callback_success?flow_id={flow.flow_id}"
    assert "Authorization complete" in await alice.inner_text("body")

    labels = await wait_for_labels(world, ALICE)
    assert "Inbox" in text_of(labels)
    [confirmation] = world.arcade.verification.confirmations
    assert (confirmation.user_id, confirmation.outcome) == (arcade_user(ALICE), "confirmed")
    assert world.arcade.verification.landings == [flow.flow_id]  # next_uri exactly once
    [authorize] = world.slack.oidc.authorize_requests
    assert authorize["scope"] == "openid"
    assert authorize["team"] == TEAM  # the bot's workspace is preselected
    assert authorize["nonce"]
    assert authorize["state"]


async def test_a_forwarded_link_shows_the_mismatch_page_and_harms_nobody(world: World, browser: Browser) -> None:
    await start_verified_bot(world)
    link = await ask_for_link(world, ALICE)
    [flow] = world.arcade.pending_for(arcade_user(ALICE))

    # Alice forwards her link; Bob opens it in his browser, consents with his Google account and
    # passes Sign in with Slack as himself.
    bob = await signed_in(browser, world, BOB)
    world.arcade.consent_email = "bob@example.com"
    response = await bob.goto(link)
    assert response is not None
    assert response.status == 403
    assert await bob.inner_text("h1") == "This link belongs to another Slack user"
    body = await bob.inner_text("body")
    assert "Run /connect-gmail in Slack yourself" in body
    assert "Gmail Connect" in body
    assert "Fake Workspace" in body
    assert await fits_the_screen(bob)

    assert world.arcade.connections == {}  # Bob's Gmail is attached to nobody
    assert [f.auth_id for f in world.arcade.pending_for(arcade_user(ALICE))] == [flow.auth_id]
    assert label_lists(world, ALICE) == label_lists(world, BOB) == []

    # Alice can still complete her own link.
    alice = await signed_in(browser, world, ALICE)
    world.arcade.consent_email = "alice@example.com"
    response = await alice.goto(link)
    assert response is not None
    assert response.status == 200
    await wait_for_labels(world, ALICE)
    assert world.arcade.connections[(arcade_user(ALICE), "google")].email == "alice@example.com"
    assert label_lists(world, BOB) == []
    outcomes = [(c.user_id, c.outcome) for c in world.arcade.verification.confirmations]
    assert outcomes == [(arcade_user(ALICE), "confirmed")]  # Bob was refused before Arcade was asked


async def test_reloading_the_callback_does_not_finish_twice(world: World, browser: Browser) -> None:
    await start_verified_bot(world)
    link = await ask_for_link(world, ALICE)
    [flow] = world.arcade.pending_for(arcade_user(ALICE))
    alice = await signed_in(browser, world, ALICE)
    response = await alice.goto(link)
    assert response is not None
    hops: list[str] = []
    request: Request | None = response.request
    while request is not None:
        hops.insert(0, request.url)
        request = request.redirected_from
    assert [urlsplit(url).path for url in hops][1:] == [
        "/_fake/oauth/consent",  # Google consent, through Arcade
        "/arcade/verify",  # the bot's verifier
        "/openid/connect/authorize",  # Sign in with Slack
        "/arcade/verify/callback",  # back at the verifier: confirm_user
        "/_fake/oauth/callback_success",  # Arcade's next_uri
    ]
    assert urlsplit(hops[0]).path.startswith("/arcade/start/")  # the Authorize button's own short link
    await wait_for_labels(world, ALICE)

    # Opening the callback again (history, a reload) must not reach next_uri a second time.
    again = await alice.goto(hops[4])
    assert again is not None
    assert again.status == 400
    assert await alice.inner_text("h1") == "This sign-in was already used"
    assert await fits_the_screen(alice)
    assert world.arcade.verification.landings == [flow.flow_id]
    assert flow.status == "completed"
