"""``--format github``: one workflow command per finding, escaped as the Actions runner reads it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

from torchlint.findings import Finding
from torchlint.reporters.github import escape_data, escape_property, render

ROOT = Path(__file__).resolve().parent.parent
COMMAND = re.compile(r"^::(?P<level>error|warning|notice) (?P<properties>[^:]*)::(?P<message>.*)$")


def parse(line: str) -> tuple[str, dict[str, str], str]:
    """Read a workflow command back the way the runner does: split, then unescape."""
    match = COMMAND.match(line)
    assert match, line
    properties = dict(item.split("=", 1) for item in match["properties"].split(","))
    return match["level"], {key: unquote(value) for key, value in properties.items()}, unquote(match["message"])


def test_fixture_findings_become_annotations():
    result = subprocess.run([sys.executable, "-m", "torchlint", "--isolated", "--format", "github", "fixtures"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    findings = json.loads(subprocess.run([sys.executable, "-m", "torchlint", "--isolated", "--format", "json", "fixtures"],
                                         cwd=ROOT, capture_output=True, text=True, timeout=300).stdout)
    assert result.returncode == 1 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == len(findings) > 0
    for line, finding in zip(lines, findings):
        level, properties, message = parse(line)
        assert level == "error"
        assert properties["file"] == finding["path"]
        assert int(properties["line"]) == finding["line"]
        assert properties["title"] == f"{finding['code']} {finding['name']}"
        assert message == finding["message"]
        if finding["end_line"] == finding["line"]:
            assert int(properties["col"]) == finding["column"]
            assert int(properties["endColumn"]) == finding["end_column"]


def test_exact_shape_of_one_annotation():
    finding = Finding("pkg/train.py", 6, 12, 6, 43, "TL201", "softmax-into-cross-entropy", "pass the raw logits")
    assert render([finding]) == (
        "::error file=pkg/train.py,line=6,col=12,endLine=6,endColumn=43,"
        "title=TL201 softmax-into-cross-entropy::pass the raw logits\n"
    )


def test_multi_line_findings_carry_no_columns():
    finding = Finding("train.py", 3, 5, 7, 2, "TL301", "missing-zero-grad", "m")
    assert render([finding]) == "::error file=train.py,line=3,endLine=7,title=TL301 missing-zero-grad::m\n"


def test_special_characters_are_escaped():
    assert escape_data("100% done\r\nnext: a, b") == "100%25 done%0D%0Anext: a, b"
    assert escape_property("a:b,c%d\ne") == "a%3Ab%2Cc%25d%0Ae"
    finding = Finding("we,ird:dir/50%.py", 1, 1, 1, 2, "TL201", "softmax-into-cross-entropy", "line one\nline 100%: two, three")
    (line,) = render([finding]).splitlines()  # a message with a newline is still one command
    level, properties, message = parse(line)
    assert properties["file"] == "we,ird:dir/50%.py"
    assert message == "line one\nline 100%: two, three"
    assert ",ird" not in line and "%3A" in line.split("::")[1]


def test_output_file_holds_the_annotations(tmp_path):
    (tmp_path / "train.py").write_text(
        "import torch.nn as nn\nimport torch.nn.functional as F\n\n\n"
        "def loss_of(model, x, y):\n    return nn.CrossEntropyLoss()(F.softmax(model(x), dim=1), y)\n"
    )
    result = subprocess.run([sys.executable, "-m", "torchlint", "--isolated", "--format", "github",
                             "--output-file", "annotations.txt", "train.py"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stdout.startswith("Found 1 problem")
    (line,) = (tmp_path / "annotations.txt").read_text().splitlines()
    assert line.startswith("::error file=train.py,line=6,col=12,")
