"""docs/security.md names tests that exist: every ``file.py::test`` (and ``…::test`` after it)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_test_the_security_table_names_exists() -> None:
    text = (ROOT / "docs" / "security.md").read_text()
    missing: list[str] = []
    current = ""
    for file, name in re.findall(r"`(test_\w+\.py|…)(?:::(\w+))?`", text):
        if file != "…":
            current = file
            if not (ROOT / "tests" / file).exists():
                missing.append(file)
        if name and f"def {name}(" not in (ROOT / "tests" / current).read_text():
            missing.append(f"{current}::{name}")
    assert missing == []
