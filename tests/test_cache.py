"""The cache: a second run answers unchanged files without parsing them, and anything a file's
findings depend on (its bytes, its settings, torchlint itself, the other files whose facts it
used) invalidates exactly that file. Every cached run is compared with a run without the cache."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from conftest import write

MODEL_WITH_DROPOUT = """
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)
            self.drop = nn.Dropout(0.1)

        def forward(self, x):
            return self.drop(self.fc(x))
"""
MODEL_WITHOUT_DROPOUT = MODEL_WITH_DROPOUT.replace("            self.drop = nn.Dropout(0.1)\n", "").replace("self.drop(self.fc(x))", "self.fc(x)")
EVALUATE = """
    import torch
    from model import Net


    def evaluate(loader, path):
        net = Net()
        net.load_state_dict(torch.load(path, weights_only=True))
        with torch.no_grad():
            return [net(x) for x in loader]
"""
LOSS = """
    import torch.nn.functional as F


    def loss_of(logits, y):
        return F.cross_entropy(F.softmax(logits, dim=1), y)
"""


def run(tmp_path: Path, *arguments: str) -> tuple[list[dict], int]:
    """The findings, and how many files the cache answered."""
    result = subprocess.run([sys.executable, "-m", "torchlint", "--format", "json", "--verbose", *arguments, "."],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode in (0, 1), result.stderr
    cached = re.search(r"note: (\d+) of \d+ files answered from the cache", result.stderr)
    return json.loads(result.stdout), int(cached.group(1)) if cached else 0


def cached_run(tmp_path: Path, *arguments: str) -> tuple[list[dict], int]:
    """A run with the cache, checked against a run that does not use it."""
    findings, cached = run(tmp_path, *arguments)
    fresh, none = run(tmp_path, "--no-cache", *arguments)
    assert none == 0 and findings == fresh, "the cache changed what is reported"
    return findings, cached


def codes(findings: list[dict]) -> set[tuple[str, str]]:
    return {(finding["path"], finding["code"]) for finding in findings}


def test_a_second_run_answers_every_file_from_the_cache_with_the_same_findings_and_fixes(tmp_path):
    write(tmp_path, "model.py", MODEL_WITH_DROPOUT)
    write(tmp_path, "train.py", EVALUATE)
    write(tmp_path, "loss.py", LOSS)
    first, cached = cached_run(tmp_path)
    assert cached == 0 and codes(first) == {("train.py", "TL401"), ("loss.py", "TL201")}
    assert any(finding["fix"] for finding in first), "fixes come back from the cache too"
    second, cached = cached_run(tmp_path)
    assert second == first and cached == 3
    assert (tmp_path / ".torchlint_cache" / "CACHEDIR.TAG").is_file()
    assert (tmp_path / ".torchlint_cache" / ".gitignore").read_text().splitlines()[-1] == "*"


def test_editing_a_file_invalidates_it_alone(tmp_path):
    write(tmp_path, "model.py", MODEL_WITH_DROPOUT)
    write(tmp_path, "train.py", EVALUATE)
    write(tmp_path, "loss.py", LOSS)
    cached_run(tmp_path)
    write(tmp_path, "loss.py", LOSS.replace("F.softmax(logits, dim=1)", "logits"))
    findings, cached = cached_run(tmp_path)
    assert codes(findings) == {("train.py", "TL401")}
    assert cached == 2, "model.py and train.py are unchanged"


def test_a_change_to_an_imported_file_invalidates_the_importer(tmp_path):
    write(tmp_path, "model.py", MODEL_WITH_DROPOUT)
    write(tmp_path, "train.py", EVALUATE)
    write(tmp_path, "loss.py", LOSS)
    assert ("train.py", "TL401") in codes(cached_run(tmp_path)[0])
    write(tmp_path, "model.py", MODEL_WITHOUT_DROPOUT)  # eval() no longer changes anything
    findings, cached = cached_run(tmp_path)
    assert ("train.py", "TL401") not in codes(findings)
    assert cached == 1, "only loss.py, which imports nothing of the project, is still valid"


def test_creating_a_module_that_was_not_found_invalidates_the_importer(tmp_path):
    write(tmp_path, "train.py", EVALUATE)
    write(tmp_path, "loss.py", LOSS)
    without_model, _ = cached_run(tmp_path)
    assert ("train.py", "TL401") in codes(without_model), "a model the project does not define is not known to be mode-free"
    write(tmp_path, "model.py", MODEL_WITHOUT_DROPOUT)
    findings, cached = cached_run(tmp_path)
    assert ("train.py", "TL401") not in codes(findings)
    assert cached == 1, "loss.py only"


def test_a_change_of_settings_invalidates(tmp_path):
    write(tmp_path, "loss.py", LOSS)
    cached_run(tmp_path)
    write(tmp_path, "pyproject.toml", '[tool.torchlint]\nignore = ["TL201"]\n')
    findings, cached = cached_run(tmp_path)
    assert findings == [] and cached == 0
    assert cached_run(tmp_path, "--extend-select", "TL9")[1] == 0, "another selection is another entry"
    assert cached_run(tmp_path)[1] == 1


def test_another_version_of_torchlint_does_not_read_the_entries(tmp_path, monkeypatch):
    from torchlint import cache
    from torchlint.config import Config

    write(tmp_path, "loss.py", LOSS)
    cached_run(tmp_path)
    monkeypatch.chdir(tmp_path)
    data, config = (tmp_path / "loss.py").read_bytes(), Config()
    assert cache.Cache(".torchlint_cache").lookup("loss.py", data, config) is not None, "this version's entry"
    monkeypatch.setattr(cache, "__version__", "99.0")
    cache.code_fingerprint.cache_clear()
    try:
        assert cache.Cache(".torchlint_cache").lookup("loss.py", data, config) is None
    finally:
        cache.code_fingerprint.cache_clear()


def test_a_corrupt_or_unwritable_cache_is_only_slower(tmp_path):
    write(tmp_path, "loss.py", LOSS)
    cached_run(tmp_path)
    for entry in (tmp_path / ".torchlint_cache").rglob("*.json"):
        entry.write_text("{not json")
    findings, cached = cached_run(tmp_path)
    assert cached == 0 and codes(findings) == {("loss.py", "TL201")}
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    findings, cached = cached_run(tmp_path, "--cache-dir", "blocked")
    assert cached == 0 and codes(findings) == {("loss.py", "TL201")}


def test_fixing_never_reads_the_cache(tmp_path):
    write(tmp_path, "loss.py", LOSS)
    cached_run(tmp_path)
    result = subprocess.run([sys.executable, "-m", "torchlint", "--fix", "."], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "F.softmax" not in (tmp_path / "loss.py").read_text()
    findings, cached = cached_run(tmp_path)
    assert findings == [] and cached == 0, "the fixed file is new content"


def test_clean_removes_the_cache_and_only_a_cache(tmp_path):
    write(tmp_path, "loss.py", LOSS)
    cached_run(tmp_path)
    result = subprocess.run([sys.executable, "-m", "torchlint", "clean"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and not (tmp_path / ".torchlint_cache").exists()
    (tmp_path / "precious").mkdir()
    refused = subprocess.run([sys.executable, "-m", "torchlint", "clean", "precious"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert refused.returncode == 2 and "not a torchlint cache" in refused.stderr and (tmp_path / "precious").is_dir()


def test_parallel_runs_give_the_findings_of_one_process_in_the_same_order():
    root = Path(__file__).resolve().parent.parent
    outputs = []
    for jobs in ("1", "2"):
        result = subprocess.run([sys.executable, "-m", "torchlint", "--isolated", "--no-cache", "--format", "json", "--jobs", jobs, "fixtures"],
                                cwd=root, capture_output=True, text=True, timeout=600)
        assert result.returncode == 1, result.stderr
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1] and len(json.loads(outputs[0])) > 30
