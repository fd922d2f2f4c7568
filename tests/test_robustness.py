"""What real code throws at a linter: Python's own parser is the judge of validity, libcst's
limits are said to be libcst's, and a file that is not PyTorch gets no PyTorch finding."""

from __future__ import annotations

import json
import sysconfig
from pathlib import Path

import pytest

from conftest import write
from torchlint.config import KNOWN_KEYS

# Python rejects these, but only its compiler says so: libcst raises a validation error instead
INVALID_FOR_THE_COMPILER = {
    "a bare except that is not the last handler": (
        "import torch\ntry:\n    pass\nexcept:\n    pass\nexcept ValueError:\n    pass\n",
        4, 1, "syntax error: default 'except:' must be last",
    ),
    "bytes concatenated with a string": (
        'import torch\nx = "a" b"b"\n', 2, 13, "syntax error: cannot mix bytes and nonbytes literals",
    ),
}
# Python accepts these; libcst 1.x cannot parse them
VALID_BUT_NOT_FOR_LIBCST = {
    "a parenthesised annotated target": "import torch\n(x): int = 1\n",
    "a starred base after a keyword in a class": "import torch\nclass A(metaclass=type, *()):\n    pass\n",
}


@pytest.mark.parametrize("case", INVALID_FOR_THE_COMPILER, ids=list(INVALID_FOR_THE_COMPILER))
def test_code_only_the_compiler_rejects_is_a_syntax_error_at_python_s_position(case, tmp_path, run_torchlint):
    source, line, column, message = INVALID_FOR_THE_COMPILER[case]
    write(tmp_path, "broken.py", source)
    write(tmp_path, "fine.py", "import torch\n")
    result = run_torchlint("--isolated", "--format", "json", ".")
    assert result.returncode == 1 and result.stderr == ""  # a finding, not an internal error
    findings = json.loads(result.stdout)
    assert [(f["path"], f["line"], f["column"], f["code"], f["message"]) for f in findings] == [("broken.py", line, column, "TL000", message)]
    text = run_torchlint("--isolated", ".")
    assert "All checks passed" not in text.stdout + text.stderr
    assert "Found 1 problem (2 files checked)." in text.stdout


@pytest.mark.parametrize("case", VALID_BUT_NOT_FOR_LIBCST, ids=list(VALID_BUT_NOT_FOR_LIBCST))
def test_valid_python_libcst_cannot_parse_is_said_to_be_so_not_called_a_syntax_error(case, tmp_path, run_torchlint):
    compile(VALID_BUT_NOT_FOR_LIBCST[case], "case.py", "exec")  # Python accepts it
    write(tmp_path, "case.py", VALID_BUT_NOT_FOR_LIBCST[case])
    result = run_torchlint("--isolated", "case.py")
    assert result.returncode == 1
    assert " TL002 not analysed: valid Python that libcst's parser cannot read (it stops at line " in result.stdout
    assert "syntax error" not in result.stdout and "All checks passed" not in result.stdout + result.stderr


def test_tl002_is_documented_and_can_be_ignored_by_name(tmp_path, run_torchlint):
    write(tmp_path, "case.py", VALID_BUT_NOT_FOR_LIBCST["a parenthesised annotated target"])
    explained = run_torchlint("rule", "TL002")
    assert explained.returncode == 0 and "unsupported-syntax" in explained.stdout
    ignored = run_torchlint("--isolated", "--ignore", "unsupported-syntax", "case.py")
    assert ignored.returncode == 0 and ignored.stdout == ""


STDLIB_TEST = Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_ipaddress.py"


@pytest.mark.skipif(not STDLIB_TEST.is_file(), reason="this Python was installed without its test suite")
def test_a_file_that_is_not_pytorch_gets_no_finding(run_torchlint, tmp_path):
    # `self.ipv4_network.supernet(...)` under an evaluation-named test once read as a model
    result = run_torchlint("--isolated", "--select", "TL", "--format", "json", str(STDLIB_TEST))
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == []


# -- hostile inputs -----------------------------------------------------------------------------


def test_odd_files_each_get_one_clear_finding_and_the_run_goes_on(tmp_path, run_torchlint):
    write(tmp_path, "tabs.py", b"import torch\nif True:\n\tx = 1\n        y = 2\n")
    write(tmp_path, "nul.py", b"import torch\nx = 1\x00\n")
    write(tmp_path, "bom_only.py", b"\xef\xbb\xbf")
    write(tmp_path, "codec.py", b"# -*- coding: klingon -*-\nimport torch\n")
    write(tmp_path, "form_feed.py", b"import torch\n\x0c\nx = 1\n")
    (tmp_path / "loop.py").symlink_to("loop.py")
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "sub" / "up").symlink_to("..")  # a directory cycle
    write(tmp_path, "pkg/fine.py", "import torch\n")
    result = run_torchlint("--isolated", ".", timeout=600)
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        "codec.py:1:1: TL001 cannot decode file: unknown encoding: klingon",
        "loop.py:1:1: TL001 cannot read file: Too many levels of symbolic links",
        "nul.py:1:1: TL000 syntax error: source code string cannot contain null bytes",
        "tabs.py:4:1: TL000 syntax error: inconsistent use of tabs and spaces in indentation",
        "Found 4 problems (7 files checked).",
    ]
    assert result.stderr == ""


@pytest.mark.parametrize("output_format", ["text", "json", "sarif", "github"])
def test_a_file_name_that_is_not_utf8_is_reported_in_every_format(output_format, tmp_path, run_torchlint):
    import os
    import subprocess
    import sys

    name = os.fsdecode(b"caf\xe9.py")
    try:
        (tmp_path / name).write_bytes(b"import torch\nx = (\n")
    except (OSError, UnicodeError):
        pytest.skip("this file system does not take a file name that is not UTF-8")
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}  # strict UTF-8 output, as in many terminals
    result = subprocess.run([sys.executable, "-m", "torchlint", "--isolated", "--format", output_format, "."],
                            cwd=tmp_path, capture_output=True, env=env, timeout=600)
    assert result.returncode == 1, result.stderr
    assert b"internal error" not in result.stderr
    expected = {"text": b"caf\xe9.py:2:5: TL000", "json": b'"path": "caf\\udce9.py"',
                "sarif": b'"uri": "caf%E9.py"', "github": b"file=caf\xe9.py,line=2"}[output_format]
    assert expected in result.stdout


CONFIG_KEYS = sorted(KNOWN_KEYS)


@pytest.mark.parametrize("key", CONFIG_KEYS)
def test_every_configuration_key_of_the_wrong_type_is_an_error_naming_it(key, tmp_path, run_torchlint):
    wrong = '"big"' if key == "max-file-size" else "3"  # a number is right there, and wrong everywhere else
    write(tmp_path, "pyproject.toml", f"[tool.torchlint]\n{key} = {wrong}\n")
    write(tmp_path, "a.py", "import torch\n")
    result = run_torchlint("a.py")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"torchlint: error: {tmp_path / 'pyproject.toml'}: [tool.torchlint]: {key} must be ")


def test_a_50_mb_file_is_refused_with_the_limit_named_and_the_limit_is_configurable(tmp_path, run_torchlint):
    write(tmp_path, "generated.py", b"import torch\n" + b"x = [1, 2, 3]\n" * (50 * 1024 * 1024 // 14))
    write(tmp_path, "small.py", b"import torch\n" + b"x = 1\n" * 200_000)  # 1.2 MiB
    result = run_torchlint("--isolated", ".")
    assert result.returncode == 1
    assert result.stdout.startswith("generated.py:1:1: TL001 file too large to lint (50.0 MiB; the limit is 5 MiB: max-file-size)")
    write(tmp_path, "pyproject.toml", "[tool.torchlint]\nmax-file-size = 1\n")
    lowered = run_torchlint(".")
    assert "small.py:1:1: TL001 file too large to lint (1.1 MiB; the limit is 1 MiB: max-file-size)" in lowered.stdout
