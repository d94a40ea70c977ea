"""Composition root, and the only module with side effects.

env -> Settings -> store, Arcade, Gmail, Slack clients -> app -> Socket Mode or HTTP server.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import resource
import signal
import sys
import time
from contextlib import AsyncExitStack
from functools import partial

import aiohttp
from aiohttp import web
from dotenv import find_dotenv, load_dotenv
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot import logs, verifier
from bot.arcade import Arcade
from bot.authflow import AuthFlows
from bot.config import GMAIL_SCOPE, ConfigError, Settings
from bot.gmail import Gmail
from bot.identity import slack_ids
from bot.mailbox import Mailbox
from bot.server import build_web_app
from bot.slack.app import build_app, report_failure
from bot.slack.delivery import Delivery
from bot.slack.deps import Deps
from bot.slack.emails import SlackEmails
from bot.slack.http import EVENTS_PATH, events_handler
from bot.slack.sender import Messenger, retry_handlers
from bot.slack.work import AfterAck
from bot.store import Store

log = logging.getLogger("bot")
OPEN_FILES_CEILING = 1_048_576  # Linux's default nr_open


async def serve(settings: Settings, stop: asyncio.Event, ready: asyncio.Future[int] | None = None) -> None:
    """Run the bot until ``stop`` is set; ``ready`` gets the port it serves on once it serves requests."""
    started = time.monotonic()
    async with AsyncExitStack() as stack:
        store = await stack.enter_async_context(Store.open(settings.database_path))
        gmail = Gmail(settings.gmail_api_url)
        stack.callback(gmail.close)
        session = await stack.enter_async_context(aiohttp.ClientSession())
        client = AsyncWebClient(
            token=settings.slack_bot_token,
            base_url=settings.slack_api_url,
            session=session,
            retry_handlers=retry_handlers(),
        )
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
        flows = AuthFlows(arcade, store, timeout_seconds=settings.auth_timeout_seconds)
        stack.push_async_callback(flows.close)
        delivery = Delivery(
            Mailbox(arcade, gmail, flows, store),
            Messenger(client, session),
            store,
            timeout_seconds=settings.auth_timeout_seconds,
        )
        stack.push_async_callback(delivery.close)
        # The one loop in the object graph, closed here and only here: flows start through the
        # mailbox, and a flow that ends is handed to delivery (its outbox row is already durable).
        flows.deliver_to(delivery.finished)
        after_ack = AfterAck(partial(report_failure, delivery, time.time))
        stack.push_async_callback(after_ack.close)
        app = build_app(
            Deps(client=client, delivery=delivery, store=store, clock=time.time, after_ack=after_ack),
            signing_secret=None if settings.socket_mode else settings.slack_signing_secret,
        )

        handler: AsyncSocketModeHandler | None = None
        if settings.socket_mode:
            handler = AsyncSocketModeHandler(app, settings.slack_app_token, web_client=client)
            await handler.connect_async()  # type: ignore[no-untyped-call]  # slack_bolt leaves it unannotated
            stack.push_async_callback(handler.close_async)

        async def health() -> dict[str, bool]:
            checks = {"store": await store.ping()}
            if handler is not None:
                checks["slack_socket"] = await handler.client.is_connected()
            return checks

        # The web server runs in both modes: /healthz and the verifier; /slack/events in HTTP mode.
        web_app = build_web_app(health)
        if handler is None:
            web_app.router.add_post(EVENTS_PATH, events_handler(app))
        if settings.user_verifier == "custom":
            verifier.add_routes(web_app, verifier.build(settings, arcade=arcade, session=session, client=client))
            log.info("verifier.ready url=%s%s", settings.public_url, verifier.VERIFY_PATH)
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        # aiohttp's default backlog (128) drops connections during a burst of commands.
        await web.TCPSite(runner, settings.host, settings.port, backlog=1024).start()
        port = runner.addresses[0][1]  # PORT=0 binds any free port

        pruned = await store.prune_audit(settings.audit_retention_days)
        pruning = asyncio.create_task(_prune_daily(store, settings.audit_retention_days))
        stack.callback(pruning.cancel)
        owed = await delivery.flush()
        resumed = await flows.resume()
        log.info(
            "bot.ready mode=%s resumed=%d redelivered=%d audit_pruned=%d startup=%.2fs",
            f"{'socket' if settings.socket_mode else 'http'} web={settings.host}:{port}",
            resumed,
            owed,
            pruned,
            time.monotonic() - started,
        )
        if ready is not None:
            ready.set_result(port)
        await stop.wait()
        log.info("bot.stopping waiting=%d", flows.waiting)


def raise_open_files_limit() -> int:
    """Each waiting user holds one connection to Arcade, and the usual soft limit of 1,024 open files
    would cap them at about a thousand: take what the hard limit allows. Returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = OPEN_FILES_CEILING if hard == resource.RLIM_INFINITY else min(hard, OPEN_FILES_CEILING)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError) as exc:  # e.g. above the kernel's nr_open: keep what we have
            log.warning("bot.open_files_unchanged limit=%d error=%s", soft, exc)
    return soft


def _tune_gc() -> None:
    """Each waiting user is a few hundred live objects that every full collection walks again.

    Measured with bench/ at 5,000 waiting (README "Performance"): with the defaults, collections
    took up to 40% of the CPU while users arrived and approved, with pauses up to 470 ms. Start-up
    objects (modules, the Gmail discovery document) live as long as the process, so they are
    frozen out of collections; the first generation is collected every 10,000 allocations
    instead of 700, which makes every generation's collections ~14x rarer.
    """
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


async def _prune_daily(store: Store, keep_days: int) -> None:
    while True:
        await asyncio.sleep(86_400)
        removed = await store.prune_audit(keep_days)
        log.info("audit.pruned removed=%d keep_days=%d", removed, keep_days)


async def _run(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    ready: asyncio.Future[int] = loop.create_future()

    async def tune_gc_when_ready() -> None:
        await ready
        _tune_gc()

    tuning = asyncio.create_task(tune_gc_when_ready())
    try:
        await serve(settings, stop, ready)
    finally:
        tuning.cancel()


def main() -> int:
    load_dotenv(find_dotenv(usecwd=True), override=False)  # .env where the bot is started; real env wins
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        print(f"bot: {exc}", file=sys.stderr)  # noqa: T201 - logging is not configured yet
        return 2
    secrets = [settings.slack_bot_token, settings.arcade_api_key]
    secrets += [s for s in (settings.slack_app_token, settings.slack_signing_secret) if s]
    secrets += [s for s in (settings.slack_client_secret, settings.verifier_secret) if s]
    logs.configure(settings.log_level_number, secrets)
    log.info("bot.open_files limit=%d", raise_open_files_limit())
    asyncio.run(_run(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
