"""The README tells the truth: its quick start works as written and .ci/run runs it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from torchlint import registry

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.S)]


def test_quick_start_has_an_install_and_run_command_and_a_test_command() -> None:
    run, test = quick_start_commands()
    assert "pip install -e ." in run and run.endswith("torchlint fixtures/")
    assert test.startswith("pip install torch==2.13.0 numpy") and "pytest" in test


def test_ci_runs_exactly_the_readme_test_command() -> None:
    _, test = quick_start_commands()
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test in ci_lines


def test_every_rule_fires_on_the_shipped_fixtures() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "torchlint", "fixtures/", "--format", "json", "--isolated", "--select", "TL"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1, result.stderr
    fired = {finding["code"] for finding in json.loads(result.stdout)}
    assert {rule.CODE for rule in registry.all_rules()} <= fired
