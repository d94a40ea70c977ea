"""Per-address request limits for the verifier, so strangers cannot run up the app's Sign in with
Slack quota or keep the verifier busy. Fixed one-minute windows, in memory: the table holds one
counter per address seen this minute and is emptied when the minute turns."""

from __future__ import annotations

import time
from collections.abc import Callable

WINDOW_SECONDS = 60.0


class RateLimit:
    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = per_minute
        self._clock = clock
        self._counts: dict[str, int] = {}
        self._window_ends = 0.0

    def allow(self, address: str) -> bool:
        """Count one request from ``address``; False once it made ``per_minute`` this minute."""
        now = self._clock()
        if now >= self._window_ends:
            self._counts.clear()
            self._window_ends = now + WINDOW_SECONDS
        count = self._counts.get(address, 0)
        if count >= self._limit:
            return False
        self._counts[address] = count + 1
        return True
