"""Start-up checks: is every credential accepted and is Arcade set up for this bot?

Run before the bot reports ``bot.ready`` and by ``python -m bot check``. Each check is one cheap
request and ends in a plain :class:`Result` that names the setting at fault and what to do, so a
wrong or placeholder credential is caught at start-up, not at the first user's command:

* Slack ``auth.test`` with ``SLACK_BOT_TOKEN`` (with ``SLACK_INSTALL=on``, which has no bot token
  of its own, ``oauth.v2.access`` with the app's client credentials and a code that cannot be
  valid: Slack answers ``invalid_code`` only when it accepted the credentials); in Socket Mode
  one ``apps.connections.open`` with ``SLACK_APP_TOKEN`` (the ticket it returns is simply not used);
* Arcade ``GET /v1/admin/user_connections?limit=1`` with ``ARCADE_API_KEY``;
* with the custom verifier, Arcade's verifier setting (``GET /v1/admin/settings/session_verification``)
  read back and compared with ``{PUBLIC_URL}/arcade/verify``. A key that may not read it gets a
  warning, not a failure.

A connection error, a timeout, a 429 or a 5xx is retried a few times, then reported like any other
failure (naming the URL setting). Tokens never appear in a result.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

from bot.config import Settings
from bot.retry import backoff_delay

ATTEMPTS = 3  # per request: a network blip at start-up is not a misconfiguration
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=5.0)
# Slack's answers that mean "this token is not (or no longer) good": the fix is a new token.
SLACK_AUTH_ERRORS = frozenset(
    {"not_authed", "invalid_auth", "account_inactive", "token_revoked", "token_expired", "not_allowed_token_type"}
)
ARCADE_SETTINGS_PATH = "/v1/admin/settings/session_verification"
SOCKET_MODE_FIX = (
    "Create an app-level token with the connections:write scope (Basic Information -> App-Level Tokens) "
    "and copy it (xapp-...); or empty SLACK_APP_TOKEN to run in HTTP mode."
)

Status = Literal["pass", "warn", "fail"]


@dataclass(frozen=True, slots=True)
class Result:
    """One check: which service and setting, what was found, and (unless it passed) what to do."""

    service: str
    setting: str
    status: Status
    detail: str
    fix: str = ""


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int  # HTTP status; 0 when the service could not be reached
    body: Any
    headers: dict[str, str]
    problem: str = ""  # why it could not be reached


class SettingError(Exception):
    """A setting the outside world refused while the bot starts or runs; ends the process with code 2."""

    def __init__(self, setting: str, problem: str, fix: str = "") -> None:
        self.setting = setting
        self.problem = problem
        self.fix = fix
        super().__init__(f"{setting}: {problem}" + (f" {fix}" if fix else ""))


def failed(results: Iterable[Result]) -> list[Result]:
    return [r for r in results if r.status == "fail"]


async def run(settings: Settings, session: aiohttp.ClientSession, *, verify_url: str) -> list[Result]:
    """Every check for these settings, in dependency order (a refused key skips what needs it).

    ``verify_url`` is where this bot's custom verifier answers (``{PUBLIC_URL}/arcade/verify``).
    """
    slack = _slack_client_credentials if settings.slack_install else _slack_bot_token
    results = [await slack(settings, session)]
    if settings.slack_app_token is not None:
        results.append(await _slack_app_token(settings, session))
    arcade = await _arcade_key(settings, session)
    results.append(arcade)
    if settings.user_verifier == "custom" and arcade.status == "pass":
        results.append(await _arcade_verifier(settings, session, verify_url))
    return results


async def _request(session: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str]) -> _Answer:
    """One request, retried on network errors, timeouts, 429 and 5xx."""
    answer = _Answer(0, None, {})
    for attempt in range(ATTEMPTS):
        if attempt:
            await asyncio.sleep(backoff_delay(attempt - 1, base=0.5, cap=2.0))
        try:
            async with session.request(method, url, headers=headers, timeout=REQUEST_TIMEOUT) as response:
                text = await response.text()
                try:
                    body: Any = json.loads(text)
                except ValueError:
                    body = None
                answer = _Answer(response.status, body, dict(response.headers))
        except (aiohttp.ClientError, TimeoutError) as exc:
            answer = _Answer(0, None, {}, f"{type(exc).__name__}: {exc}".rstrip(": "))
            continue
        if answer.status != 429 and answer.status < 500:
            return answer
    return answer


def _unreachable(service: str, setting: str, url: str, answer: _Answer) -> Result:
    why = answer.problem or f"HTTP {answer.status}"
    return Result(
        service,
        setting,
        "fail",
        f"could not reach {service} at {url} after {ATTEMPTS} tries ({why})",
        f"Check the network (and any proxy); {setting} should be left unset unless you run against a test server.",
    )


async def _slack_call(settings: Settings, session: aiohttp.ClientSession, method: str, token: str) -> _Answer:
    url = f"{settings.slack_api_url}{method}"
    return await _request(session, "POST", url, {"Authorization": f"Bearer {token}"})


def _slack_refused(answer: _Answer) -> str | None:
    """Slack's error code, or None when the call succeeded."""
    body = answer.body if isinstance(answer.body, dict) else {}
    return None if body.get("ok") is True else str(body.get("error") or f"HTTP {answer.status}")


async def _slack_bot_token(settings: Settings, session: aiohttp.ClientSession) -> Result:
    service = "Slack"
    answer = await _slack_call(settings, session, "auth.test", settings.slack_bot_token)
    if answer.status == 0 or answer.status >= 500:
        return _unreachable(service, "SLACK_API_URL", settings.slack_api_url, answer)
    error = _slack_refused(answer)
    if error is None:
        who = f"@{answer.body.get('user')} in {answer.body.get('team')}"
        return Result(service, "SLACK_BOT_TOKEN", "pass", f"bot token accepted: {who}")
    return Result(
        service,
        "SLACK_BOT_TOKEN",
        "fail",
        f"Slack refused the bot token ({error})",
        "Copy the Bot User OAuth Token (xoxb-...) from your Slack app's OAuth & Permissions page; "
        "install (or reinstall) the app to the workspace first if there is none.",
    )


async def _slack_client_credentials(settings: Settings, session: aiohttp.ClientSession) -> Result:
    service = "Slack"
    basic = aiohttp.encode_basic_auth(settings.slack_client_id or "", settings.slack_client_secret or "")
    url = f"{settings.slack_api_url}oauth.v2.access?code=start-up-check"
    answer = await _request(session, "POST", url, {"Authorization": basic})
    if answer.status == 0 or answer.status >= 500:
        return _unreachable(service, "SLACK_API_URL", settings.slack_api_url, answer)
    error = _slack_refused(answer)
    if error == "invalid_code":
        return Result(service, "SLACK_CLIENT_SECRET", "pass", "client id and secret accepted (install flow)")
    setting = "SLACK_CLIENT_ID" if error == "invalid_client_id" else "SLACK_CLIENT_SECRET"
    return Result(
        service,
        setting,
        "fail",
        f"Slack refused the app's client credentials ({error})",
        "Copy the Client ID and Client Secret from your Slack app's Basic Information page.",
    )


async def _slack_app_token(settings: Settings, session: aiohttp.ClientSession) -> Result:
    service = "Slack"
    token = settings.slack_app_token or ""
    answer = await _slack_call(settings, session, "apps.connections.open", token)
    if answer.status == 0 or answer.status >= 500:
        return _unreachable(service, "SLACK_API_URL", settings.slack_api_url, answer)
    error = _slack_refused(answer)
    if error is None:
        return Result(service, "SLACK_APP_TOKEN", "pass", "app-level token accepted (Socket Mode)")
    return Result(service, "SLACK_APP_TOKEN", "fail", f"Slack refused the app-level token ({error})", SOCKET_MODE_FIX)


async def _arcade_key(settings: Settings, session: aiohttp.ClientSession) -> Result:
    service = "Arcade"
    answer = await _arcade_get(settings, session, "/v1/admin/user_connections?limit=1")
    if answer.status == 0 or answer.status >= 500:
        return _unreachable(service, "ARCADE_BASE_URL", settings.arcade_base_url, answer)
    if answer.status in (401, 403):
        return Result(
            service,
            "ARCADE_API_KEY",
            "fail",
            f"Arcade refused the API key (HTTP {answer.status})",
            "Copy an API key of your Arcade project from the Arcade dashboard (API Keys); it starts with arc_.",
        )
    if answer.status != 200:
        return Result(service, "ARCADE_API_KEY", "fail", f"Arcade answered HTTP {answer.status}", "")
    return Result(service, "ARCADE_API_KEY", "pass", "API key accepted")


async def _arcade_get(settings: Settings, session: aiohttp.ClientSession, path: str) -> _Answer:
    url = f"{settings.arcade_base_url.rstrip('/')}{path}"
    return await _request(session, "GET", url, {"Authorization": f"Bearer {settings.arcade_api_key}"})


async def _arcade_verifier(settings: Settings, session: aiohttp.ClientSession, expected: str) -> Result:
    service = "Arcade"
    setting = "Arcade's custom verifier URL"
    where = "Arcade dashboard -> Auth -> Settings -> custom verifier"
    answer = await _arcade_get(settings, session, ARCADE_SETTINGS_PATH)
    if answer.status == 0 or answer.status >= 500:
        return _unreachable(service, "ARCADE_BASE_URL", settings.arcade_base_url, answer)
    body = answer.body if isinstance(answer.body, dict) else None
    if answer.status != 200 or body is None:
        return Result(
            service,
            setting,
            "warn",
            f"this API key may not read Arcade's verifier setting (HTTP {answer.status})",
            f"Check by hand that it is {expected} ({where}).",
        )
    found = str(body.get("verifier_url") or "").rstrip("/")
    if body.get("unsafe_skip_verification") is True:
        found = ""
    if found == expected:
        return Result(service, setting, "pass", f"Arcade sends users to {expected}")
    now = f"it is {found}" if found else "Arcade still uses its own verifier"
    return Result(
        service,
        setting,
        "fail",
        f"{now}, but this bot (ARCADE_USER_VERIFIER=custom, PUBLIC_URL) verifies users at {expected}",
        f"Set the custom verifier URL to {expected} ({where}), or fix PUBLIC_URL.",
    )


def report(results: Iterable[Result]) -> str:
    """A readable report: one line per check, the fix under each one that did not pass."""
    lines = []
    results = list(results)
    width = max((len(r.setting) for r in results), default=0)
    for r in results:
        lines.append(f"  {r.status.upper():4}  {r.service:6}  {r.setting:{width}}  {r.detail}")
        if r.fix and r.status != "pass":
            lines.append(f"        fix: {r.fix}")
    bad = failed(results)
    lines.append("All checks passed." if not bad else f"{len(bad)} check(s) failed.")
    return "\n".join(lines)
