"""A sample of the robustness sweep (benchmarks/sweep.py), in every CI run: one file in ten of
the standard library and of the installed torch package, every rule on, and not one internal
error, impossible position or syntax verdict that Python disagrees with. The whole sweep, and
its counts, are in benchmarks/RESULTS.md."""

from __future__ import annotations

import importlib.util
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import sweep  # noqa: E402

from torchlint.engine import lint_paths  # noqa: E402


def _sample(root: Path) -> list[str]:
    return sweep.python_files(root)[::10]


ROOTS = {"standard library": Path(sysconfig.get_paths()["stdlib"])}
if importlib.util.find_spec("torch") is not None:
    ROOTS["torch package"] = Path(importlib.util.find_spec("torch").origin).parent


@pytest.mark.parametrize("name", ROOTS)
def test_a_sample_of_real_trees_lints_without_an_internal_error(name):
    files = _sample(ROOTS[name])
    assert len(files) > 50
    result = lint_paths(files, sweep.EVERY_RULE, jobs=2)
    newer: list[str] = []
    assert sweep.problems_of(files, result.findings, result.errors, newer) == []
    assert result.files_checked == len(files)
