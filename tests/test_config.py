from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from dotenv import dotenv_values

from bot.config import ConfigError, Settings

ROOT = Path(__file__).resolve().parent.parent
VERIFIER = {
    "PUBLIC_URL": "https://bot.example.com",
    "SLACK_CLIENT_ID": "1000.2000",
    "SLACK_CLIENT_SECRET": "client-secret-1",
    "VERIFIER_SECRET": "v" * 32,
}
SOCKET = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "ARCADE_API_KEY": "arc-1", **VERIFIER}


def test_socket_mode_defaults() -> None:
    settings = Settings.from_env(SOCKET)
    assert settings.socket_mode
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.gmail_api_url == "https://gmail.googleapis.com/"
    assert settings.calendar_api_url == "https://www.googleapis.com/"
    assert settings.github_api_url == "https://api.github.com"
    assert settings.arcade_base_url == "https://api.arcade.dev"
    assert (settings.host, settings.port) == ("0.0.0.0", 3000)
    assert settings.database_url == "sqlite:///bot.db"
    assert settings.auth_timeout_seconds == 600
    assert settings.log_level == "INFO"
    assert settings.slack_signing_secret is None
    assert settings.user_verifier == "custom"
    assert settings.public_url == "https://bot.example.com"


def test_http_mode_needs_a_signing_secret() -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "ARCADE_API_KEY": "arc-1", **VERIFIER}
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        Settings.from_env(env)
    settings = Settings.from_env({**env, "SLACK_SIGNING_SECRET": "s3cret", "PORT": "8080", "HOST": "127.0.0.1"})
    assert not settings.socket_mode
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert Settings.from_env({**env, "SLACK_SIGNING_SECRET": "s3cret", "PORT": "0"}).port == 0  # any free port
    for bad in ("-1", "65536"):
        with pytest.raises(ConfigError, match="PORT must be between 0 and 65535"):
            Settings.from_env({**env, "SLACK_SIGNING_SECRET": "s3cret", "PORT": bad})


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(
            {
                "SLACK_APP_TOKEN": "xoxb-wrong-kind",
                "PORT": "eighty",
                "AUTH_TIMEOUT_SECONDS": "0",
                "DATABASE_URL": "mysql://root:hunter2@db/bot",
                "LOG_LEVEL": "LOUD",
                "SLACK_API_URL": "slack.com",
            }
        )
    text = str(info.value)
    for name in (
        "SLACK_BOT_TOKEN is required",
        "ARCADE_API_KEY is required",
        "SLACK_APP_TOKEN must be an app-level token",
        "PORT must be a whole number",
        "AUTH_TIMEOUT_SECONDS must be between",
        "DATABASE_URL",
        "LOG_LEVEL",
        "SLACK_API_URL must be an http(s) URL",
        "PUBLIC_URL is required with ARCADE_USER_VERIFIER=custom",
        "SLACK_CLIENT_ID is required",
        "SLACK_CLIENT_SECRET is required",
        "VERIFIER_SECRET is required",
    ):
        assert name in text
    assert "hunter2" not in text  # a database password is never echoed back
    assert len(info.value.problems) == 12


def test_values_are_parsed_and_normalised() -> None:
    settings = Settings.from_env(
        {
            **SOCKET,
            "SLACK_API_URL": "http://127.0.0.1:9/api",
            "DATABASE_URL": "sqlite:///var/data/bot.db",
            "AUTH_TIMEOUT_SECONDS": "30",
            "LOG_LEVEL": "debug",
        }
    )
    assert settings.slack_api_url == "http://127.0.0.1:9/api/"
    assert settings.database_url == "sqlite:///var/data/bot.db"
    assert settings.auth_timeout_seconds == 30
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    "url",
    ["postgresql://bot:secret@db.internal:5432/bot", "postgres://db/bot", "postgresql:///bot?host=/run/postgresql"],
)
def test_a_postgresql_database_url_is_accepted_and_kept_out_of_repr(url: str) -> None:
    settings = Settings.from_env({**SOCKET, "DATABASE_URL": url})
    assert settings.database_url == url
    assert "secret" not in repr(settings)


@pytest.mark.parametrize("url", ["sqlite:///", "bot.db", "postgresql://", "mysql://db/bot"])
def test_a_database_url_of_no_known_engine_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        Settings.from_env({**SOCKET, "DATABASE_URL": url})


def test_secrets_stay_out_of_repr() -> None:
    settings = Settings.from_env({**SOCKET, "SLACK_SIGNING_SECRET": "sign-me"})
    text = repr(settings)
    for secret in ("xoxb-1", "xapp-1", "arc-1", "sign-me", "client-secret-1", "v" * 32):
        assert secret not in text


def test_custom_verifier_is_the_default_and_says_what_it_needs() -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "ARCADE_API_KEY": "arc-1"}
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    assert len(info.value.problems) == 4
    assert all(
        "ARCADE_USER_VERIFIER=custom (the default; 'arcade' is the development mode)" in p for p in info.value.problems
    )
    settings = Settings.from_env({**env, **VERIFIER, "PUBLIC_URL": "https://bot.example.com/prefix/"})
    assert settings.user_verifier == "custom"
    assert settings.public_url == "https://bot.example.com/prefix"  # no trailing slash
    assert (settings.slack_client_id, settings.slack_client_secret) == ("1000.2000", "client-secret-1")


def test_arcade_mode_needs_nothing_more() -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "ARCADE_API_KEY": "arc-1"}
    settings = Settings.from_env({**env, "ARCADE_USER_VERIFIER": "Arcade"})
    assert settings.user_verifier == "arcade"
    assert settings.public_url is None


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"ARCADE_USER_VERIFIER": "none"}, "ARCADE_USER_VERIFIER must be 'custom' or 'arcade'"),
        ({"PUBLIC_URL": "bot.example.com"}, "PUBLIC_URL must be a base URL"),
        ({"PUBLIC_URL": "https://bot.example.com/?x=1"}, "PUBLIC_URL must be a base URL"),
        ({"PUBLIC_URL": "http://bot.example.com"}, "PUBLIC_URL must use https"),
        ({"VERIFIER_SECRET": "tiny-secret"}, "VERIFIER_SECRET must be at least 32 characters"),
    ],
)
def test_bad_verifier_settings_are_reported(changes: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({**SOCKET, **changes})
    assert [p for p in info.value.problems if problem in p]
    assert "tiny-secret" not in str(info.value)  # secrets are never echoed


def test_plain_http_public_url_is_fine_on_loopback() -> None:
    for url in ("http://127.0.0.1:3000", "http://localhost:8080"):
        assert Settings.from_env({**SOCKET, "PUBLIC_URL": url}).public_url == url


def test_env_example_readme_and_settings_name_the_same_variables() -> None:
    root = Path(__file__).resolve().parent.parent
    example = set(re.findall(r"(?m)^([A-Z][A-Z0-9_]*)=", (root / ".env.example").read_text()))
    rows = re.findall(r"(?m)^\| (`[A-Z][A-Z0-9_]*`(?: / `[A-Z][A-Z0-9_]*`)*) \|", (root / "README.md").read_text())
    documented = {name for row in rows for name in re.findall(r"`([A-Z0-9_]+)`", row)}
    assert example == documented
    source = (root / "bot" / "config.py").read_text()
    assert [name for name in example if f'"{name}"' not in source] == []


class Recording(dict[str, str]):
    """An environment that remembers every name the parser asks for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)


def test_the_parser_reads_exactly_the_variables_of_env_example() -> None:
    env = Recording()
    with pytest.raises(ConfigError):
        Settings.from_env(env)
    example = dotenv_values(ROOT / ".env.example")
    assert env.asked == set(example)


def test_every_placeholder_in_env_example_is_named_at_once() -> None:
    example = {k: v or "" for k, v in dotenv_values(ROOT / ".env.example").items()}
    placeholders = sorted(k for k, v in example.items() if v.startswith("<"))
    assert placeholders == ["ARCADE_API_KEY", "SLACK_APP_TOKEN", "SLACK_BOT_TOKEN"]
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(example)
    named = [p.split()[0] for p in raised.value.problems]
    assert named == ["SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "ARCADE_API_KEY"]
    assert all("placeholder" in p for p in raised.value.problems)


def test_env_example_starts_with_the_ten_minute_path() -> None:
    """Filled in, .env.example is Socket Mode with Arcade's verifier: no public URL needed."""
    example = {k: v or "" for k, v in dotenv_values(ROOT / ".env.example").items()}
    filled = {**example, "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "ARCADE_API_KEY": "arc_1"}
    settings = Settings.from_env(filled)
    assert settings.socket_mode
    assert settings.user_verifier == "arcade"


@pytest.mark.parametrize(
    "name", ["SLACK_API_URL", "ARCADE_BASE_URL", "GMAIL_API_URL", "CALENDAR_API_URL", "GITHUB_API_URL"]
)
def test_service_urls_must_be_https_unless_loopback(name: str) -> None:
    """Sign in with Slack skips the ID token's signature check because it arrives over TLS."""
    with pytest.raises(ConfigError) as info:
        Settings.from_env({**SOCKET, name: "http://slack.example.com/api/"})
    assert [p for p in info.value.problems if p.startswith(f"{name} must use https")]
    for url in ("http://127.0.0.1:9/api/", "http://127.0.0.2:9/", "http://localhost:9/", "http://[::1]:9/"):
        Settings.from_env({**SOCKET, name: url})  # no error


def test_the_install_flow_needs_client_credentials_and_no_bot_token() -> None:
    base = {"ARCADE_API_KEY": "arc-1", "SLACK_SIGNING_SECRET": "s", "ARCADE_USER_VERIFIER": "arcade"}
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({**base, "SLACK_INSTALL": "on", "SLACK_BOT_TOKEN": "xoxb-1"})
    named = sorted(p.split()[0] for p in raised.value.problems)
    assert named == ["PUBLIC_URL", "SLACK_BOT_TOKEN", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"]
    settings = Settings.from_env(
        {**base, "SLACK_INSTALL": "on", **{k: VERIFIER[k] for k in VERIFIER if k != "VERIFIER_SECRET"}}
    )
    assert settings.slack_install
    assert settings.slack_bot_token == ""
    with pytest.raises(ConfigError, match="SLACK_INSTALL must be 'on' or 'off'"):
        Settings.from_env({**base, "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_INSTALL": "yes"})
