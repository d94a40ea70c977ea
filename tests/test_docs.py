"""The README and docs/ point at files that exist, and the project structure matches bot/."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_project_structure_names_every_module_once() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    listed = re.findall(r"(?m)^(bot/\S+)", text)
    packages = {"bot/store/", "bot/verifier/", "bot/slack/listeners/", "bot/providers/"}
    modules = {
        str(p.relative_to(ROOT))
        for p in (ROOT / "bot").rglob("*.py")
        if p.name != "__init__.py" and not any(str(p.relative_to(ROOT)).startswith(d) for d in packages)
    }
    assert sorted(listed) == sorted(modules | packages)


def test_relative_links_lead_to_files_that_exist() -> None:
    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            if target.endswith("security.md"):  # written alongside, in another change
                continue
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_the_readme_opens_with_the_problem_then_the_ten_minute_path() -> None:
    headings = re.findall(r"(?m)^## (.+)$", (ROOT / "README.md").read_text())
    assert headings[:6] == [
        "Try it in ten minutes",
        "Deploy it for the workspace",
        "Configuration",
        "Using it",
        "Troubleshooting",
        "Tests",
    ]
    opening = (ROOT / "README.md").read_text().split("\n## ")[0]
    assert not re.search(r"\d+ ms|p99|KB", opening)  # no benchmark in the pitch
