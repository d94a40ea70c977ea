"""Capped exponential backoff with jitter, shared by every retry loop in the bot.

The jitter comes from the bot's own ``random.Random``, never the module-level generator that
tests (and Hypothesis, which forbids drawing from it while it generates data) share.
"""

from __future__ import annotations

import random

jitter = random.Random()  # noqa: S311 - spreading load, not cryptography


def backoff_delay(attempt: int, *, base: float = 1.0, cap: float = 30.0) -> float:
    """``base``·2^attempt seconds, capped, times a jitter in [0.5, 1): ~1 s, 2 s, 4 s … ≤ ``cap``."""
    ceiling = min(cap, base * 2**attempt)
    return float(ceiling * jitter.uniform(0.5, 1.0))
