"""The command line's contract, tested through a real subprocess (``python -m torchlint``).

Every run has its cwd in a fresh tmp_path, so no configuration of this repository applies;
``--isolated`` is passed wherever configuration is not the point of the test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import write
from torchlint import registry

# TL201 at 6:12 (the call of the criterion instance).
SOFTMAX_INTO_CE = """
    import torch.nn as nn
    import torch.nn.functional as F

    def loss_of(model, x, y):
        probs = F.softmax(model(x), dim=1)
        return nn.CrossEntropyLoss()(probs, y)
"""

# TL301 at 5:9 (the optimizer.step() call).
NO_ZERO_GRAD = """
    def train(model, loader, optimizer, loss_fn):
        for x, y in loader:
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
"""

# TL301 at 9:9 and TL201 at 13:12: two findings in one file, lines 9 and 13 (13 < 9 as text).
BOTH = """
    import torch.nn as nn
    import torch.nn.functional as F


    def train(model, loader, optimizer, loss_fn):
        for x, y in loader:
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()


    def loss_of(model, x, y):
        return nn.CrossEntropyLoss()(F.softmax(model(x), dim=1), y)
"""

CLEAN = """
    def train(model, loader, optimizer, loss_fn):
        for x, y in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
"""

FINDING_LINE = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<column>\d+): (?P<code>TL\d{3}) (?P<message>.+)$")


def findings(stdout: str) -> list[tuple[str, int, int, str]]:
    """(path, line, column, code) of each finding line of the text output (summary lines skipped)."""
    found = []
    for text in stdout.splitlines():
        match = FINDING_LINE.match(text)
        if match:
            found.append((match["path"], int(match["line"]), int(match["column"]), match["code"]))
    return found


def codes(stdout: str) -> set[str]:
    return {code for *_, code in findings(stdout)}


def assert_no_traceback(result) -> None:
    assert "Traceback" not in result.stdout and "Traceback" not in result.stderr


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


# -- text output, summary, quiet ----------------------------------------------------------------


def summary_line(stdout: str) -> str:
    """The "Found ..." line; hints about fixes may follow it, as in ruff."""
    return next(line for line in stdout.splitlines() if line.startswith("Found "))


def test_text_output_is_path_line_col_code_message_with_summary_on_stdout_and_exit_1(tmp_path, run_torchlint):
    write(tmp_path, "loss.py", SOFTMAX_INTO_CE)
    result = run_torchlint("--isolated", "loss.py")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("loss.py:6:12: TL201 [*] ")  # [*]: --fix repairs it, as ruff marks it
    assert FINDING_LINE.match(lines[0])["message"].strip()
    assert lines[1] == "Found 1 problem (1 file checked)."
    assert lines[2] == "[*] 1 fixable with the `--fix` option."
    assert result.stderr == ""


def test_summary_counts_problems_and_files_in_plural(tmp_path, run_torchlint):
    write(tmp_path, "both.py", BOTH)
    write(tmp_path, "clean.py", CLEAN)
    result = run_torchlint("--isolated", ".")
    assert result.returncode == 1
    assert summary_line(result.stdout) == "Found 2 problems (2 files checked)."


def test_clean_run_prints_all_checks_passed_on_stderr_and_exits_0(tmp_path, run_torchlint):
    write(tmp_path, "train.py", CLEAN)
    result = run_torchlint("--isolated", "train.py")
    assert result.returncode == 0
    assert result.stdout == ""
    assert result.stderr.strip() == "All checks passed (1 file checked)."


def test_quiet_drops_the_summary_line_with_and_without_findings(tmp_path, run_torchlint):
    write(tmp_path, "bad.py", NO_ZERO_GRAD)
    write(tmp_path, "good.py", CLEAN)
    noisy = run_torchlint("--isolated", "--quiet", "bad.py")
    assert noisy.returncode == 1
    assert len(noisy.stdout.splitlines()) == 1
    assert noisy.stdout.startswith("bad.py:5:9: TL301 ")
    assert noisy.stderr == ""
    clean = run_torchlint("--isolated", "--quiet", "good.py")
    assert (clean.returncode, clean.stdout, clean.stderr) == (0, "", "")


def test_default_path_is_the_current_directory(tmp_path, run_torchlint):
    write(tmp_path, "pkg/train.py", NO_ZERO_GRAD)
    result = run_torchlint("--isolated")
    assert result.returncode == 1
    assert findings(result.stdout) == [(os.path.join("pkg", "train.py"), 5, 9, "TL301")]


def test_findings_are_sorted_by_path_then_line_then_column_across_files(tmp_path, run_torchlint):
    write(tmp_path, "b.py", BOTH)
    write(tmp_path, "a.py", NO_ZERO_GRAD)
    write(tmp_path, "sub/c.py", SOFTMAX_INTO_CE)
    write(tmp_path, "a_helpers.py", BOTH)
    result = run_torchlint("--isolated", "sub", "b.py", ".")  # argument order must not matter
    assert result.returncode == 1
    assert findings(result.stdout) == [
        ("a.py", 5, 9, "TL301"),
        ("a_helpers.py", 9, 9, "TL301"),
        ("a_helpers.py", 13, 12, "TL201"),
        ("b.py", 9, 9, "TL301"),
        ("b.py", 13, 12, "TL201"),
        (os.path.join("sub", "c.py"), 6, 12, "TL201"),
    ]
    assert summary_line(result.stdout) == "Found 6 problems (4 files checked)."


# -- JSON ---------------------------------------------------------------------------------------


def test_json_format_is_an_array_of_findings_with_exactly_the_documented_keys_and_types(tmp_path, run_torchlint):
    write(tmp_path, "both.py", BOTH)
    result = run_torchlint("--isolated", "--format", "json", "both.py")
    assert result.returncode == 1
    data = json.loads(result.stdout)  # the whole of stdout is JSON: no summary line mixed in
    assert isinstance(data, list) and len(data) == 2
    for item in data:
        assert set(item) == {"path", "line", "column", "end_line", "end_column", "code", "name", "message", "fix", "url"}
        assert item["url"] == registry.rule_url(item["code"]) and item["url"].endswith(f"/docs/rules/{item['name']}.md")
        for key in ("path", "code", "name", "message"):
            assert isinstance(item[key], str) and item[key]
        for key in ("line", "column", "end_line", "end_column"):
            assert type(item[key]) is int and item[key] >= 1
        assert (item["end_line"], item["end_column"]) >= (item["line"], item["column"])
    first, second = data
    assert (first["path"], first["line"], first["column"], first["code"], first["name"]) == (
        "both.py", 9, 9, "TL301", "missing-zero-grad")
    assert (first["end_line"], first["end_column"]) == (9, 25)  # end of `optimizer.step()`, exclusive
    assert (second["line"], second["column"], second["code"], second["name"]) == (
        13, 12, "TL201", "softmax-into-cross-entropy")


def test_json_format_prints_an_empty_array_and_exits_0_when_clean(tmp_path, run_torchlint):
    write(tmp_path, "train.py", CLEAN)
    result = run_torchlint("--isolated", "--format", "json", "train.py")
    assert result.returncode == 0
    assert json.loads(result.stdout) == []


# -- selection ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "select, expected",
    [
        ("TL", {"TL201", "TL301"}),
        ("TL3", {"TL301"}),
        ("TL301", {"TL301"}),
        ("TL2", {"TL201"}),
        ("TL201,TL301", {"TL201", "TL301"}),
        ("TL201, TL3", {"TL201", "TL301"}),
        ("TL4", set()),
    ],
)
def test_select_matches_codes_by_prefix_and_accepts_comma_separated_lists(tmp_path, run_torchlint, select, expected):
    write(tmp_path, "both.py", BOTH)
    result = run_torchlint("--isolated", "--select", select, "both.py")
    assert codes(result.stdout) == expected
    assert result.returncode == (1 if expected else 0)


def test_extend_select_adds_to_the_selection_and_ignore_removes_by_prefix(tmp_path, run_torchlint):
    write(tmp_path, "both.py", BOTH)
    assert codes(run_torchlint("--isolated", "--select", "TL2", "--extend-select", "TL301", "both.py").stdout) == {"TL201", "TL301"}
    assert codes(run_torchlint("--isolated", "--ignore", "TL3", "both.py").stdout) == {"TL201"}
    assert codes(run_torchlint("--isolated", "--ignore", "TL201,TL301", "both.py").stdout) == set()
    assert codes(run_torchlint("--isolated", "--select", "TL3", "--ignore", "TL301", "both.py").stdout) == set()


@pytest.mark.parametrize(
    "option, bad_code",
    [("--select", "TL999"), ("--select", "TL3,TL999"), ("--extend-select", "XY1"), ("--ignore", "TL7")],
)
def test_unknown_rule_code_is_a_usage_error_with_exit_2(tmp_path, run_torchlint, option, bad_code):
    write(tmp_path, "both.py", BOTH)
    result = run_torchlint("--isolated", option, bad_code, "both.py")
    assert result.returncode == 2
    assert bad_code.split(",")[-1] in result.stderr
    assert result.stdout == ""
    assert_no_traceback(result)


# -- noqa ---------------------------------------------------------------------------------------


def _with_comment_on_step(comment: str) -> str:
    return NO_ZERO_GRAD.replace("optimizer.step()", f"optimizer.step()  {comment}")


SUPPRESSING_COMMENTS = [
    "# noqa", "# NOQA", "# NoQA", "# noqa: TL301", "# noqa:TL301", "# noqa:TL301,TL201",
    "# noqa: TL201, TL301", "# noqa: TL3", "# noqa: TL", "# noqa: E501 TL301", "# step # noqa: TL301",
]
NON_SUPPRESSING_COMMENTS = ["# noqa: TL201", "# noqa:TL2", "# noqa: TL302", "# noqa: E501", "#noqa"]


def _lint_one_file_per_comment(tmp_path, run_torchlint, comments: list[str]) -> dict[str, set[str]]:
    """One file per comment (one run for all): comment -> the codes reported in its file."""
    for index, comment in enumerate(comments):
        write(tmp_path, f"train_{index:02d}.py", _with_comment_on_step(comment))
    result = run_torchlint("--isolated", "--jobs", "1", ".")
    assert_no_traceback(result)
    reported = {comment: set() for comment in comments}
    for path, line, column, code in findings(result.stdout):
        assert (line, column) == (5, 9)
        reported[comments[int(path[len("train_"):-len(".py")])]].add(code)
    return reported


def test_noqa_on_the_reported_line_suppresses_the_finding(tmp_path, run_torchlint):
    reported = _lint_one_file_per_comment(tmp_path, run_torchlint, SUPPRESSING_COMMENTS)
    assert {comment: codes for comment, codes in reported.items() if codes} == {}


def test_noqa_for_another_code_does_not_suppress(tmp_path, run_torchlint):
    reported = _lint_one_file_per_comment(tmp_path, run_torchlint, NON_SUPPRESSING_COMMENTS)
    assert reported == {comment: {"TL301"} for comment in NON_SUPPRESSING_COMMENTS}


def test_noqa_on_another_line_does_not_suppress(tmp_path, run_torchlint):
    write(tmp_path, "train.py", NO_ZERO_GRAD.replace("loss.backward()", "loss.backward()  # noqa"))
    assert findings(run_torchlint("--isolated", "train.py").stdout) == [("train.py", 5, 9, "TL301")]


# -- configuration ------------------------------------------------------------------------------


def test_pyproject_select_is_found_upward_from_the_current_directory(tmp_path, run_torchlint):
    write(tmp_path, "pyproject.toml", '[tool.torchlint]\nselect = ["TL2"]\n')
    write(tmp_path, "pkg/both.py", BOTH)
    result = run_torchlint(".", cwd=tmp_path / "pkg")
    assert findings(result.stdout) == [("both.py", 13, 12, "TL201")]


def test_pyproject_without_a_torchlint_table_is_skipped_in_the_upward_search(tmp_path, run_torchlint):
    write(tmp_path, "pyproject.toml", '[tool.torchlint]\nselect = ["TL2"]\n')
    write(tmp_path, "pkg/pyproject.toml", '[project]\nname = "pkg"\n')
    write(tmp_path, "pkg/both.py", BOTH)
    assert codes(run_torchlint(".", cwd=tmp_path / "pkg").stdout) == {"TL201"}


def test_pyproject_ignore_and_extend_select_are_applied(tmp_path, run_torchlint):
    write(tmp_path, "both.py", BOTH)
    write(tmp_path, "pyproject.toml", '[tool.torchlint]\nignore = ["TL3"]\n')
    assert codes(run_torchlint(".").stdout) == {"TL201"}
    write(tmp_path, "pyproject.toml", '[tool.torchlint]\nselect = ["TL2"]\nextend-select = ["TL301"]\n')
    assert codes(run_torchlint(".").stdout) == {"TL201", "TL301"}


def test_cli_select_overrides_the_pyproject_select(tmp_path, run_torchlint):
    write(tmp_path, "pyproject.toml", '[tool.torchlint]\nselect = ["TL2"]\n')
    write(tmp_path, "both.py", BOTH)
    assert codes(run_torchlint("--select", "TL3", ".").stdout) == {"TL301"}


def test_isolated_ignores_the_pyproject(tmp_path, run_torchlint):
    write(tmp_path, "pyproject.toml", '[tool.torchlint]\nselect = ["TL2"]\nunknown-key = 1\n')
    write(tmp_path, "both.py", BOTH)
    result = run_torchlint("--isolated", ".")
    assert result.returncode == 1
    assert codes(result.stdout) == {"TL201", "TL301"}


def test_config_option_uses_the_given_file_instead_of_the_nearest(tmp_path, run_torchlint):
    write(tmp_path, "pyproject.toml", '[tool.torchlint]\nselect = ["TL2"]\n')
    write(tmp_path, "other/pyproject.toml", '[tool.torchlint]\nselect = ["TL3"]\n')
    write(tmp_path, "both.py", BOTH)
    assert codes(run_torchlint("--config", "other/pyproject.toml", "both.py").stdout) == {"TL301"}


def test_config_option_naming_a_missing_file_exits_2_naming_it(tmp_path, run_torchlint):
    write(tmp_path, "both.py", BOTH)
    result = run_torchlint("--config", "missing.toml", "both.py")
    assert result.returncode == 2
    assert len(error_lines(result)) == 1 and "missing.toml" in result.stderr
    assert_no_traceback(result)


def test_per_file_ignores_globs_are_relative_to_the_pyproject_folder(tmp_path, run_torchlint):
    write(tmp_path, "pyproject.toml", '[tool.torchlint.per-file-ignores]\n"pkg/train_*.py" = ["TL301"]\n"pkg/legacy/*" = ["TL2"]\n')
    write(tmp_path, "pkg/train_a.py", BOTH)
    write(tmp_path, "pkg/other.py", BOTH)
    write(tmp_path, "pkg/legacy/old.py", BOTH)
    result = run_torchlint(".", cwd=tmp_path / "pkg")  # run from below the pyproject's folder
    assert findings(result.stdout) == [
        (os.path.join("legacy", "old.py"), 9, 9, "TL301"),
        ("other.py", 9, 9, "TL301"),
        ("other.py", 13, 12, "TL201"),
        ("train_a.py", 13, 12, "TL201"),
    ]


def test_exclude_and_extend_exclude_skip_discovered_files(tmp_path, run_torchlint):
    write(tmp_path, "pyproject.toml", '[tool.torchlint]\nexclude = ["old_*.py"]\nextend-exclude = ["legacy", "generated/*"]\n')
    for name in ("keep.py", "old_model.py", "legacy/model.py", "src/legacy/model.py", "generated/model.py"):
        write(tmp_path, name, NO_ZERO_GRAD)
    result = run_torchlint(".")
    assert findings(result.stdout) == [("keep.py", 5, 9, "TL301")]


def test_explicit_file_arguments_are_linted_even_when_excluded(tmp_path, run_torchlint):
    write(tmp_path, "pyproject.toml", '[tool.torchlint]\nextend-exclude = ["legacy"]\n')
    write(tmp_path, "legacy/model.py", NO_ZERO_GRAD)
    write(tmp_path, "build/model.py", NO_ZERO_GRAD)
    result = run_torchlint(os.path.join("legacy", "model.py"), os.path.join("build", "model.py"))
    assert [path for path, *_ in findings(result.stdout)] == [os.path.join("build", "model.py"), os.path.join("legacy", "model.py")]


def test_invalid_toml_in_pyproject_is_a_one_line_error_naming_the_file_with_exit_2(tmp_path, run_torchlint):
    write(tmp_path, "pyproject.toml", '[tool.torchlint\nselect = ["TL3"]\n')
    write(tmp_path, "both.py", BOTH)
    result = run_torchlint(".")
    assert result.returncode == 2
    assert len(error_lines(result)) == 1
    assert "pyproject.toml" in result.stderr
    assert_no_traceback(result)


@pytest.mark.parametrize(
    "table, mentions",
    [
        ('selekt = ["TL3"]', "selekt"),
        ('select = "TL3"', "select"),
        ('ignore = ["TL3", 1]', "ignore"),
        ('select = ["TL999"]', "TL999"),
        ('per-file-ignores = "x.py"', "per-file-ignores"),
        ('extend-exclude = "build"', "extend-exclude"),
    ],
)
def test_invalid_torchlint_table_is_a_one_line_error_naming_the_file_with_exit_2(tmp_path, run_torchlint, table, mentions):
    write(tmp_path, "pyproject.toml", f"[tool.torchlint]\n{table}\n")
    write(tmp_path, "both.py", BOTH)
    result = run_torchlint(".")
    assert result.returncode == 2
    assert len(error_lines(result)) == 1
    assert "pyproject.toml" in result.stderr and mentions in result.stderr
    assert result.stdout == ""
    assert_no_traceback(result)


@pytest.mark.parametrize("content", [b'\xff\xfe[tool.torchlint]\nselect = ["TL3"]\n', b"tool = 3\n"])
def test_unusable_pyproject_is_a_config_error_naming_the_file(tmp_path, run_torchlint, content):
    write(tmp_path, "pyproject.toml", content)
    write(tmp_path, "both.py", BOTH)
    result = run_torchlint(".")
    assert result.returncode == 2
    assert_no_traceback(result)
    assert "internal error" not in result.stderr
    assert "pyproject.toml" in result.stderr


# -- rules subcommand ---------------------------------------------------------------------------


def test_rules_subcommand_lists_every_rule_with_code_name_and_one_line_summary(tmp_path, run_torchlint):
    result = run_torchlint("rules")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    rules = registry.all_rules()
    assert len(lines) == len(rules) >= 6
    for line, rule in zip(lines, rules):
        code, name, summary = line.split(None, 2)
        assert (code, name) == (rule.CODE, rule.NAME)
        assert summary.strip()
    assert {"TL201", "TL301"} <= {line.split()[0] for line in lines}


def test_rules_subcommand_rejects_unknown_arguments_with_exit_2(run_torchlint):
    result = run_torchlint("rules", "--bogus")
    assert result.returncode == 2
    assert_no_traceback(result)


# -- exit codes ---------------------------------------------------------------------------------


def test_exit_zero_exits_0_but_still_prints_findings(tmp_path, run_torchlint):
    write(tmp_path, "train.py", NO_ZERO_GRAD)
    result = run_torchlint("--isolated", "--exit-zero", "train.py")
    assert result.returncode == 0
    assert findings(result.stdout) == [("train.py", 5, 9, "TL301")]


@pytest.mark.parametrize("args", [["--bogus-option"], ["--format", "xml"], ["--jobs", "0"], ["--jobs", "many"]])
def test_bad_command_line_is_a_usage_error_with_exit_2(tmp_path, run_torchlint, args):
    write(tmp_path, "train.py", NO_ZERO_GRAD)
    result = run_torchlint("--isolated", *args, "train.py")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "usage" in result.stderr.lower() or "error" in result.stderr.lower()
    assert_no_traceback(result)


# -- discovery ----------------------------------------------------------------------------------


def test_directories_are_searched_recursively_for_py_files_and_notebooks_only(tmp_path, run_torchlint):
    write(tmp_path, "top.py", NO_ZERO_GRAD)
    write(tmp_path, "a/b/c/deep.py", NO_ZERO_GRAD)
    for name in ("notes.txt", "script", "model.py.bak", "train.pyc"):
        write(tmp_path, f"a/{name}", NO_ZERO_GRAD)
    result = run_torchlint("--isolated", ".")
    assert [path for path, *_ in findings(result.stdout)] == [os.path.join("a", "b", "c", "deep.py"), "top.py"]
    assert "(2 files checked)" in result.stdout


def test_discovery_skips_vcs_virtualenvs_build_node_modules_and_caches(tmp_path, run_torchlint):
    write(tmp_path, "train.py", NO_ZERO_GRAD)
    skipped = [".git/hooks/x.py", "build/lib/x.py", "node_modules/pkg/x.py", "__pycache__/x.py",
               ".venv/lib/x.py", "dist/x.py", ".tox/py311/x.py", "pkg.egg-info/x.py"]
    for name in skipped:
        write(tmp_path, name, NO_ZERO_GRAD)
    write(tmp_path, "myenv/pyvenv.cfg", "home = /usr/bin\n")  # a virtualenv under any name
    write(tmp_path, "myenv/lib/site.py", NO_ZERO_GRAD)
    result = run_torchlint("--isolated", ".")
    assert findings(result.stdout) == [("train.py", 5, 9, "TL301")]
    assert "(1 file checked)" in result.stdout


# -- bad input ----------------------------------------------------------------------------------


def test_syntax_error_is_a_tl000_finding_and_the_run_goes_on(tmp_path, run_torchlint):
    write(tmp_path, "broken.py", 'import torch\nprint "hello"\n')
    write(tmp_path, "train.py", NO_ZERO_GRAD)
    result = run_torchlint("--isolated", ".")
    assert result.returncode == 1
    assert findings(result.stdout) == [("broken.py", 2, 1, "TL000"), ("train.py", 5, 9, "TL301")]
    assert "syntax error" in result.stdout
    assert_no_traceback(result)


def test_syntax_error_is_reported_even_in_a_file_without_pytorch_words(tmp_path, run_torchlint):
    write(tmp_path, "utils.py", "def f(:\n    pass\n")
    result = run_torchlint("--isolated", "utils.py")
    assert codes(result.stdout) == {"TL000"}
    assert result.returncode == 1


@pytest.mark.parametrize("source", ["import torch\nx = )\n", "import torch\ndef f(:\n    pass\n"])
def test_syntax_error_is_reported_at_the_position_python_reports(tmp_path, run_torchlint, source):
    write(tmp_path, "broken.py", source)
    with pytest.raises(SyntaxError) as raised:
        compile(source, "broken.py", "exec")
    result = run_torchlint("--isolated", "broken.py")
    assert findings(result.stdout) == [("broken.py", raised.value.lineno, raised.value.offset, "TL000")]


def test_undecodable_file_is_a_tl001_finding_naming_the_file_and_the_run_goes_on(tmp_path, run_torchlint):
    write(tmp_path, "binary.py", b"import torch\nname = '\xff\xfe caf\xe9'\n")
    write(tmp_path, "train.py", NO_ZERO_GRAD)
    result = run_torchlint("--isolated", ".")
    assert result.returncode == 1
    assert findings(result.stdout) == [("binary.py", 1, 1, "TL001"), ("train.py", 5, 9, "TL301")]
    assert "decode" in result.stdout
    assert_no_traceback(result)


def test_pep263_latin1_coding_cookie_is_honoured(tmp_path, run_torchlint):
    body = textwrap.dedent(_with_comment_on_step("# \xe9tape")).lstrip("\n")
    source = ("# -*- coding: latin-1 -*-\n# entra\xeenement\n" + body).encode("latin-1")
    assert b"\xe9" in source
    write(tmp_path, "latin.py", source)
    result = run_torchlint("--isolated", "latin.py")
    assert findings(result.stdout) == [("latin.py", 7, 9, "TL301")]
    assert result.returncode == 1
    assert_no_traceback(result)


def test_missing_path_is_a_one_line_error_exit_2_and_other_files_are_still_linted(tmp_path, run_torchlint):
    write(tmp_path, "train.py", NO_ZERO_GRAD)
    result = run_torchlint("--isolated", "train.py", "does_not_exist.py")
    assert result.returncode == 2
    assert findings(result.stdout) == [("train.py", 5, 9, "TL301")]
    errors = error_lines(result)
    assert len(errors) == 1
    assert "does_not_exist.py" in errors[0] and "no such file or directory" in errors[0]
    assert_no_traceback(result)


def test_directory_without_python_files_is_a_warning_with_exit_0(tmp_path, run_torchlint):
    write(tmp_path, "docs/readme.txt", "nothing to lint\n")
    result = run_torchlint("--isolated", "docs")
    assert result.returncode == 0
    assert result.stdout == ""
    assert any("docs" in line and "warning" in line for line in error_lines(result))
    assert_no_traceback(result)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root reads chmod 000 files anyway; see the /proc/self/mem test for the OSError path")
def test_unreadable_file_is_a_tl001_finding_naming_the_file(tmp_path, run_torchlint):
    locked = write(tmp_path, "locked.py", NO_ZERO_GRAD)
    write(tmp_path, "train.py", NO_ZERO_GRAD)
    locked.chmod(0)
    try:
        result = run_torchlint("--isolated", ".")
    finally:
        locked.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert result.returncode == 1
    assert findings(result.stdout) == [("locked.py", 1, 1, "TL001"), ("train.py", 5, 9, "TL301")]
    assert_no_traceback(result)


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs Linux /proc")
def test_file_whose_read_fails_with_oserror_is_a_tl001_finding_and_the_run_goes_on(tmp_path, run_torchlint):
    # /proc/self/mem is a regular file whose read at offset 0 fails with EIO, even for root.
    write(tmp_path, "train.py", NO_ZERO_GRAD)
    result = run_torchlint("--isolated", "/proc/self/mem", "train.py")
    assert result.returncode == 1
    assert findings(result.stdout) == [("/proc/self/mem", 1, 1, "TL001"), ("train.py", 5, 9, "TL301")]
    assert "cannot read" in result.stdout
    assert_no_traceback(result)


def test_dangling_symlink_found_in_a_directory_is_a_tl001_finding(tmp_path, run_torchlint):
    write(tmp_path, "train.py", NO_ZERO_GRAD)
    (tmp_path / "gone.py").symlink_to(tmp_path / "nowhere.py")
    result = run_torchlint("--isolated", ".")
    assert findings(result.stdout) == [("gone.py", 1, 1, "TL001"), ("train.py", 5, 9, "TL301")]
    assert_no_traceback(result)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_named_pipe_in_a_directory_does_not_hang_the_run(tmp_path, run_torchlint):
    write(tmp_path, "train.py", NO_ZERO_GRAD)
    os.mkfifo(tmp_path / "pipe.py")
    try:
        result = run_torchlint("--isolated", ".", timeout=3)
    except Exception as error:  # subprocess.TimeoutExpired: the run hung
        pytest.fail(f"torchlint hung on a FIFO: {error}")
    assert ("train.py", 5, 9, "TL301") in findings(result.stdout)


def test_file_over_5_mib_is_a_tl001_file_too_large_finding_and_the_run_goes_on(tmp_path, run_torchlint):
    write(tmp_path, "huge.py", "import torch\n" + "x = 1\n" * (1024 * 1024))  # 6 MiB
    assert (tmp_path / "huge.py").stat().st_size > 5 * 1024 * 1024
    write(tmp_path, "train.py", NO_ZERO_GRAD)
    result = run_torchlint("--isolated", ".")
    assert result.returncode == 1
    assert findings(result.stdout) == [("huge.py", 1, 1, "TL001"), ("train.py", 5, 9, "TL301")]
    assert "too large" in result.stdout


# -- entry points and parallelism ---------------------------------------------------------------


def test_console_script_and_python_m_give_the_same_output(tmp_path, run_torchlint):
    script = shutil.which("torchlint", path=str(Path(sys.executable).parent))
    assert script, "the torchlint console script is not installed next to this interpreter"
    write(tmp_path, "both.py", BOTH)
    via_module = run_torchlint("--isolated", ".")
    via_script = run_torchlint("--isolated", ".", program=[script])
    assert via_module.returncode == via_script.returncode == 1
    assert via_module.stdout == via_script.stdout
    assert len(findings(via_script.stdout)) == 2
    version = run_torchlint("--version", program=[script])
    assert version.returncode == 0 and version.stdout.startswith("torchlint ")


def test_jobs_1_and_jobs_2_give_identical_output_on_twenty_files(tmp_path, run_torchlint):
    snippets = [BOTH, NO_ZERO_GRAD, SOFTMAX_INTO_CE, CLEAN]
    for index in range(20):
        write(tmp_path, f"pkg{index % 3}/module_{index:02d}.py", snippets[index % len(snippets)])
    write(tmp_path, "pkg0/broken.py", "import torch\nx = (\n")
    serial = run_torchlint("--isolated", "--jobs", "1", ".")
    parallel = run_torchlint("--isolated", "--jobs", "2", ".")
    assert serial.returncode == parallel.returncode == 1
    assert serial.stdout == parallel.stdout
    assert summary_line(serial.stdout) == "Found 21 problems (21 files checked)."
    serial_json = run_torchlint("--isolated", "--jobs", "1", "--format", "json", ".")
    parallel_json = run_torchlint("--isolated", "--jobs", "2", "--format", "json", ".")
    assert json.loads(serial_json.stdout) == json.loads(parallel_json.stdout)


def test_a_package_named_env_is_linted_and_stub_files_are_not(tmp_path, run_torchlint):
    # ``env/`` is a common package name in reinforcement learning code: only real virtualenvs
    # (a pyvenv.cfg inside) are skipped. Stubs hold no training code.
    write(tmp_path, "env/train.py", NO_ZERO_GRAD)
    write(tmp_path, "stubs/train.pyi", NO_ZERO_GRAD)
    result = run_torchlint("--isolated", ".")
    assert findings(result.stdout) == [("env/train.py", 5, 9, "TL301")]


def test_noqa_after_a_multi_line_string_covers_its_lines_as_in_flake8(tmp_path, run_torchlint):
    write(
        tmp_path,
        "loss.py",
        '''
        import torch.nn.functional as F

        def loss_of(logits, y):
            return F.cross_entropy(F.softmax(logits, 1), y, reduction="""
        mean""")  # noqa: TL201
        ''',
    )
    result = run_torchlint("--isolated", "loss.py")
    assert findings(result.stdout) == []
    assert result.returncode == 0


def test_an_expression_thousands_of_terms_long_is_analysed_not_rejected(tmp_path, run_torchlint):
    terms = " + ".join(["a"] * 3000)  # a left-deep tree 3000 nodes deep
    write(
        tmp_path,
        "long.py",
        "import torch.nn.functional as F\n\n\ndef f(logits, y, a):\n"
        f"    return F.cross_entropy(F.softmax(logits, 1), y) + {terms}\n",
    )
    result = run_torchlint("--isolated", "long.py")
    assert findings(result.stdout) == [("long.py", 5, 12, "TL201")]
    assert_no_traceback(result)


def test_a_generated_file_nesting_thousands_of_operators_does_not_kill_the_run(tmp_path, run_torchlint):
    write(tmp_path, "generated.py", "import torch\nx = " + "+".join(["torch.a"] * 8000) + "\n")
    write(tmp_path, "train.py", NO_ZERO_GRAD)
    result = run_torchlint("--isolated", ".")
    # reported as not analysed rather than stalling the run in libcst's parser
    assert findings(result.stdout) == [("generated.py", 1, 1, "TL001"), ("train.py", 5, 9, "TL301")]
    assert "nests more than 4000 levels deep" in result.stdout
    assert result.returncode == 1


def test_noqa_is_read_on_the_right_line_after_a_form_feed(tmp_path, run_torchlint):
    write(tmp_path, "ff.py", b"import torch.nn.functional as F\n\x0c\ndef f(x, y):\n    helper = 1  # noqa: TL201\n"
          b"    return F.cross_entropy(F.softmax(x, 1), y)\n")
    assert findings(run_torchlint("--isolated", "ff.py").stdout) == [("ff.py", 5, 12, "TL201")]


def test_selecting_rules_does_not_hide_a_syntax_error(tmp_path, run_torchlint):
    write(tmp_path, "broken.py", "def f(:\n    pass\n")
    result = run_torchlint("--isolated", "--select", "TL201", "broken.py")
    assert codes(result.stdout) == {"TL000"}
    assert run_torchlint("--isolated", "--ignore", "TL000", "broken.py").returncode == 0


# -- commands, start-up, --force-exclude ----------------------------------------------------------


def test_check_is_ruff_s_spelling_and_an_unknown_command_is_a_usage_error(tmp_path, run_torchlint):
    write(tmp_path, "loss.py", SOFTMAX_INTO_CE)
    assert findings(run_torchlint("--isolated", "check", "loss.py").stdout) == findings(run_torchlint("--isolated", "loss.py").stdout) != []
    typo = run_torchlint("chek", "loss.py")
    assert typo.returncode == 2 and typo.stdout == ""
    from torchlint.cli import SUBCOMMANDS

    assert {"check", "rule", "rules", "verify", "clean"} <= set(SUBCOMMANDS)
    assert f"torchlint: error: 'chek' is neither a command ({', '.join(sorted(SUBCOMMANDS))}) nor a file or directory" in typo.stderr


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["rules"], ["rules", "--format", "json"]])
def test_version_help_and_rules_do_not_import_libcst(args, run_torchlint):
    # what makes them start fast: nothing of the analysis is imported (timing lives in benchmarks/)
    result = run_torchlint(*args, program=[sys.executable, "-X", "importtime", "-m", "torchlint"])
    assert result.returncode == 0
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")]
    assert "torchlint.cli" in imported and not [name for name in imported if name.startswith("libcst")]


def test_force_exclude_applies_the_excludes_to_files_named_explicitly(tmp_path, run_torchlint):
    write(tmp_path, "pyproject.toml", '[tool.torchlint]\nextend-exclude = ["vendor"]\n')
    write(tmp_path, "vendor/lib/third_party.py", SOFTMAX_INTO_CE)
    write(tmp_path, "loss.py", SOFTMAX_INTO_CE)
    named = run_torchlint("vendor/lib/third_party.py", "loss.py")
    assert [path for path, *_ in findings(named.stdout)] == ["loss.py", os.path.join("vendor", "lib", "third_party.py")]
    forced = run_torchlint("--force-exclude", "vendor/lib/third_party.py", "loss.py")
    assert [path for path, *_ in findings(forced.stdout)] == ["loss.py"]


# -- output formats -----------------------------------------------------------------------------

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "missing_eval_mode" / "bad.py"


def _expected(run_torchlint, tmp_path):
    data = json.loads(run_torchlint("--isolated", "--output-format", "json", str(FIXTURE), cwd=tmp_path).stdout)
    assert data
    return data


def test_format_is_an_alias_of_output_format_and_concise_is_the_default(tmp_path, run_torchlint):
    default = run_torchlint("--isolated", str(FIXTURE)).stdout
    assert default == run_torchlint("--isolated", "--output-format", "concise", str(FIXTURE)).stdout
    assert default == run_torchlint("--isolated", "--format", "text", str(FIXTURE)).stdout


def test_full_format_shows_the_source_line_with_carets_under_the_range(tmp_path, run_torchlint):
    source = FIXTURE.read_text(encoding="utf-8").splitlines()
    out = run_torchlint("--isolated", "--output-format", "full", str(FIXTURE)).stdout
    for finding in _expected(run_torchlint, tmp_path):
        line = source[finding["line"] - 1]
        number = str(finding["line"])
        assert f"{number} | {line}\n" in out
        width = finding["end_column"] - finding["column"] if finding["end_line"] == finding["line"] else len(line) - finding["column"] + 1
        assert f"{' ' * len(number)} | {' ' * (finding['column'] - 1)}{'^' * width} {finding['code']}\n" in out


def test_json_lines_and_pylint_formats(tmp_path, run_torchlint):
    expected = _expected(run_torchlint, tmp_path)
    lines = run_torchlint("--isolated", "--output-format", "json-lines", str(FIXTURE), cwd=tmp_path).stdout.splitlines()
    assert [json.loads(line) for line in lines] == expected
    pylint = run_torchlint("--isolated", "--output-format", "pylint", str(FIXTURE), cwd=tmp_path).stdout.splitlines()
    assert pylint == [f"{f['path']}:{f['line']}: [{f['code']}] {f['message']}" for f in expected]


def test_gitlab_format_fingerprints_survive_a_line_shift(tmp_path, run_torchlint):
    path = write(tmp_path, "bad.py", FIXTURE.read_text(encoding="utf-8"))
    first = json.loads(run_torchlint("--isolated", "--output-format", "gitlab", "bad.py").stdout)
    assert first and all(set(issue) == {"description", "check_name", "fingerprint", "severity", "location"} for issue in first)
    assert len({issue["fingerprint"] for issue in first}) == len(first)
    path.write_text("# a new first line\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    shifted = json.loads(run_torchlint("--isolated", "--output-format", "gitlab", "bad.py").stdout)
    assert [issue["fingerprint"] for issue in shifted] == [issue["fingerprint"] for issue in first]
    assert [issue["location"]["lines"]["begin"] for issue in shifted] == [issue["location"]["lines"]["begin"] + 1 for issue in first]


def test_junit_format_is_xml_with_a_failing_case_per_finding(tmp_path, run_torchlint):
    from xml.etree import ElementTree

    expected = _expected(run_torchlint, tmp_path)
    root = ElementTree.fromstring(run_torchlint("--isolated", "--output-format", "junit", str(FIXTURE), cwd=tmp_path).stdout)
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(expected) == int(root.get("failures"))
    assert [case.find("failure").get("type") for case in cases] == [f["code"] for f in expected]


def _shown(output_format: str, output: str) -> list[tuple[str, int]]:
    """(code, line) of each finding as the format shows it."""
    from xml.etree import ElementTree

    if output_format in ("json", "gitlab"):
        items = json.loads(output)
        return [(i["code"], i["line"]) if "code" in i else (i["check_name"], i["location"]["lines"]["begin"]) for i in items]
    if output_format == "json-lines":
        return [(i["code"], i["line"]) for i in map(json.loads, output.splitlines())]
    if output_format == "sarif":
        return [(r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in json.loads(output)["runs"][0]["results"]]
    if output_format == "junit":
        cases = ElementTree.fromstring(output).iter("testcase")
        return [(case.find("failure").get("type"), int(re.search(r" at (\d+):", case.get("name")).group(1))) for case in cases]
    if output_format == "github":
        return [(re.search(r"title=(TL\d+)", line).group(1), int(re.search(r"line=(\d+)", line).group(1))) for line in output.splitlines()]
    if output_format == "pylint":
        return [(re.search(r"\[(TL\d+)\]", line).group(1), int(line.split(":")[1])) for line in output.splitlines()]
    pattern = re.compile(r"^[^ :]+:(\d+):\d+: (TL\d+)", re.MULTILINE)  # concise and full
    return [(code, int(line)) for line, code in pattern.findall(output)]


@pytest.mark.parametrize("output_format", [f for f in __import__("torchlint.reporters", fromlist=["FORMATS"]).FORMATS if f != "text"])
def test_every_output_format_shows_every_finding_of_the_fixtures(output_format, run_torchlint):
    root = Path(__file__).resolve().parent.parent
    expected = [(f["code"], f["line"]) for f in json.loads(run_torchlint("--isolated", "--format", "json", "fixtures", cwd=root).stdout)]
    result = run_torchlint("--isolated", "--output-format", output_format, "fixtures", cwd=root)
    assert result.returncode == 1 and len(expected) > 30
    assert _shown(output_format, result.stdout) == expected


def test_statistics_counts_findings_per_code(tmp_path, run_torchlint):
    write(tmp_path, "a.py", SOFTMAX_INTO_CE)
    write(tmp_path, "b.py", SOFTMAX_INTO_CE)
    result = run_torchlint("--isolated", "--statistics", ".")
    assert result.stdout.splitlines()[0] == "2\tTL201\t[*] softmax-into-cross-entropy"
    assert result.returncode == 1


# -- standard input -----------------------------------------------------------------------------


def _stdin(tmp_path, data: str, *args: str):
    import subprocess

    source = textwrap.dedent(data).lstrip("\n")  # as write() puts it in a file
    return subprocess.run([sys.executable, "-m", "torchlint", *args], cwd=tmp_path, input=source, capture_output=True, text=True, timeout=600)


def test_standard_input_is_linted_under_the_stdin_filename(tmp_path):
    write(tmp_path, "pyproject.toml", '[tool.torchlint.per-file-ignores]\n"generated/*" = ["TL201"]\n')
    named = _stdin(tmp_path, SOFTMAX_INTO_CE, "-", "--stdin-filename", "src/loss.py")
    assert named.returncode == 1
    assert named.stdout.startswith("src/loss.py:6:12: TL201 [*] ")
    ignored = _stdin(tmp_path, SOFTMAX_INTO_CE, "-", "--stdin-filename", "generated/loss.py")
    assert ignored.returncode == 0 and "TL201" not in ignored.stdout
    unnamed = _stdin(tmp_path, SOFTMAX_INTO_CE, "--isolated", "-")
    assert unnamed.stdout.startswith("<stdin>:6:12: TL201")


def test_fix_on_standard_input_prints_the_fixed_source(tmp_path):
    fixed = _stdin(tmp_path, SOFTMAX_INTO_CE, "--isolated", "--fix", "-", "--stdin-filename", "loss.py")
    assert fixed.returncode == 0, fixed.stderr
    assert "softmax" not in fixed.stdout.split("def ", 1)[1] and fixed.stdout.startswith("import")
    assert "1 fixed, 0 remaining" in fixed.stderr
    mixed = _stdin(tmp_path, SOFTMAX_INTO_CE, "-", "loss.py")
    assert mixed.returncode == 2 and "cannot be mixed" in mixed.stderr


# -- suppressions ---------------------------------------------------------------------------------

NOQA_CASES = """\
import torch.nn.functional as F


def f(m, x, y):
    a = F.cross_entropy(F.softmax(m(x), dim=1), y)  # noqa: softmax-into-cross-entropy
    b = F.cross_entropy(F.softmax(m(x), dim=1), y)  # noqa: TL205
    c = F.cross_entropy(m(x), y)  # noqa: TL201, E501
    d = F.softmax(m(x))
    return a, b, c, d
"""


def test_noqa_by_rule_name_and_file_level_noqa(tmp_path, run_torchlint):
    write(tmp_path, "a.py", NOQA_CASES)
    assert [(line, code) for _, line, _, code in findings(run_torchlint("--isolated", "a.py").stdout)] == [(6, "TL201"), (8, "TL205")]
    write(tmp_path, "codes.py", "# torchlint: noqa: TL205\n" + NOQA_CASES)
    assert [(line, code) for _, line, _, code in findings(run_torchlint("--isolated", "codes.py").stdout)] == [(7, "TL201")]
    write(tmp_path, "all.py", "# torchlint: noqa\n" + NOQA_CASES)
    silent = run_torchlint("--isolated", "all.py")
    assert silent.returncode == 0 and silent.stdout == ""
    # flake8's file exemption is about style: real bugs in such files stay visible
    write(tmp_path, "styled.py", "# flake8: noqa\n" + NOQA_CASES)
    assert [code for *_, code in findings(run_torchlint("--isolated", "styled.py").stdout)] == ["TL201", "TL205"]
    write(tmp_path, "broken.py", "# torchlint: noqa\nx = (\n")  # a broken file never looks clean
    assert findings(run_torchlint("--isolated", "broken.py").stdout) == [("broken.py", 2, 5, "TL000")]


def test_unused_noqa_is_reported_when_selected(tmp_path, run_torchlint):
    write(tmp_path, "a.py", NOQA_CASES)
    assert "TL004" not in run_torchlint("--isolated", "a.py").stdout  # off by default
    result = run_torchlint("--isolated", "--extend-select", "TL004", "a.py")
    unused = [line for line in result.stdout.splitlines() if " TL004 " in line]
    assert unused == [
        "a.py:6:53: TL004 unused `noqa` for TL205: nothing on this line is reported for it; remove it",
        "a.py:7:35: TL004 unused `noqa` for TL201: nothing on this line is reported for it; remove it",
    ]  # E501 is another linter's to judge; the rule-named noqa on line 5 did silence TL201


# -- configuration: the nearest file, torchlint.toml, command-line options ----------------------


def test_each_file_is_governed_by_its_nearest_configuration(tmp_path, run_torchlint):
    write(tmp_path, "pyproject.toml", '[tool.torchlint]\nignore = ["TL301"]\n')
    write(tmp_path, "top.py", BOTH)
    write(tmp_path, "sub/torchlint.toml", 'ignore = ["TL201"]\n')  # top-level keys; wins over a pyproject beside it
    write(tmp_path, "sub/pyproject.toml", '[tool.torchlint]\nignore = ["TL3"]\n')
    write(tmp_path, "sub/inner.py", BOTH)
    result = run_torchlint(".")
    assert sorted((path, code) for path, _, _, code in findings(result.stdout)) == [
        ("sub/inner.py" if os.sep == "/" else os.path.join("sub", "inner.py"), "TL301"), ("top.py", "TL201")]
    # the same answer from inside the subfolder, and for the file named alone
    assert [code for *_, code in findings(run_torchlint("inner.py", cwd=tmp_path / "sub").stdout)] == ["TL301"]
    shown = run_torchlint("--show-settings", "sub/inner.py")
    assert shown.returncode == 0 and f"(from {tmp_path / 'sub' / 'torchlint.toml'})" in shown.stdout
    assert '"TL201"' in shown.stdout


def test_a_config_file_without_torchlint_settings_is_an_error(tmp_path, run_torchlint):
    write(tmp_path, "other.toml", '[project]\nname = "x"\n')
    write(tmp_path, "a.py", BOTH)
    result = run_torchlint("--config", "other.toml", "a.py")
    assert result.returncode == 2 and "other.toml: no [tool.torchlint] table" in result.stderr


def test_exclude_extend_exclude_and_per_file_ignores_on_the_command_line(tmp_path, run_torchlint):
    write(tmp_path, "gen/a.py", BOTH)
    write(tmp_path, "tests/test_b.py", BOTH)
    write(tmp_path, "c.py", BOTH)
    assert {path for path, *_ in findings(run_torchlint("--isolated", "--extend-exclude", "gen", ".").stdout)} == {"c.py", os.path.join("tests", "test_b.py")}
    ignored = findings(run_torchlint("--isolated", "--per-file-ignores", "tests/*:TL201+TL301", ".").stdout)
    assert not [path for path, *_ in ignored if path.startswith("tests")] and {path for path, *_ in ignored} == {"c.py", os.path.join("gen", "a.py")}
    replaced = run_torchlint("--isolated", "--exclude", "c.py,gen", ".")
    assert {path for path, *_ in findings(replaced.stdout)} == {os.path.join("tests", "test_b.py")}
    bad = run_torchlint("--isolated", "--per-file-ignores", "tests/*", ".")
    assert bad.returncode == 2 and "expected GLOB:CODES" in bad.stderr
