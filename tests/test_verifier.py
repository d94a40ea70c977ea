"""The custom user verifier over real HTTP, without a browser: the real bot, the fake Slack's Sign in
with Slack and the fake Arcade's verifier stage. Every error page, and the forwarded-link attack."""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from bot.arcade import Arcade
from bot.config import GMAIL_SCOPE
from bot.models import SlackUser
from bot.store import Store
from bot.verifier import COOKIE, START_COOKIE, Redirect, Shown, Verifier
from bot.verifier.pages import APP_NAME, Branding
from bot.verifier.signin import SlackSignIn
from bot.verifier.start import Binding, StartLinks
from bot.verifier.state import Signer
from tests.fakes.arcade_verify import USER_MISMATCH, USER_MISMATCH_ENGINE, USER_MISMATCH_WITH_ERROR, Confirmation
from tests.verify_support import (
    ask_for_link,
    browserless,
    callback_url,
    label_lists,
    query_of,
    start_verified_bot,
    verify_url,
    wait_for_labels,
)
from tests.world import ALICE, BOB, TEAM, VERIFIER_SECRET, World, arcade_user


def flow_id_of(world: World, user: str) -> str:
    [flow] = world.arcade.pending_for(arcade_user(user))
    return flow.flow_id


async def test_link_to_labels_over_http(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="bot")
    await start_verified_bot(world)
    link = await ask_for_link(world, ALICE)
    flow_id = flow_id_of(world, ALICE)
    async with browserless(world, ALICE) as alice:
        authorize = await alice.to_slack(link)
        assert query_of(authorize)["scope"] == "openid"
        assert query_of(authorize)["client_id"] == world.slack.oidc.client_id
        assert flow_id not in authorize  # parked in the signed state, not readable in the URL
        callback = await alice.back_from_slack(authorize)
        done = await alice.hop(callback)
        assert done.status == 303
        assert done.location == f"{world.arcade.base_url}/_fake/oauth/callback_success?flow_id={flow_id}"
        landed = await alice.hop(done.location)
        assert landed.status == 200
    await wait_for_labels(world, ALICE)
    assert world.arcade.verification.confirmations == [Confirmation(flow_id, arcade_user(ALICE), "confirmed")]
    assert world.arcade.verification.landings == [flow_id]  # next_uri exactly once
    assert world.arcade.connections[(arcade_user(ALICE), "google")].scopes == {GMAIL_SCOPE}

    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("bot"))
    assert f"verify.confirmed user={arcade_user(ALICE)}" in ours
    secrets = [query_of(callback)["code"], query_of(callback)["state"], *world.slack.oidc.access_tokens]
    secrets += [world.slack.oidc.client_secret, VERIFIER_SECRET, flow_id]  # flow ids are logged shortened
    assert [s for s in secrets if s in ours] == []


async def test_the_verifier_cookie_and_headers(world: World) -> None:
    bot = await start_verified_bot(world)
    link = await ask_for_link(world, ALICE)
    async with browserless(world, ALICE) as alice:
        via_start = await alice.hop(link)
        start_cookie = via_start.headers["Set-Cookie"]
        assert start_cookie.startswith(f"{START_COOKIE}=")
        for flag in ("HttpOnly", "Path=/arcade/verify", "SameSite=Lax", "Max-Age=600"):
            assert flag in start_cookie
        assert via_start.location is not None
        consent = await alice.hop(via_start.location)
        assert consent.location is not None
        started = await alice.hop(consent.location)
        cookie = started.headers["Set-Cookie"]
        assert cookie.startswith(f"{COOKIE}=")
        for flag in ("HttpOnly", "Path=/arcade/verify", "SameSite=Lax", "Max-Age=600"):
            assert flag in cookie
        assert "Secure" not in cookie  # PUBLIC_URL is plain http on loopback in tests
        for hop in (via_start, started, await alice.hop(verify_url(bot))):
            assert hop.headers["Cache-Control"] == "no-store"
            assert "default-src 'none'" in hop.headers["Content-Security-Policy"]
            assert hop.headers["Referrer-Policy"] == "no-referrer"


async def test_the_forwarded_link_attack_fails_and_harms_nobody(world: World) -> None:
    await start_verified_bot(world)
    link = await ask_for_link(world, ALICE)
    flow_id = flow_id_of(world, ALICE)
    async with browserless(world, BOB) as bob:
        callback = await bob.to_callback(link, email="bob@example.com")
        refused = await bob.hop(callback)
    assert refused.status == 403
    assert "This link belongs to another Slack user" in refused.text
    assert "Run <code>/connect-gmail</code> in Slack yourself" in refused.text
    assert world.arcade.connections == {}  # nobody got Bob's Gmail, least of all Alice
    assert world.arcade.verification.confirmations == []  # refused before Arcade was asked
    assert flow_id_of(world, ALICE) == flow_id  # Alice's flow is untouched and still waiting
    assert label_lists(world, ALICE) == label_lists(world, BOB) == []

    async with browserless(world, ALICE) as alice:
        done = await alice.hop(await alice.to_callback(link, email="alice@example.com"))
        assert done.status == 303
        assert done.location is not None
        await alice.hop(done.location)
    await wait_for_labels(world, ALICE)
    assert world.arcade.connections[(arcade_user(ALICE), "google")].email == "alice@example.com"
    assert label_lists(world, BOB) == []


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("", "This link is incomplete"),
        ("?flow_id=", "This link is incomplete"),
        ("?flow_id=%3Cscript%3E", "This link is incomplete"),
        ("?flow_id=abc&user_id=slack:T1:U1", "This link was changed"),
        ("?flow_id=abc&email=a@example.com", "This link was changed"),
    ],
)
async def test_a_bad_verifier_link_gets_a_page(world: World, query: str, title: str) -> None:
    bot = await start_verified_bot(world)
    async with browserless(world) as anyone:
        page = await anyone.hop(verify_url(bot, query))
    assert page.status == 400
    assert title in page.text
    assert APP_NAME in page.text
    assert "Fake Workspace" in page.text
    assert page.headers["Content-Type"].startswith("text/html")


async def test_callback_pages_for_broken_or_reused_sign_ins(world: World) -> None:
    bot = await start_verified_bot(world)
    link = await ask_for_link(world, ALICE)
    async with browserless(world, ALICE) as alice, browserless(world, ALICE) as other_browser:
        callback = await alice.to_callback(link)
        state, code = query_of(callback)["state"], query_of(callback)["code"]
        payload, rest = state.split(".", 1)
        tampered = f"{payload[:-3]}{'AAA' if payload[-3:] != 'AAA' else 'BBB'}.{rest}"
        [binding] = [c.value for c in alice.session.cookie_jar if c.key == COOKIE]
        pages = {
            "no state": await other_browser.hop(callback_url(bot, f"?code={code}")),
            "tampered": await other_browser.hop(callback_url(bot, f"?code={code}&state={tampered}")),
            "other browser": await other_browser.hop(callback),  # refused before the state is spent …
        }
        first = await alice.hop(callback)  # … so its owner can still use it
        async with browserless(world) as copycat:  # even with the binding cookie copied, once is once
            copycat.session.cookie_jar.update_cookies({COOKIE: binding}, response_url=URL(callback))
            pages["replayed"] = await copycat.hop(callback)
    assert {name: page.status for name, page in pages.items()} == dict.fromkeys(pages, 400)
    assert "This sign-in link is not valid" in pages["no state"].text
    assert "This sign-in link is not valid" in pages["tampered"].text
    assert "Finish in the browser you started in" in pages["other browser"].text
    assert "This sign-in was already used" in pages["replayed"].text
    assert first.status == 303
    assert [c.outcome for c in world.arcade.verification.confirmations] == ["confirmed"]


async def test_slack_saying_no_and_a_missing_code(world: World) -> None:
    bot = await start_verified_bot(world)
    link = await ask_for_link(world, ALICE)
    async with browserless(world, ALICE) as alice:
        world.slack.oidc.refuse_next("access_denied")
        refused = await alice.hop(await alice.to_callback(link))
        authorize = await alice.to_slack(link)
        no_code = await alice.hop(callback_url(bot, f"?state={query_of(authorize)['state']}"))
    assert refused.status == 403
    assert "Sign in with Slack was cancelled" in refused.text
    assert no_code.status == 400
    assert "Slack&#x27;s answer is incomplete" in no_code.text
    assert world.arcade.verification.confirmations == []


@pytest.mark.parametrize(
    ("method", "error", "status", "title"),
    [
        ("openid.connect.token", "invalid_code", 400, "Slack could not confirm who you are"),
        ("openid.connect.token", "bad_client_secret", 424, "Sign in with Slack is not working right now"),
        ("openid.connect.userInfo", "invalid_auth", 424, "Sign in with Slack is not working right now"),
        ("nonce", "", 400, "Slack could not confirm who you are"),
    ],
)
async def test_sign_in_failures(world: World, method: str, error: str, status: int, title: str) -> None:
    await start_verified_bot(world)
    link = await ask_for_link(world, ALICE)
    if method == "nonce":
        world.slack.oidc.wrong_nonce = True  # the code was issued to another sign-in
    else:
        world.slack.oidc.fail_next(method, error)
    async with browserless(world, ALICE) as alice:
        page = await alice.hop(await alice.to_callback(link))
    assert page.status == status
    assert title in page.text.replace("&#x27;", "'")
    assert world.arcade.verification.confirmations == []


@pytest.mark.parametrize(
    ("fault", "status", "title"),
    [
        # each documented shape of a mismatch, none relying on an "error" field
        ((400, USER_MISMATCH), 403, "This link belongs to another Slack user"),
        ((400, USER_MISMATCH_WITH_ERROR), 403, "This link belongs to another Slack user"),
        ((400, USER_MISMATCH_ENGINE), 403, "This link belongs to another Slack user"),
        ((200, USER_MISMATCH_WITH_ERROR), 403, "This link belongs to another Slack user"),  # a 200 that means no
        # a 400 that says neither: a page true for a mismatch and for a late confirmation alike
        ((400, {"name": "bad_request", "message": "invalid request"}), 403, "Arcade did not confirm"),
        ((400, {"code": 400, "msg": "Bad request", "data": None}), 410, "This authorization is no longer waiting"),
        ((404, None), 410, "This authorization is no longer waiting"),
        ((401, {"code": 401, "msg": "Unauthorized"}), 424, "Arcade could not finish the connection"),
        ((500, None), 424, "Arcade could not finish the connection"),
        # Arcade confirmed an authorization that is not the user's pending one: not finalised, said loudly
        (
            (200, {"auth_id": "ac_x", "next_uri": "https://cloud.arcade.dev/x"}),
            403,
            "not the authorization you started",
        ),
    ],
)
async def test_arcade_answers(
    world: World, fault: tuple[int, dict[str, object] | None], status: int, title: str
) -> None:
    await start_verified_bot(world)
    link = await ask_for_link(world, ALICE)
    code, body = fault
    world.arcade.fail_next("confirm_user", code, body=body, times=3)  # arcadepy retries 5xx twice
    async with browserless(world, ALICE) as alice:
        page = await alice.hop(await alice.to_callback(link))
    assert page.status == status
    assert title in page.text
    assert world.arcade.connections == {}


async def test_a_confirmation_without_next_uri_gets_the_verified_page(world: World) -> None:
    await start_verified_bot(world)
    link = await ask_for_link(world, ALICE)
    [flow] = world.arcade.pending_for(arcade_user(ALICE))
    world.arcade.fail_next("confirm_user", 200, body={"auth_id": flow.auth_id})
    async with browserless(world, ALICE) as alice:
        page = await alice.hop(await alice.to_callback(link))
    assert page.status == 200
    assert "You&#x27;re verified" in page.text


async def test_too_late_or_already_finished_flows_are_closed(world: World) -> None:
    await start_verified_bot(world)
    link = await ask_for_link(world, ALICE)
    world.arcade.verification.window = 0.0  # Arcade stopped waiting for verification
    async with browserless(world, ALICE) as alice:
        late = await alice.hop(await alice.to_callback(link))
    assert late.status == 410
    assert [c.outcome for c in world.arcade.verification.confirmations] == ["bad_request"]


async def test_an_expired_state_gets_its_page(world: World, tmp_path: Path) -> None:
    """The verifier's logic driven directly (no server, no browser), with a controlled clock."""
    await world.start_bot("http")  # registers the redirect URL and the users
    now = [1_700_000_000.0]
    redirect_uri = f"{world.bots[0].settings.public_url}/arcade/verify/callback"
    async with (
        aiohttp.ClientSession() as session,
        Arcade.open(api_key=world.arcade.api_key, base_url=world.arcade.base_url, scopes=(GMAIL_SCOPE,)) as arcade,
        Store.open(tmp_path / "direct.db") as store,
    ):
        signin = SlackSignIn(
            session,
            slack_api_url=world.slack.api_url,
            client_id=world.slack.oidc.client_id,
            client_secret=world.slack.oidc.client_secret,
            redirect_uri=redirect_uri,
        )

        async def branding(team_id: str | None = None) -> Branding:
            return Branding(workspace="Acme")

        links = StartLinks(VERIFIER_SECRET, public_url="https://bot.example.com/prefix", ttl_seconds=600)
        verifier = Verifier(
            arcade=arcade,
            signin=signin,
            signer=Signer(VERIFIER_SECRET, purpose="state", clock=lambda: now[0]),
            links=links,
            store=store,
            public_url="https://bot.example.com/prefix",
            branding=branding,
        )
        assert verifier.cookie_path == "/prefix/arcade/verify"
        assert verifier.secure_cookie
        started = await verifier.begin({"flow_id": "flow-1"}, links.cookie(Binding(SlackUser(TEAM, ALICE), "ac_1")))
        assert isinstance(started, Redirect)
        assert started.cookie is not None
        state, nonce = query_of(started.location)["state"], query_of(started.location)["nonce"]
        code = world.slack.oidc.issue_code(ALICE, nonce=nonce, redirect_uri=redirect_uri)
        now[0] += 601
        finished = await verifier.finish({"state": state, "code": code}, started.cookie)
    assert isinstance(finished, Shown)
    assert finished.page.status == 400
    assert finished.page.title == "This sign-in took too long"
    assert "Acme" in finished.page.html
    assert finished.clear_cookie
    assert not [c for c in world.slack.calls if c.method.startswith("openid.")]  # nothing was exchanged
