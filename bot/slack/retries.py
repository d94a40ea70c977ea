"""Retries for every Slack call, as slack_sdk retry handlers: the Web API client, the install flow's
client and ``bot.slack.post`` all run these."""

from __future__ import annotations

import asyncio
import logging

from slack_sdk.http_retry.async_handler import AsyncRetryHandler, HttpRequest, HttpResponse, RetryState
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.interval_calculator import RetryIntervalCalculator

from bot.retry import backoff_delay, jitter

log = logging.getLogger(__name__)

# Refusals that say "not now" rather than "never": the same call is tried again after a pause.
# (HTTP 429s never get here: the retry handlers have already waited them out.)
# Slack also says them inside an HTTP 200 (``ok: false``), which slack_sdk's stock handlers do not read.
_TRY_AGAIN = {"ratelimited", "rate_limited", "service_unavailable", "internal_error", "fatal_error", "request_timeout"}
TRY_AGAIN_RETRIES = 3  # ~1 s, 2 s, 4 s


class Backoff(RetryIntervalCalculator):
    """The bot's own backoff (``bot.retry``): ~1 s, 2 s, 4 s, jittered from the bot's own generator
    (slack_sdk's default jitter draws from the module-level ``random``)."""

    def calculate_sleep_duration(self, current_attempt: int) -> float:
        return backoff_delay(current_attempt)


class RateLimitedRetryHandler(AsyncRateLimitErrorRetryHandler):
    """HTTP 429: sleeps out ``Retry-After`` (1 s if absent) plus up to a second of jitter, like
    slack_sdk's own handler, but with the jitter from the bot's own generator."""

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        values = next((v for k, v in (response.headers if response else {}).items() if k.lower() == "retry-after"), [])
        seconds = int(values[0]) if values and values[0].isdigit() else 1
        await asyncio.sleep(seconds + jitter.random())
        state.increment_current_attempt()


class NotNowRetryHandler(AsyncRetryHandler):
    """Retries a Web API call that Slack answered ``ok: false`` with a "not now" error in an HTTP 200."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        body = response.body if response is not None and response.status_code == 200 else None
        if isinstance(body, dict) and body.get("ok") is False and body.get("error") in _TRY_AGAIN:
            log.info("slack.try_again error=%s attempt=%d", body.get("error"), state.current_attempt + 1)
            return True
        return False


def retry_handlers() -> list[AsyncRetryHandler]:
    """Retries for every Slack call: connection errors, 429 (honouring Retry-After), 500/503, and
    ``ok: false`` answers that mean "not now"."""
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=2, interval_calculator=Backoff()),
        RateLimitedRetryHandler(max_retry_count=3),
        AsyncServerErrorRetryHandler(max_retry_count=2, interval_calculator=Backoff()),
        NotNowRetryHandler(max_retry_count=TRY_AGAIN_RETRIES, interval_calculator=Backoff()),
    ]
