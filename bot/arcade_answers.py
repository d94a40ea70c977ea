"""Reading Arcade's answers: bodies into our types, refusals and failures into our errors.

Bodies are logged by status only: they may echo ids.
"""

from __future__ import annotations

import logging
from typing import Any

import arcadepy

from bot.errors import ArcadeRejected, ArcadeUnavailable
from bot.models import Authorization, Authorized, NeedsConsent

log = logging.getLogger("bot.arcade")

# confirm_user's documented refusals (shared/contracts: arcade.md §3.3): a mismatch is
# {"code":400,"msg":"An error occurred during verification"} (one docs version adds
# "error":"user_mismatch"); "too late" is {"code":400,"msg":"Bad request","data":null}; the SDK's
# host answers {"name","message"}. Anything else is "not confirmed", without guessing which.
_MISMATCH_MESSAGE = "an error occurred during verification"


def is_mismatch(body: object) -> bool:
    if not isinstance(body, dict):
        return False
    said = " ".join(str(body.get(key, "")) for key in ("msg", "message", "name", "error")).lower()
    return body.get("error") == "user_mismatch" or _MISMATCH_MESSAGE in said or "user_mismatch" in said


def is_closed(body: object) -> bool:
    return isinstance(body, dict) and str(body.get("msg", body.get("message", ""))).lower() == "bad request"


def to_authorization(body: dict[str, Any]) -> Authorization | None:
    """An ``AuthorizationResponse`` (as JSON) into ours: a token, a link to consent, or neither."""
    status, context = body.get("status"), body.get("context")
    if status == "completed" and isinstance(context, dict) and _text(context.get("token")):
        info = context.get("user_info")
        info = info if isinstance(info, dict) else {}
        return Authorized(token=context["token"], email=email_of(info), user_info=dict(info))
    auth_id, url = body.get("id"), body.get("url")
    if status in ("pending", "not_started") and isinstance(auth_id, str) and auth_id and isinstance(url, str) and url:
        return NeedsConsent(auth_id=auth_id, url=url)
    return None


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value)


def retry_seconds(retry_after: str | None, *, limit: float) -> float:
    """``Retry-After`` in seconds (the delta-seconds form), between 0 and ``limit``."""
    try:
        return max(0.0, min(float(retry_after or "0"), limit))
    except ValueError:
        return 0.0


def email_of(user_info: object) -> str | None:
    if isinstance(user_info, dict):
        email = user_info.get("email")
        if isinstance(email, str) and email:
            return email
    return None


def translate(exc: arcadepy.APIError, call: str) -> ArcadeRejected | ArcadeUnavailable:
    """Map arcadepy's exceptions onto our tree. Bodies are logged by status only: they may echo ids."""
    if isinstance(exc, arcadepy.APIStatusError):
        return status_error(exc.status_code, call)
    log.warning("arcade.error call=%s error=%s", call, type(exc).__name__)
    return ArcadeUnavailable(f"Arcade {call} failed: {type(exc).__name__}")


def status_error(status: int, call: str) -> ArcadeRejected | ArcadeUnavailable:
    log.warning("arcade.error call=%s status=%s", call, status)
    if status in (400, 401, 403, 404, 415, 422):
        return ArcadeRejected(f"Arcade {call} answered {status}")
    return ArcadeUnavailable(f"Arcade {call} answered {status}")
