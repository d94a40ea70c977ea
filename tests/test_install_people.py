"""People with SLACK_INSTALL=on: the verifier serves installed workspaces only, and the same user id in
two installed workspaces is two people (two Arcade users, each with only their own link and labels)."""

from __future__ import annotations

from tests.install_support import CAROL, TEAM2, install, install_env, private
from tests.support import label_lists
from tests.verify_support import ask_for_link, browserless, lands_at, start_verified_bot
from tests.world import ALICE, TEAM, World, arcade_user, buttons, text_of

NOT_INSTALLED = "T0000000003"
REFUSED = "This bot does not serve that workspace"


async def test_a_sign_in_from_a_workspace_that_is_not_installed_is_refused(world: World) -> None:
    await start_verified_bot(world, **install_env(world))
    await install(world, TEAM, "Acme")
    link = await ask_for_link(world, ALICE)
    async with browserless(world) as alice:
        async with alice.session.get(
            f"{world.slack.base_url}_fake/login", params={"user": ALICE, "team": NOT_INSTALLED}
        ) as signed_in:
            assert signed_in.status == 200
        page = await alice.hop(await alice.to_callback(link))
    assert page.status == 403
    assert REFUSED in page.text
    assert world.arcade.verification.confirmations == []
    assert world.arcade.connections == {}


async def test_a_workspace_that_leaves_during_the_sign_in_is_refused(world: World) -> None:
    await start_verified_bot(world, **install_env(world))
    await install(world, TEAM, "Acme")
    link = await ask_for_link(world, ALICE)
    async with browserless(world, ALICE) as alice:
        to_slack = await alice.to_slack(link)  # consent given, on the way to Sign in with Slack
        assert (await world.slack.installs.uninstall(TEAM)).status == 200
        page = await alice.hop(await alice.back_from_slack(to_slack))
    assert page.status == 403
    assert REFUSED in page.text
    assert world.arcade.verification.confirmations == []  # Arcade was never asked to confirm her
    assert world.arcade.connections == {}


async def test_the_same_user_id_in_two_workspaces_is_two_people(world: World) -> None:
    world.slack.add_user(ALICE, team_id=TEAM2, email="alice@globex.example")  # another Alice, same id
    world.slack.add_user(CAROL, team_id=TEAM2)
    await start_verified_bot(world, **install_env(world))
    await install(world, TEAM, "Acme")
    await install(world, TEAM2, "Globex")

    for team in (TEAM, TEAM2):
        assert (await world.slack.slash_command(ALICE, team_id=team)).status == 200

    def both_have_a_link() -> bool:
        return all(any(buttons(m) for m in world.slack.private_to(ALICE, team)) for team in (TEAM, TEAM2))

    await world.slack.wait_for(both_have_a_link)
    acme, globex = arcade_user(ALICE, TEAM), arcade_user(ALICE, TEAM2)
    [acme_flow], [globex_flow] = world.arcade.pending_for(acme), world.arcade.pending_for(globex)
    assert acme_flow.auth_id != globex_flow.auth_id
    for team, flow in ((TEAM, acme_flow), (TEAM2, globex_flow)):  # each is sent to their own flow only
        [button] = [b for m in world.slack.private_to(ALICE, team) for b in buttons(m)]
        assert await lands_at(str(button["url"])) == flow.url

    await world.arcade.approve(globex, email="alice@globex.example")
    await world.slack.wait_for(lambda: bool(private(world, ALICE, TEAM2, "Your Gmail labels")), timeout=10)
    assert label_lists(world, ALICE, TEAM) == []  # Acme's Alice connected nothing
    assert [f.auth_id for f in world.arcade.pending_for(acme)] == [acme_flow.auth_id]

    await world.arcade.approve(acme, email="alice@acme.example")
    await world.slack.wait_for(lambda: bool(private(world, ALICE, TEAM, "Your Gmail labels")), timeout=10)
    [acme_labels], [globex_labels] = label_lists(world, ALICE, TEAM), label_lists(world, ALICE, TEAM2)
    assert text_of(acme_labels) != text_of(globex_labels)  # each sees their own Gmail's counts
    assert {(u, "google") for u in (acme, globex)} <= set(world.arcade.connections)
    assert world.arcade.connections[(acme, "google")].email == "alice@acme.example"
    assert world.arcade.connections[(globex, "google")].email == "alice@globex.example"
    assert world.slack.installs.wrong_workspace == []
