"""Composition root, and the only module with side effects.

env -> Settings -> store, Arcade, the providers' adapters, Slack clients -> app -> Socket Mode or HTTP server.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Coroutine, Iterable
from contextlib import AsyncExitStack
from functools import partial
from typing import Any

import aiohttp
from aiohttp import web
from dotenv import find_dotenv, load_dotenv
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from bot import checks, logs, process, verifier
from bot.arcade import Arcade
from bot.authflow import AuthFlows
from bot.config import GMAIL_SCOPE, ConfigError, Settings
from bot.identity import slack_ids
from bot.mailbox import Mailbox
from bot.providers import SHIPPED, AnyProvider, Registry
from bot.server import RUNNER_OPTIONS, GuardedSite, build_web_app
from bot.slack.app import build_app, report_failure
from bot.slack.clients import slack_client
from bot.slack.delivery import Delivery
from bot.slack.deps import Deps
from bot.slack.emails import SlackEmails
from bot.slack.http import EVENTS_PATH, events_handler
from bot.slack.install import INSTALL_PATH
from bot.slack.install import add_routes as install_routes
from bot.slack.sender import Messenger
from bot.slack.socket import SocketWebClient
from bot.slack.work import AfterAck
from bot.store import Store
from bot.workers import supervise, worker_number

log = logging.getLogger("bot")
SHUTDOWN_GRACE = 3.0  # s a running bot gets to finish on SIGINT/SIGTERM before it is cut short
USAGE = "usage: python -m bot [check]"


async def serve(
    settings: Settings,
    stop: asyncio.Event,
    ready: asyncio.Future[int] | None = None,
    providers: Iterable[AnyProvider] = SHIPPED,
) -> None:
    """Run the bot until ``stop`` is set; ``ready`` gets the port it serves on once it serves requests.
    ``providers``: what users may connect (``bot.providers.SHIPPED``)."""
    started = time.monotonic()
    registry = Registry(providers)
    async with AsyncExitStack() as stack:
        store = await stack.enter_async_context(Store.open(settings.database_url))
        adapters = await stack.enter_async_context(registry.open(settings))
        session = await stack.enter_async_context(aiohttp.ClientSession())
        client, install = slack_client(settings, store, session)  # install: SLACK_INSTALL=on
        # Who a Slack user is at Arcade: slack:T:U (custom verifier) or their Slack email (Arcade's verifier).
        identity = SlackEmails(client) if settings.user_verifier == "arcade" else slack_ids
        arcade = await stack.enter_async_context(
            Arcade.open(
                api_key=settings.arcade_api_key,
                base_url=settings.arcade_base_url,
                scopes=(GMAIL_SCOPE,),
                identity=identity,
            )
        )
        flows = AuthFlows(
            arcade, store, timeout_seconds=settings.auth_timeout_seconds, lease_seconds=settings.lease_seconds
        )
        stack.push_async_callback(flows.close)
        # custom verifier: the Authorize button opens the bot's start link, which binds the browser.
        links = verifier.start_links(settings) if settings.user_verifier == "custom" else None
        delivery = Delivery(
            Mailbox(arcade, adapters, flows, store, registry),
            Messenger(client, session),
            store,
            timeout_seconds=settings.auth_timeout_seconds,
            link=links.link if links else None,
        )
        # The one loop in the object graph, closed here and only here: flows start through the
        # mailbox, and a flow that ends is handed to delivery (its outbox row is already durable).
        flows.deliver_to(delivery.finished)
        after_ack = AfterAck(partial(report_failure, delivery, time.time))
        stack.push_async_callback(after_ack.close)
        app = build_app(
            Deps(
                client=client, delivery=delivery, store=store, clock=time.time, after_ack=after_ack, providers=registry
            ),
            signing_secret=None if settings.socket_mode else settings.slack_signing_secret,
            install=install,
        )

        handler: AsyncSocketModeHandler | None = None
        refused = asyncio.Event()  # stays unset in HTTP mode
        if settings.socket_mode:
            socket_client = SocketWebClient(base_url=settings.slack_api_url, session=session)
            refused = socket_client.refused
            handler = AsyncSocketModeHandler(app, settings.slack_app_token, web_client=socket_client)
            stack.push_async_callback(handler.close_async)
            connect = handler.connect_async()  # type: ignore[no-untyped-call]  # slack_bolt leaves it unannotated
            await _unless_refused(connect, socket_client)

        async def health() -> dict[str, bool]:
            found = {"store": await store.ping()}
            if handler is not None:
                found["slack_socket"] = await handler.client.is_connected()
            return found

        # The web server runs in both modes: /healthz and the verifier; /slack/events in HTTP mode.
        web_app = build_web_app(health)
        if handler is None:
            web_app.router.add_post(EVENTS_PATH, events_handler(app, settings.slack_signing_secret or ""))
        if install is not None:
            install_routes(web_app, install.flow)
            log.info("install.ready url=%s%s", settings.public_url, INSTALL_PATH)
        if links is not None:
            installs = install.installs if install is not None else None
            custom = verifier.build(
                settings, arcade=arcade, session=session, client=client, store=store, links=links, installs=installs
            )
            verifier.add_routes(web_app, custom)
            log.info("verifier.ready url=%s%s", settings.public_url, verifier.VERIFY_PATH)
        runner = web.AppRunner(web_app, **RUNNER_OPTIONS)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        await _listen(runner, settings)
        port = runner.addresses[0][1]  # PORT=0 binds any free port

        pruned = await store.prune_audit(settings.audit_retention_days)
        pruning = asyncio.create_task(_prune_daily(store, settings.audit_retention_days))
        stack.callback(pruning.cancel)
        resumed, owed = await flows.tick()  # what earlier runs left unowned, before the first request
        flows.start_leases()
        log.info(
            "bot.ready mode=%s owner=%s resumed=%d redelivered=%d audit_pruned=%d startup=%.2fs",
            f"{'socket' if settings.socket_mode else 'http'} web={settings.host}:{port}",
            flows.owner,
            resumed,
            owed,
            pruned,
            time.monotonic() - started,
        )
        if ready is not None:
            ready.set_result(port)
        await _first(stop.wait(), refused.wait())
        log.info("bot.stopping waiting=%d", flows.waiting)
        if refused.is_set():
            raise _app_token_refused(socket_client.refusal)


async def _first(*waits: Awaitable[object]) -> None:
    """Wait until the first of ``waits`` ends; cancel the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def _unless_refused(connect: Coroutine[Any, Any, object], client: SocketWebClient) -> None:
    """Connect Socket Mode, unless Slack refuses the app token (slack_sdk would retry it for ever)."""
    connecting = asyncio.ensure_future(connect)
    await _first(asyncio.shield(connecting), client.refused.wait())
    if client.refused.is_set():
        connecting.cancel()
        raise _app_token_refused(client.refusal)
    await connecting


def _app_token_refused(error: str) -> checks.SettingError:
    problem = f"Slack refused the app-level token ({error})."
    return checks.SettingError("SLACK_APP_TOKEN", problem, checks.SOCKET_MODE_FIX)


async def _listen(runner: web.AppRunner, settings: Settings) -> None:
    # aiohttp's default backlog (128) drops connections during a burst of commands. Workers started
    # by WORKERS=N share the port; the kernel spreads connections over them.
    reuse_port = settings.worker is not None
    site = GuardedSite(runner, settings.host, settings.port, backlog=1024, reuse_port=reuse_port)
    try:
        await site.start()
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise checks.SettingError(
            "PORT", f"{settings.host}:{settings.port} is already in use.", "Stop what uses it, or set another PORT."
        ) from None


async def _prune_daily(store: Store, keep_days: int) -> None:
    while True:
        await asyncio.sleep(86_400)
        removed = await store.prune_audit(keep_days)
        log.info("audit.pruned removed=%d keep_days=%d", removed, keep_days)


async def _run(settings: Settings) -> int:
    """Check the settings against Slack and Arcade, then serve until SIGINT or SIGTERM; the exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    checking = asyncio.ensure_future(_check(settings))
    await _first(asyncio.shield(checking), stop.wait())
    if not checking.done():
        checking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await checking
        return 0
    results = checking.result()
    for result in results:
        if result.status == "pass":
            log.info("check.passed setting=%r %s", result.setting, result.detail)
        else:
            level = logging.ERROR if result.status == "fail" else logging.WARNING
            log.log(level, "check.%sed setting=%r %s. %s", result.status, result.setting, result.detail, result.fix)
    if checks.failed(results):
        return 2
    try:
        await _serve_until_stopped(settings, stop)
    except checks.SettingError as exc:
        log.error("bot.refused setting=%r %s %s", exc.setting, exc.problem, exc.fix)
        return 2
    return 0


async def _serve_until_stopped(settings: Settings, stop: asyncio.Event) -> None:
    """``serve``, but a stop while it is still starting cancels it, and a slow shutdown is cut short."""
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    serving = asyncio.ensure_future(serve(settings, stop, ready))

    async def tune_gc_when_ready() -> None:
        await ready
        process.tune_gc()

    tuning = asyncio.create_task(tune_gc_when_ready())
    try:
        await _first(asyncio.shield(serving), stop.wait())
        if not serving.done() and not ready.done():
            log.info("bot.stopping while starting")
            serving.cancel()
        elif not serving.done():
            await asyncio.wait([serving], timeout=SHUTDOWN_GRACE)
            if not serving.done():
                log.warning("bot.stop_forced after=%.0fs", SHUTDOWN_GRACE)
                serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
    finally:
        tuning.cancel()


async def _check(settings: Settings) -> list[checks.Result]:
    async with aiohttp.ClientSession() as session:
        return await checks.run(settings, session, verify_url=f"{settings.public_url}{verifier.VERIFY_PATH}")


def _print(text: str, *, error: bool = False) -> None:
    print(text, file=sys.stderr if error else sys.stdout)  # a report for people, not a log


def _report(settings: Settings) -> int:
    """``python -m bot check``: the settings and each service, pass or fail with the fix; no bot started."""
    mode = "Socket Mode" if settings.socket_mode else "HTTP mode"
    _print(f"Settings: all present and well formed ({mode}, ARCADE_USER_VERIFIER={settings.user_verifier})")
    _print("Services:")
    results = asyncio.run(_check(settings))
    _print(checks.report(results))
    return 2 if checks.failed(results) else 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args not in ([], ["check"]):
        _print(USAGE, error=True)
        return 2
    load_dotenv(find_dotenv(usecwd=True), override=False)  # .env where the bot is started; real env wins
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        _print(f"bot: {exc}", error=True)  # logging is not configured yet
        return 2
    if args == ["check"]:
        return _report(settings)
    secrets = [settings.slack_bot_token, settings.arcade_api_key]
    secrets += [s for s in (settings.slack_app_token, settings.slack_signing_secret) if s]
    secrets += [s for s in (settings.slack_client_secret, settings.verifier_secret) if s]
    logs.configure(settings.log_level_number, secrets)
    worker = worker_number(os.environ)  # set by the supervisor in each process it starts
    if settings.workers > 1 and worker is None:
        return asyncio.run(supervise(settings.workers, os.environ, host=settings.host, port=settings.port))
    settings = dataclasses.replace(settings, worker=worker)
    log.info("bot.open_files limit=%d", process.raise_open_files_limit())
    with asyncio.Runner(loop_factory=process.event_loop_factory()) as runner:
        return runner.run(_run(settings))


if __name__ == "__main__":
    sys.exit(main())
