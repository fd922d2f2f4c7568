"""The pre-commit hook, run by the real ``pre-commit try-repo`` against a throwaway project.

try-repo clones a repository at a commit and installs it in a fresh virtual environment (from
PyPI: libcst). It would see only committed and modified tracked files of this checkout, not new
ones, so the test commits a snapshot of the working tree (tracked files plus untracked files git
does not ignore) into a temporary repository and points try-repo at that: the same result on a
developer's uncommitted work and on a fresh clone in CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import notebook, save

pytest.importorskip("pre_commit")

ROOT = Path(__file__).resolve().parent.parent

MISTAKE = textwrap.dedent(
    """\
    import torch.nn as nn
    import torch.nn.functional as F


    def loss_of(model, x, y):
        probs = F.softmax(model(x), dim=1)
        return nn.CrossEntropyLoss()(probs, y)
    """
)
FIXED = MISTAKE.replace("probs = F.softmax(model(x), dim=1)", "logits = model(x)").replace("(probs, y)", "(logits, y)")


def _environment(tmp: Path) -> dict[str, str]:
    # Nothing from an enclosing git operation or the user's pre-commit cache may leak in.
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GIT_", "PRE_COMMIT"))}
    env.update(
        PRE_COMMIT_HOME=str(tmp / "pre-commit-home"),
        GIT_AUTHOR_NAME="torchlint tests", GIT_AUTHOR_EMAIL="tests@torchlint.invalid",
        GIT_COMMITTER_NAME="torchlint tests", GIT_COMMITTER_EMAIL="tests@torchlint.invalid",
        GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1",
    )
    return env


def _git(*arguments: str, cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(["git", *arguments], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"git {' '.join(arguments)}: {result.stderr}"
    return result.stdout


def _commit_all(repository: Path, env: dict[str, str], message: str) -> None:
    _git("add", "-A", cwd=repository, env=env)
    _git("commit", "-q", "--no-verify", "-m", message, cwd=repository, env=env)


@pytest.fixture(scope="module")
def torchlint_snapshot(tmp_path_factory) -> Path:
    """A one-commit repository holding this checkout's working tree."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    tmp = tmp_path_factory.mktemp("snapshot")
    env = _environment(tmp)
    listed = _git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT, env=env)
    snapshot = tmp / "torchlint"
    for relative in filter(None, listed.split("\0")):
        source = ROOT / relative
        if source.is_file():  # a tracked file deleted in the working tree is left out, as on commit
            target = snapshot / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    _git("init", "-q", cwd=snapshot, env=env)
    _commit_all(snapshot, env, "snapshot")
    return snapshot


def _try_repo(project: Path, snapshot: Path, env: dict[str, str], hook: str = "torchlint") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(snapshot), hook, "--all-files", "--color", "never"],
        cwd=project, env=env, capture_output=True, text=True, timeout=900,
    )


def test_hook_fails_on_a_mistake_and_passes_once_fixed(torchlint_snapshot, tmp_path):
    env = _environment(tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    _git("init", "-q", cwd=project, env=env)
    (project / "train.py").write_text(MISTAKE)
    (project / "notes.txt").write_text("not Python: the hook must not receive this file\n")
    _commit_all(project, env, "a mistake")

    failing = _try_repo(project, torchlint_snapshot, env)
    shown = failing.stdout + failing.stderr
    assert failing.returncode == 1, shown
    assert "torchlint" in shown and "Failed" in shown, shown
    assert "train.py:7:12: TL201 [*] cross-entropy receives the output of a softmax" in shown, shown
    assert "notes.txt" not in shown, shown

    (project / "train.py").write_text(FIXED)
    _commit_all(project, env, "fixed")
    passing = _try_repo(project, torchlint_snapshot, env)
    shown = passing.stdout + passing.stderr
    assert passing.returncode == 0, shown
    assert "Passed" in shown and "TL201" not in shown, shown


def test_fix_hook_repairs_the_file_and_fails_the_commit_that_needed_it(torchlint_snapshot, tmp_path):
    env = _environment(tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    _git("init", "-q", cwd=project, env=env)
    (project / "train.py").write_text(MISTAKE)
    _commit_all(project, env, "a mistake")

    fixing = _try_repo(project, torchlint_snapshot, env, hook="torchlint-fix")
    shown = fixing.stdout + fixing.stderr
    assert fixing.returncode == 1, shown  # pre-commit fails a hook that modified files
    assert "files were modified by this hook" in shown, shown
    assert (project / "train.py").read_text() == MISTAKE.replace("F.softmax(model(x), dim=1)", "model(x)")

    _commit_all(project, env, "fixed by the hook")
    again = _try_repo(project, torchlint_snapshot, env, hook="torchlint-fix")
    assert again.returncode == 0, again.stdout + again.stderr


def test_hook_leaves_out_a_file_the_configuration_excludes(torchlint_snapshot, tmp_path):
    env = _environment(tmp_path)
    project = tmp_path / "project"
    (project / "vendor").mkdir(parents=True)
    _git("init", "-q", cwd=project, env=env)
    (project / "pyproject.toml").write_text('[tool.torchlint]\nextend-exclude = ["vendor"]\n')
    (project / "vendor" / "third_party.py").write_text(MISTAKE)  # pre-commit names it; config excludes it
    (project / "train.py").write_text(FIXED)
    _commit_all(project, env, "vendored code")
    result = _try_repo(project, torchlint_snapshot, env)
    shown = result.stdout + result.stderr
    assert result.returncode == 0, shown
    assert "TL201" not in shown and "Passed" in shown, shown


def test_hook_manifest_names_the_entry_point():
    import yaml

    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    torchlint = next(hook for hook in hooks if hook["id"] == "torchlint")
    assert torchlint["entry"] == "torchlint --force-exclude" and torchlint["language"] == "python"
    assert torchlint["types_or"] == ["python", "pyi", "jupyter"] and "types" not in torchlint
    assert torchlint["require_serial"] is True
    fix = next(hook for hook in hooks if hook["id"] == "torchlint-fix")
    assert fix["entry"] == "torchlint --fix --force-exclude" and fix["require_serial"] is True and fix["types_or"] == torchlint["types_or"]


def test_hook_lints_a_staged_notebook(torchlint_snapshot, tmp_path):
    pytest.importorskip("nbformat")
    env = _environment(tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    _git("init", "-q", cwd=project, env=env)
    save(project, "train.ipynb", notebook(
        "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F",
        "model = nn.Linear(4, 2)\ncriterion = nn.CrossEntropyLoss()",
        "%time probs = F.softmax(model(torch.randn(3, 4)), dim=1)\nloss = criterion(probs, torch.tensor([0, 1, 1]))",
    ))
    _git("add", "train.ipynb", cwd=project, env=env)  # staged, not committed: what `git commit` would lint
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(torchlint_snapshot), "torchlint", "--color", "never"],
        cwd=project, env=env, capture_output=True, text=True, timeout=900,
    )
    shown = result.stdout + result.stderr
    assert result.returncode == 1, shown
    assert "train.ipynb:cell 3:2:8: TL201" in shown, shown
