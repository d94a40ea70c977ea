"""Settings, parsed once from the environment into a frozen value.

``Settings.from_env`` reports every missing or malformed variable at once, so a deployer fixes
their ``.env`` in one go instead of one traceback at a time. ``.env.example``'s placeholders look
like ``<your-…>``, a shape no real value has, so one left in place is named at once.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import get_args
from urllib.parse import urlsplit

from bot.models import VerifierMode
from bot.workers import default_count

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_GMAIL_API_URL = "https://gmail.googleapis.com/"
DEFAULT_CALENDAR_API_URL = "https://www.googleapis.com/"  # the Calendar API's root; calendar/v3/ follows it
DEFAULT_GITHUB_API_URL = "https://api.github.com"
DEFAULT_ARCADE_BASE_URL = "https://api.arcade.dev"
GMAIL_SCOPE = "https://www.googleapis.com/auth/gmail.readonly"
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
USER_VERIFIERS: tuple[VerifierMode, ...] = get_args(VerifierMode)  # see docs/verifier.md and bot/identity.py
MIN_VERIFIER_SECRET = 32
# WORKERS defaults to the usable cores, at most 4: each worker costs its idle memory, and in Socket
# Mode each holds one of the 10 connections Slack allows an app across every replica (two machines
# with the default stay within that).
MAX_DEFAULT_WORKERS = 4
MAX_SOCKET_CONNECTIONS = 10
MAX_WORKERS = 64


def is_loopback(host: str | None) -> bool:
    """``localhost`` or a loopback IP address (127.0.0.0/8, ::1): where plain http is acceptable."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


class ConfigError(Exception):
    """One or more environment variables are missing or malformed; ``problems`` lists them all."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("Invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True, slots=True)
class Settings:
    slack_bot_token: str = field(repr=False)
    arcade_api_key: str = field(repr=False)
    slack_app_token: str | None = field(default=None, repr=False)
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_api_url: str = DEFAULT_SLACK_API_URL
    arcade_base_url: str = DEFAULT_ARCADE_BASE_URL
    gmail_api_url: str = DEFAULT_GMAIL_API_URL
    calendar_api_url: str = DEFAULT_CALENDAR_API_URL
    github_api_url: str = DEFAULT_GITHUB_API_URL
    host: str = "0.0.0.0"  # noqa: S104 - the HTTP-mode server must be reachable by Slack
    port: int = 3000
    database_url: str = field(default="sqlite:///bot.db", repr=False)  # may hold a PostgreSQL password
    auth_timeout_seconds: int = 600
    lease_seconds: int = 30
    workers: int = 1
    worker: int | None = None  # set in a worker started by WORKERS=N: its number, from 1
    audit_retention_days: int = 90
    log_level: str = "INFO"
    user_verifier: VerifierMode = "custom"
    public_url: str | None = None  # external base URL of the web server, no trailing slash
    slack_client_id: str | None = None
    slack_client_secret: str | None = field(default=None, repr=False)
    verifier_secret: str | None = field(default=None, repr=False)
    slack_install: bool = False  # Slack's install flow: one bot for every workspace that installs it

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        problems: list[str] = []
        placeholders: set[str] = set()  # named once as placeholders, not again as missing

        def text(name: str, *, required: bool = False) -> str | None:
            value = env.get(name, "").strip()
            if value.startswith("<") and value.endswith(">"):
                problems.append(f"{name} is still the placeholder {value} from .env.example: put the real value there")
                placeholders.add(name)
                return None
            if not value:
                if required:
                    problems.append(f"{name} is required")
                return None
            return value

        def url(name: str, default: str) -> str:
            value = text(name) or default
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                problems.append(f"{name} must be an http(s) URL, got {value!r}")
            elif parts.scheme == "http" and not is_loopback(parts.hostname):
                # Sign in with Slack trusts the ID token because it arrives over TLS; tokens and keys go here too.
                problems.append(f"{name} must use https (plain http only for a loopback address), got {value!r}")
            return value

        def integer(name: str, default: int, low: int, high: int) -> int:
            value = text(name)
            if value is None:
                return default
            try:
                number = int(value)
            except ValueError:
                problems.append(f"{name} must be a whole number, got {value!r}")
                return default
            if not low <= number <= high:
                problems.append(f"{name} must be between {low} and {high}, got {number}")
            return number

        install_word = (text("SLACK_INSTALL") or "off").lower()
        if install_word not in ("on", "off"):
            problems.append(f"SLACK_INSTALL must be 'on' or 'off', got {install_word!r}")
        install = install_word == "on"
        bot_token = text("SLACK_BOT_TOKEN", required=not install)
        if install and bot_token:
            problems.append(
                "SLACK_BOT_TOKEN must be unset with SLACK_INSTALL=on (each workspace's token comes from its install)"
            )
        elif bot_token and not bot_token.startswith("xoxb-"):
            problems.append("SLACK_BOT_TOKEN must be a bot token (starts with xoxb-)")
        app_token = text("SLACK_APP_TOKEN")
        if app_token and not app_token.startswith("xapp-"):
            problems.append("SLACK_APP_TOKEN must be an app-level token (starts with xapp-)")
        signing_secret = text("SLACK_SIGNING_SECRET")
        if app_token is None and signing_secret is None and "SLACK_APP_TOKEN" not in placeholders:
            problems.append("SLACK_SIGNING_SECRET is required in HTTP mode (when SLACK_APP_TOKEN is not set)")
        api_key = text("ARCADE_API_KEY", required=True)

        slack_api_url = url("SLACK_API_URL", DEFAULT_SLACK_API_URL)
        if not slack_api_url.endswith("/"):
            slack_api_url += "/"
        gmail_api_url = url("GMAIL_API_URL", DEFAULT_GMAIL_API_URL)
        calendar_api_url = url("CALENDAR_API_URL", DEFAULT_CALENDAR_API_URL)
        github_api_url = url("GITHUB_API_URL", DEFAULT_GITHUB_API_URL)
        arcade_base_url = url("ARCADE_BASE_URL", DEFAULT_ARCADE_BASE_URL)

        database_url = text("DATABASE_URL") or "sqlite:///bot.db"
        if not _database_url_ok(database_url):
            problems.append(
                "DATABASE_URL must look like sqlite:///path/to/bot.db or postgresql://user@host/dbname,"
                f" got {urlsplit(database_url)._replace(netloc='…').geturl()!r}"
            )

        log_level = (text("LOG_LEVEL") or "INFO").upper()
        if log_level not in _LOG_LEVELS:
            problems.append(f"LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, got {log_level!r}")

        verifier_word = (text("ARCADE_USER_VERIFIER") or "custom").lower()
        user_verifier: VerifierMode = next((mode for mode in USER_VERIFIERS if mode == verifier_word), "custom")
        if verifier_word not in USER_VERIFIERS:
            problems.append(f"ARCADE_USER_VERIFIER must be 'custom' or 'arcade', got {verifier_word!r}")
        public_url = text("PUBLIC_URL")
        verifier_values = {
            "PUBLIC_URL": public_url,
            "SLACK_CLIENT_ID": text("SLACK_CLIENT_ID"),
            "SLACK_CLIENT_SECRET": text("SLACK_CLIENT_SECRET"),
            "VERIFIER_SECRET": text("VERIFIER_SECRET"),
        }
        if install:
            problems += [
                f"{name} is required with SLACK_INSTALL=on (the install pages and Slack's OAuth)"
                for name, value in verifier_values.items()
                if value is None and name not in placeholders and name != "VERIFIER_SECRET"
            ]
        if user_verifier == "custom":
            problems += [
                f"{name} is required with ARCADE_USER_VERIFIER=custom (the default; 'arcade' is the development mode)"
                for name, value in verifier_values.items()
                if value is None and name not in placeholders and not (install and name != "VERIFIER_SECRET")
            ]
        if public_url is not None:
            parts = urlsplit(public_url)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
                problems.append(f"PUBLIC_URL must be a base URL like https://bot.example.com, got {public_url!r}")
            elif parts.scheme == "http" and not is_loopback(parts.hostname):
                problems.append(f"PUBLIC_URL must use https (plain http only for localhost), got {public_url!r}")
            public_url = public_url.rstrip("/")
        verifier_secret = verifier_values["VERIFIER_SECRET"]
        if verifier_secret is not None and len(verifier_secret) < MIN_VERIFIER_SECRET:
            problems.append(
                f"VERIFIER_SECRET must be at least {MIN_VERIFIER_SECRET} characters; make one with "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )

        workers = integer("WORKERS", min(default_count(), MAX_DEFAULT_WORKERS), 1, MAX_WORKERS)
        if app_token is not None and workers > MAX_SOCKET_CONNECTIONS:
            problems.append(
                f"WORKERS must be at most {MAX_SOCKET_CONNECTIONS} in Socket Mode "
                f"(Slack allows {MAX_SOCKET_CONNECTIONS} connections per app), got {workers}"
            )

        settings = cls(
            slack_bot_token=bot_token or "",
            arcade_api_key=api_key or "",
            slack_app_token=app_token,
            slack_signing_secret=signing_secret,
            slack_api_url=slack_api_url,
            arcade_base_url=arcade_base_url,
            gmail_api_url=gmail_api_url,
            calendar_api_url=calendar_api_url,
            github_api_url=github_api_url,
            host=text("HOST") or "0.0.0.0",  # noqa: S104 - see the field's comment
            port=integer("PORT", 3000, 0, 65535),  # 0: any free port (the bot.ready line names it)
            database_url=database_url,
            auth_timeout_seconds=integer("AUTH_TIMEOUT_SECONDS", 600, 1, 86_400),
            lease_seconds=integer("LEASE_SECONDS", 30, 3, 600),
            workers=workers,
            audit_retention_days=integer("AUDIT_RETENTION_DAYS", 90, 1, 3650),
            log_level=log_level if log_level in _LOG_LEVELS else "INFO",
            user_verifier=user_verifier,
            public_url=public_url,
            slack_client_id=verifier_values["SLACK_CLIENT_ID"],
            slack_client_secret=verifier_values["SLACK_CLIENT_SECRET"],
            verifier_secret=verifier_secret,
            slack_install=install,
        )
        if problems:
            raise ConfigError(problems)
        return settings

    @property
    def log_level_number(self) -> int:
        return logging.getLevelNamesMapping()[self.log_level]


def _database_url_ok(url: str) -> bool:
    """``sqlite:///`` and a path, or a PostgreSQL URL with a host or a socket directory (``?host=``)."""
    if url.startswith("sqlite:///"):
        return len(url) > len("sqlite:///")
    parts = urlsplit(url)
    return parts.scheme in ("postgresql", "postgres") and bool(parts.netloc or "host=" in parts.query)
