"""The verifier binds a consent to the browser that opened its owner's own Authorize button (issue #12,
items 1 and 3): the reverse-binding attack, other workspaces, the start link, and the small doors
(HEAD, the flow id pattern, a non-ASCII nonce, per-address limits)."""

from __future__ import annotations

import logging

import pytest

from bot.verifier import START_COOKIE, START_PATH, VERIFY_PATH
from tests.verify_support import (
    ask_for_link,
    browserless,
    callback_url,
    label_lists,
    query_of,
    start_verified_bot,
    verify_url,
)
from tests.world import ALICE, BOB, TEAM, World, arcade_user

OTHER_TEAM = "T0OTHER0001"


async def test_the_button_opens_the_bots_own_short_link(world: World) -> None:
    bot = await start_verified_bot(world)
    link = await ask_for_link(world, ALICE)
    [flow] = world.arcade.pending_for(arcade_user(ALICE))
    assert link.startswith(f"{bot.settings.public_url}{START_PATH}/")
    assert flow.url not in link  # Arcade's URL is only reached through the start link
    async with browserless(world, ALICE) as alice:
        assert await alice.to_arcade(link) == flow.url


async def test_the_reverse_binding_attack_fails(world: World) -> None:
    """Bob gets Alice's link, consents with his own Google account, stops at the verifier and sends
    Alice that URL. Alice's browser never opened her button: refused before Arcade is asked."""
    await start_verified_bot(world)
    link = await ask_for_link(world, ALICE)
    async with browserless(world, BOB) as bob:
        arcade = await bob.to_arcade(link)
        consent = await bob.hop(f"{arcade}&email=bob@example.com")
        assert consent.location is not None
        finish_here = consent.location  # Bob does not follow it: he sends it to Alice
    async with browserless(world, ALICE) as alice:
        refused = await alice.hop(finish_here)
    assert refused.status == 403
    assert "Start from your own Authorize button" in refused.text
    assert world.arcade.verification.confirmations == []
    assert world.arcade.connections == {}
    assert label_lists(world, ALICE) == []


async def test_a_victim_who_started_elsewhere_is_not_bound_to_someone_elses_flow(world: World) -> None:
    """Alice opened her own button (her browser has a start cookie); Bob consents on his own flow
    and sends Alice its verify link. Arcade refuses Alice for Bob's flow; nothing is connected."""
    await start_verified_bot(world)
    alices, bobs = await ask_for_link(world, ALICE), await ask_for_link(world, BOB)
    async with browserless(world, BOB) as bob:
        consent = await bob.hop(f"{await bob.to_arcade(bobs)}&email=bob@example.com")
        assert consent.location is not None
    async with browserless(world, ALICE) as alice:
        await alice.to_arcade(alices)
        refused = await alice.hop(await alice.back_from_slack((await alice.hop(consent.location)).location or ""))
    assert refused.status == 403
    assert "This link belongs to another Slack user" in refused.text  # from the Engine's {"name","message"}
    assert [c.outcome for c in world.arcade.verification.confirmations] == ["user_mismatch"]
    assert world.arcade.connections == {}


async def test_a_user_of_another_workspace_is_refused(world: World) -> None:
    await start_verified_bot(world)
    link = await ask_for_link(world, ALICE)
    async with browserless(world) as alice:
        async with alice.session.get(f"{world.slack.base_url}_fake/login", params={"user": ALICE, "team": OTHER_TEAM}):
            pass
        page = await alice.hop(await alice.to_callback(link))
    assert page.status == 403
    assert "This bot does not serve that workspace" in page.text
    assert world.arcade.verification.confirmations == []


@pytest.mark.parametrize("tamper", ["bad", "unknown", "finished"])
async def test_a_bad_or_stale_start_link_gets_a_page(world: World, tamper: str) -> None:
    bot = await start_verified_bot(world)
    link = await ask_for_link(world, ALICE)
    if tamper == "bad":
        link = link[:-4] + ("AAAA" if not link.endswith("AAAA") else "BBBB")
    elif tamper == "unknown":
        link = f"{bot.settings.public_url}{START_PATH}/not-a-token"
    else:
        await world.arcade.approve(arcade_user(ALICE))
        await world.slack.wait_for(lambda: bool(label_lists(world, ALICE)), timeout=10)
    async with browserless(world, ALICE) as alice:
        page = await alice.hop(link)
    assert page.status == (410 if tamper == "finished" else 400)
    assert START_COOKIE not in page.headers.get("Set-Cookie", "")


async def test_head_requests_reach_no_verifier_handler(world: World) -> None:
    bot = await start_verified_bot(world)
    link = await ask_for_link(world, ALICE)
    async with browserless(world, ALICE) as alice:
        authorize = await alice.to_slack(link)
        callback = await alice.back_from_slack(authorize)
        for url in (link, verify_url(bot, "?flow_id=abc"), callback):
            async with alice.session.head(url, allow_redirects=False) as resp:
                assert resp.status == 405, url
        done = await alice.hop(callback)  # the prefetcher's HEAD did not spend it
    assert done.status == 303
    assert [c.outcome for c in world.arcade.verification.confirmations] == ["confirmed"]


async def test_a_flow_id_with_a_trailing_newline_is_refused(world: World) -> None:
    bot = await start_verified_bot(world)
    link = await ask_for_link(world, ALICE)
    async with browserless(world, ALICE) as alice:
        await alice.to_arcade(link)  # has the start cookie, so only the pattern can refuse
        page = await alice.hop(verify_url(bot, "?flow_id=abc%0A"))
    assert page.status == 400
    assert "This link is incomplete" in page.text


async def test_a_non_ascii_nonce_is_a_failed_sign_in_not_a_500(world: World) -> None:
    await start_verified_bot(world)
    link = await ask_for_link(world, ALICE)
    world.slack.oidc.id_token_nonce = "nonce-\u00e9\u4e2d"
    async with browserless(world, ALICE) as alice:
        page = await alice.hop(await alice.to_callback(link))
    assert page.status == 400
    assert "Slack could not confirm who you are" in page.text.replace("&#x27;", "'")


async def test_pages_are_limited_per_address(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    bot = await start_verified_bot(world)
    async with browserless(world) as stranger:
        statuses = [(await stranger.hop(verify_url(bot, "?flow_id=x"))).status for _ in range(61)]
        too_many = await stranger.hop(callback_url(bot, "?state=x&code=y"))
    assert statuses[:60] == [403] * 60
    assert statuses[60] == 429
    assert too_many.status == 429
    assert "Too many attempts" in too_many.text
    assert "verify.rate_limited what=pages" in caplog.text


async def test_sign_in_code_exchanges_are_limited_per_address(world: World) -> None:
    await start_verified_bot(world)
    link = await ask_for_link(world, ALICE)
    pages = []
    async with browserless(world, ALICE) as alice:
        for _ in range(11):
            pages.append(await alice.hop(await alice.to_callback(link)))
    exchanges = [c for c in world.slack.calls if c.method == "openid.connect.token"]
    assert len(exchanges) == 10
    assert pages[-1].status == 429
    assert [p.status for p in pages[:10]] == [303] * 10  # each went through consent again


async def test_the_state_is_spent_only_after_the_cookie_check(world: World) -> None:
    """A bare request with a valid state but no binding cookie records nothing: the owner still finishes."""
    await start_verified_bot(world)
    link = await ask_for_link(world, ALICE)
    async with browserless(world, ALICE) as alice, browserless(world) as stranger:
        callback = await alice.to_callback(link)
        assert query_of(callback)["state"]
        for _ in range(3):
            assert (await stranger.hop(callback)).status == 400
        done = await alice.hop(callback)
    assert done.status == 303


def test_verify_path_is_under_the_start_cookie_path() -> None:
    assert VERIFY_PATH.startswith("/arcade/")
    assert TEAM != OTHER_TEAM
