from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, Settings

SOCKET = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "ARCADE_API_KEY": "arc-1"}


def test_socket_mode_defaults() -> None:
    settings = Settings.from_env(SOCKET)
    assert settings.socket_mode
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.gmail_api_url == "https://gmail.googleapis.com/"
    assert settings.arcade_base_url == "https://api.arcade.dev"
    assert (settings.host, settings.port) == ("0.0.0.0", 3000)
    assert settings.database_path == Path("bot.db")
    assert settings.auth_timeout_seconds == 600
    assert settings.log_level == "INFO"
    assert settings.slack_signing_secret is None


def test_http_mode_needs_a_signing_secret() -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "ARCADE_API_KEY": "arc-1"}
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        Settings.from_env(env)
    settings = Settings.from_env({**env, "SLACK_SIGNING_SECRET": "s3cret", "PORT": "8080", "HOST": "127.0.0.1"})
    assert not settings.socket_mode
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(
            {
                "SLACK_APP_TOKEN": "xoxb-wrong-kind",
                "PORT": "eighty",
                "AUTH_TIMEOUT_SECONDS": "0",
                "DATABASE_URL": "postgres://x",
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
    ):
        assert name in text
    assert len(info.value.problems) == 8


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
    assert settings.database_path == Path("var/data/bot.db")
    assert settings.auth_timeout_seconds == 30
    assert settings.log_level == "DEBUG"


def test_secrets_stay_out_of_repr() -> None:
    settings = Settings.from_env({**SOCKET, "SLACK_SIGNING_SECRET": "sign-me"})
    text = repr(settings)
    for secret in ("xoxb-1", "xapp-1", "arc-1", "sign-me"):
        assert secret not in text
