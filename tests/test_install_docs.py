"""The install instructions name extras that exist, and the scripts install what the
README says they do (the package is not on an index: a wrong command fails for every
newcomer)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXTRAS = set(
    tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
)


def test_every_pip_command_of_the_readme_installs_from_a_path_with_known_extras() -> None:
    commands = re.findall(r"pip install [^\n`]*", README)
    assert commands
    for command in commands:
        if command.startswith("pip install api-gemini"):
            continue  # the sentence saying that this does not work
        match = re.search(r"-e '([^'\[]+)\[([\w,]+)\]'", command)
        assert match, command
        assert match.group(1) in (".", "/path/to/api_gemini"), command
        assert set(match.group(2).split(",")) <= EXTRAS, command


def test_the_demo_installs_only_what_the_main_job_needs() -> None:
    demo = (ROOT / "scripts" / "demo.sh").read_text()
    assert "bash scripts/setup.sh websocket,emulator" in demo
    test = (ROOT / "scripts" / "test.sh").read_text()
    assert re.search(r"bash scripts/setup.sh( dev)?\n", test)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "exec bash scripts/test.sh" in ci


def test_the_tour_runs_the_command_from_the_venv_or_after_activating_it() -> None:
    tour = README.split("## A short tour", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    lines = [line for line in tour.splitlines() if line.strip()]
    assert lines[0].startswith("source .venv/bin/activate")
    emulator = README.split("Run any example against the emulator:", 1)[1]
    assert ".venv/bin/api-gemini emulator" in emulator
