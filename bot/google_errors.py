"""Reading Google's JSON error envelope, the same for every Google API the bot calls (Gmail,
Calendar): ``{"error": {"code", "message", "errors": [{"reason"}], "status", "details": [{"reason"}]}}``."""

from __future__ import annotations

from typing import Literal

import orjson

# 403s that mean the grant is not good enough, and 403s that mean "slow down"
_AUTH_REASONS = {"authError", "insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT", "required"}
_RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}

Refusal = Literal["refused", "slow_down", "unavailable"]


def classify(status: int, content: bytes) -> tuple[Refusal, set[str]]:
    """What a non-2xx answer means: the token is refused (401, or a 403 for the grant), Google asks
    to slow down (429, or a rate-limit 403), or anything else; and the reasons Google gave."""
    reasons = _reasons(content)
    if status == 401 or (status == 403 and reasons & _AUTH_REASONS):
        return "refused", reasons
    if status == 429 or (status == 403 and reasons & _RATE_REASONS):
        return "slow_down", reasons
    return "unavailable", reasons


def _reasons(content: bytes) -> set[str]:
    """``errors[].reason`` and ``details[].reason``, if the body parses."""
    try:
        error = orjson.loads(content)["error"]
    except (ValueError, KeyError, TypeError):
        return set()
    found = set()
    for key in ("errors", "details"):
        for item in error.get(key, []) if isinstance(error, dict) else []:
            if isinstance(item, dict) and isinstance(item.get("reason"), str):
                found.add(item["reason"])
    return found
