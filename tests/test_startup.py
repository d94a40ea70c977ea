"""``python -m bot`` start-up: configuration problems are reported at once, without a traceback;
``.env`` is read, and real environment variables win over it."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import bot
from bot.process import OPEN_FILES_CEILING


def start(cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", ""), "HOME": str(cwd)}
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=cwd,
        env={**base, **env, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_every_problem_at_once_and_no_traceback(tmp_path: Path) -> None:
    result = start(tmp_path)
    assert result.returncode == 2
    for name in ("SLACK_BOT_TOKEN", "ARCADE_API_KEY", "SLACK_SIGNING_SECRET", "PUBLIC_URL"):
        assert name in result.stderr
    assert "Traceback" not in result.stderr


def test_dotenv_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=not-a-bot-token\nPORT=eighty\n")
    from_file = start(tmp_path)
    assert "SLACK_BOT_TOKEN must be a bot token" in from_file.stderr
    assert "PORT must be a whole number" in from_file.stderr

    overridden = start(tmp_path, SLACK_BOT_TOKEN="xoxb-real", PORT="3000")
    assert overridden.returncode == 2
    assert "SLACK_BOT_TOKEN" not in overridden.stderr
    assert "PORT" not in overridden.stderr
    assert "ARCADE_API_KEY is required" in overridden.stderr


def test_the_open_files_limit_is_raised_to_what_the_system_allows() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    expected = OPEN_FILES_CEILING if hard == resource.RLIM_INFINITY else min(hard, OPEN_FILES_CEILING)
    code = (
        "import resource; from bot.process import raise_open_files_limit as r;"
        " print(r(), resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code],
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard)),
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(bot.__file__).resolve().parent.parent,
    )
    assert done.stdout.split() == [str(expected), str(expected)]
