"""The flake8 plugin, driven through the real ``flake8`` executable.

Every run passes ``--isolated`` so that no configuration file (the repository's or the user's)
can change what flake8 selects.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("flake8")

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_FILES = sorted(path.relative_to(ROOT).as_posix() for path in ROOT.glob("fixtures/*/*.py"))
FORMAT = "%(path)s:%(row)d:%(col)d:%(code)s"

TWO_MISTAKES = textwrap.dedent(
    """\
    import torch.nn as nn
    import torch.nn.functional as F


    def train(model, loader, optimizer):
        criterion = nn.CrossEntropyLoss()
        for x, y in loader:
            probs = F.softmax(model(x), dim=1)
            loss = criterion(probs, y)
            loss.backward()
            optimizer.step()
    """
)
TL201_AT, TL301_AT = (9, 16, "TL201"), (11, 9, "TL301")


def flake8(*arguments: str, cwd: Path = ROOT, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flake8", "--isolated", f"--format={FORMAT}", *arguments],
        cwd=cwd, input=stdin, capture_output=True, text=True, timeout=300,
    )


def reported(output: str) -> set[tuple[str, int, int, str]]:
    """(path, line, column, code) for each line of flake8 output in FORMAT."""
    found = set()
    for line in output.splitlines():
        path, row, column, code = line.rsplit(":", 3)
        found.add((os.path.normpath(path), int(row), int(column), code))
    return found


@pytest.fixture(scope="module")
def flake8_on_fixtures() -> set[tuple[str, int, int, str]]:
    result = flake8("--select", "TL", *FIXTURE_FILES)
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    found = reported(result.stdout)
    assert found, "the fixtures hold mistakes, so flake8 must report some"
    return found


@pytest.fixture(scope="module")
def cli_on_fixtures() -> set[tuple[str, int, int, str]]:
    result = subprocess.run(
        [sys.executable, "-m", "torchlint", "--isolated", "--select", "TL", "--format", "json", *FIXTURE_FILES],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode in (0, 1), result.stderr
    return {(os.path.normpath(f["path"]), f["line"], f["column"], f["code"]) for f in json.loads(result.stdout)}


def test_fixtures_exist():
    assert FIXTURE_FILES, "no fixtures found under fixtures/*/"


@pytest.mark.parametrize("fixture", FIXTURE_FILES)
def test_flake8_reports_what_the_cli_reports(fixture, flake8_on_fixtures, cli_on_fixtures):
    path = os.path.normpath(fixture)
    by_flake8 = sorted(item for item in flake8_on_fixtures if item[0] == path)
    by_cli = sorted(item for item in cli_on_fixtures if item[0] == path)
    assert by_flake8 == by_cli


def test_the_plugin_is_registered_with_flake8():
    result = subprocess.run([sys.executable, "-m", "flake8", "--version"], capture_output=True, text=True, timeout=600)
    assert "torchlint:" in result.stdout


def test_select_tl_shows_only_torchlint_findings(tmp_path):
    (tmp_path / "train.py").write_text(TWO_MISTAKES + "x=1\n")  # x=1: pycodestyle's E225 when not filtered
    everything = reported(flake8("train.py", cwd=tmp_path).stdout)
    assert any(not code.startswith("TL") for *_, code in everything)
    selected = reported(flake8("--select", "TL", "train.py", cwd=tmp_path).stdout)
    assert {item[1:] for item in selected} == {TL201_AT, TL301_AT}


def test_extend_ignore_drops_only_that_code(tmp_path):
    (tmp_path / "train.py").write_text(TWO_MISTAKES)
    result = flake8("--select", "TL", "--extend-ignore", "TL301", "train.py", cwd=tmp_path)
    assert {item[1:] for item in reported(result.stdout)} == {TL201_AT}


def test_noqa_with_the_code_silences_that_line_only(tmp_path):
    source = TWO_MISTAKES.replace("optimizer.step()", "optimizer.step()  # noqa: TL301")
    (tmp_path / "train.py").write_text(source)
    assert {item[1:] for item in reported(flake8("--select", "TL", "train.py", cwd=tmp_path).stdout)} == {TL201_AT}


def test_noqa_for_another_code_does_not_silence(tmp_path):
    source = TWO_MISTAKES.replace("optimizer.step()", "optimizer.step()  # noqa: E501")
    (tmp_path / "train.py").write_text(source)
    assert {item[1:] for item in reported(flake8("--select", "TL", "train.py", cwd=tmp_path).stdout)} == {TL201_AT, TL301_AT}


def test_standard_input_gives_the_same_findings_as_the_file(tmp_path):
    (tmp_path / "train.py").write_text(TWO_MISTAKES)
    from_file = reported(flake8("--select", "TL", "train.py", cwd=tmp_path).stdout)
    from_stdin = flake8("--select", "TL", "-", "--stdin-display-name", "train.py", cwd=tmp_path, stdin=TWO_MISTAKES)
    assert from_stdin.returncode == 1, from_stdin.stderr
    assert reported(from_stdin.stdout) == from_file == {("train.py", *TL201_AT), ("train.py", *TL301_AT)}


def test_syntax_error_is_flake8s_e999_without_a_traceback(tmp_path):
    (tmp_path / "broken.py").write_text("import torch\n\ndef f(:\n    return torch.softmax(x)\n")
    result = flake8("broken.py", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "torchlint" not in result.stderr, result.stderr
    codes = [code for *_, code in reported(result.stdout)]
    assert codes == ["E999"]


def test_file_without_trigger_words_is_not_parsed(monkeypatch):
    import libcst

    import torchlint.engine
    from torchlint.flake8_plugin import Plugin

    parsed = []

    def record(*args, **kwargs):
        parsed.append(args)
        raise AssertionError("the plugin parsed a file that cannot concern PyTorch")

    monkeypatch.setattr(libcst, "parse_module", record)
    monkeypatch.setattr(torchlint.engine, "compile", record, raising=False)  # Python's parser, as a builtin
    lines = ["import json\n", "\n", "print(json.dumps({'a': 1}))\n"]
    assert list(Plugin(None, lines, "plain.py").run()) == []
    assert parsed == []
    # The same path does parse when a rule could fire; the engine turns the failure into a TL003
    # finding for that file instead of crashing flake8, or of showing the file as clean.
    found = list(Plugin(None, TWO_MISTAKES.splitlines(keepends=True), "train.py").run())
    assert [text.split()[0] for _, _, text, _ in found] == ["TL003"]
    assert len(parsed) == 1


def test_a_rule_that_raises_is_shown_as_tl003_not_as_a_clean_file(monkeypatch):
    from torchlint import registry
    from torchlint.flake8_plugin import Plugin

    rule = registry.rule_by_code_or_name("TL201")

    def broken(self, node):
        raise ZeroDivisionError("a bug in the rule")

    monkeypatch.setattr(rule, "visit_Call", broken)
    found = list(Plugin(None, TWO_MISTAKES.splitlines(keepends=True), "train.py").run())
    messages = [text for _, _, text, _ in found]
    assert "TL003 internal error in TL201 on train.py: ZeroDivisionError: a bug in the rule (please report this)" in messages
    assert any(text.startswith("TL301 ") for text in messages)  # the other rules' findings stay


def test_nothing_is_analysed_when_flake8_selects_no_torchlint_code(monkeypatch, tmp_path):
    import argparse

    import torchlint.engine
    from torchlint.flake8_plugin import Plugin

    def refuse(*args, **kwargs):
        raise AssertionError("analysed a file although no TL code is selected")

    monkeypatch.setattr(torchlint.engine, "lint_source", refuse)
    try:
        Plugin.parse_options(argparse.Namespace(select=["E", "F"], extend_select=None))
        assert list(Plugin(None, TWO_MISTAKES.splitlines(keepends=True), "train.py").run()) == []
        Plugin.parse_options(argparse.Namespace(select=["E"], extend_select=["TL2"]))
        with pytest.raises(AssertionError, match="no TL code"):
            list(Plugin(None, TWO_MISTAKES.splitlines(keepends=True), "train.py").run())
    finally:
        Plugin.parse_options(argparse.Namespace(select=None, extend_select=None))
    (tmp_path / "train.py").write_text(TWO_MISTAKES)
    shown = flake8("--select", "E,F", "train.py", cwd=tmp_path)
    assert "TL" not in shown.stdout and shown.stderr == ""


def test_plugin_yields_zero_based_columns():
    from torchlint.flake8_plugin import Plugin

    found = list(Plugin(None, TWO_MISTAKES.splitlines(keepends=True), "train.py").run())
    assert [(line, column, text.split()[0]) for line, column, text, _ in found] == [(9, 15, "TL201"), (11, 8, "TL301")]
    assert all(kind is Plugin for *_, kind in found)


def test_flake8_without_a_tl_code_selected_imports_no_analysis(tmp_path):
    # what makes the plugin cost nothing when nobody asked for it (timing lives in benchmarks/)
    (tmp_path / "train.py").write_text(TWO_MISTAKES)
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "flake8", "--isolated", "-j", "1", "--select", "E,F", "train.py"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")]
    assert "torchlint.registry" in imported, "the plugin is loaded (its own imports show)"
    assert not [name for name in imported if name.startswith(("libcst", "torchlint.engine", "torchlint.rules"))]


def test_unchanged_files_are_answered_from_torchlints_cache_and_a_changed_import_is_seen(tmp_path):
    from test_cache import EVALUATE, MODEL_WITH_DROPOUT, MODEL_WITHOUT_DROPOUT

    (tmp_path / "model.py").write_text(textwrap.dedent(MODEL_WITH_DROPOUT))
    (tmp_path / "train.py").write_text(textwrap.dedent(EVALUATE))
    first = reported(flake8("--select", "TL", "train.py", "model.py", cwd=tmp_path).stdout)
    assert {item[3] for item in first} == {"TL401"}
    entries = sorted((tmp_path / ".torchlint_cache").rglob("*.json"))
    assert len(entries) == 2 and (tmp_path / ".torchlint_cache" / "CACHEDIR.TAG").is_file()

    # an entry edited by hand shows that the second run read it instead of linting train.py
    [train_entry] = [path for path in entries if json.loads(path.read_text())["path"].endswith("train.py")]
    entry = json.loads(train_entry.read_text())
    entry["findings"][0]["message"] = "from the cache"
    train_entry.write_text(json.dumps(entry))
    second = flake8("--select", "TL", "--format=%(text)s", "train.py", cwd=tmp_path)
    assert second.stdout.splitlines() == ["from the cache"]

    # the model no longer holds dropout: the finding in the file that imports it goes away
    (tmp_path / "model.py").write_text(textwrap.dedent(MODEL_WITHOUT_DROPOUT))
    third = flake8("--select", "TL", "train.py", cwd=tmp_path)
    assert third.stdout == "" and third.returncode == 0
    uncached = flake8("--select", "TL", "--torchlint-no-cache", "train.py", cwd=tmp_path)
    assert uncached.stdout == third.stdout


def test_no_cache_option_leaves_no_cache_folder(tmp_path):
    (tmp_path / "train.py").write_text(TWO_MISTAKES)
    result = flake8("--select", "TL", "--torchlint-no-cache", "train.py", cwd=tmp_path)
    assert {item[1:] for item in reported(result.stdout)} == {TL201_AT, TL301_AT}
    assert not (tmp_path / ".torchlint_cache").exists()
