"""Capped exponential backoff with jitter, shared by every retry loop in the bot."""

from __future__ import annotations

import random


def backoff_delay(attempt: int, *, base: float = 1.0, cap: float = 30.0) -> float:
    """``base``·2^attempt seconds, capped, times a jitter in [0.5, 1): ~1 s, 2 s, 4 s … ≤ ``cap``."""
    ceiling = min(cap, base * 2**attempt)
    return float(ceiling * random.uniform(0.5, 1.0))  # noqa: S311 - jitter, not cryptography
