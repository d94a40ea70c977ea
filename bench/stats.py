"""Small statistics helpers (nearest-rank percentiles, no numpy)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values_s: Sequence[float]) -> dict[str, float | int | None]:
    """p50/p99/max in milliseconds, and the count."""

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 2)

    return {
        "count": len(values_s),
        "p50_ms": ms(percentile(values_s, 50)),
        "p99_ms": ms(percentile(values_s, 99)),
        "max_ms": ms(max(values_s) if values_s else None),
    }
