"""Jupyter notebooks, linted natively: real nbformat 4 files as Jupyter saves them (lists of
source lines, outputs, execution counts, metadata), validated against the official schema by
nbformat, and linted by the real command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import notebook, save, write

nbformat = pytest.importorskip("nbformat")
from nbformat.v4 import new_output  # noqa: E402

from torchlint.engine import lint_source  # noqa: E402
from torchlint.notebook import read_notebook  # noqa: E402

IMPORTS = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F"
MODEL = """\
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(12, 64)
        self.bn = nn.BatchNorm1d(64)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        head = nn.Linear(64, 3)
        return head(self.drop(self.bn(self.fc(x))))"""
SETUP = "model = Net()\noptimizer = torch.optim.SGD(model.parameters(), lr=0.1)\ncriterion = nn.CrossEntropyLoss()"
NO_ZERO_GRAD_WITH_SOFTMAX = """\
for epoch in range(3):
    for x, y in train_loader:
        out = model(x)
        loss = criterion(F.softmax(out, dim=1), y)
        loss.backward()
        optimizer.step()"""
ZERO_GRAD_BETWEEN = """\
model.train()
for x, y in train_loader:
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()"""
EVALUATE_IN_TRAIN_MODE = """\
correct = 0
with torch.no_grad():
    for x, y in test_loader:
        pred = model(x).argmax(1)
        correct += (pred == y).sum().item()
print(correct)"""
EPOCHS_WITHOUT_TRAIN = """\
for epoch in range(3):
    for x, y in train_loader:
        optimizer.zero_grad()
        criterion(model(x), y).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        val = sum(criterion(model(x), y).item() for x, y in val_loader)"""


def found(stdout: str) -> list[str]:
    """``path:cell N:line:col: CODE`` of each finding line."""
    return [line.split(" ", 3)[0] + " " + line.split(" ", 3)[1] + " " + line.split(" ", 3)[2] for line in stdout.splitlines() if ": TL" in line]


def test_a_bug_per_core_rule_spread_over_cells_is_reported_with_cell_positions(tmp_path, run_torchlint):
    save(tmp_path, "train.ipynb", notebook(
        IMPORTS, ("md", "## The model"), MODEL, SETUP, NO_ZERO_GRAD_WITH_SOFTMAX, ZERO_GRAD_BETWEEN,
        EVALUATE_IN_TRAIN_MODE, EPOCHS_WITHOUT_TRAIN,
    ))
    result = run_torchlint("--isolated", ".")
    assert result.returncode == 1, result.stderr
    # cells are counted among code cells: the markdown cell does not count
    assert found(result.stdout) == [
        "train.ipynb:cell 2:9:16: TL101",
        "train.ipynb:cell 4:4:16: TL201",
        "train.ipynb:cell 4:6:9: TL301",
        "train.ipynb:cell 5:5:5: TL302",
        "train.ipynb:cell 6:4:16: TL401",
        "train.ipynb:cell 7:6:5: TL402",
    ], result.stdout
    assert "Found 6 problems (1 file checked)." in result.stdout


def test_the_same_program_as_a_python_file_gives_the_same_findings(tmp_path, run_torchlint):
    cells = [IMPORTS, MODEL, SETUP, NO_ZERO_GRAD_WITH_SOFTMAX, ZERO_GRAD_BETWEEN, EVALUATE_IN_TRAIN_MODE, EPOCHS_WITHOUT_TRAIN]
    save(tmp_path, "nb/train.ipynb", notebook(*cells))
    write(tmp_path, "py/train.py", "\n".join(cells) + "\n")
    in_notebook = json.loads(run_torchlint("--isolated", "--format", "json", "nb").stdout)
    in_file = json.loads(run_torchlint("--isolated", "--format", "json", "py").stdout)
    assert [f["code"] for f in in_notebook] == [f["code"] for f in in_file] and len(in_file) == 6
    assert all("cell" not in f for f in in_file)


def test_ipython_syntax_is_masked_in_every_position(tmp_path, run_torchlint):
    save(tmp_path, "magic.ipynb", notebook(
        "%matplotlib inline\n!pip install torch\n%load_ext autoreload\n" + IMPORTS,
        "files = !ls data\nhome = %env HOME\nnn.Linear?\n??F.softmax\n%pinfo torch",
        "%%capture\n" + MODEL,  # kept: the body runs in the notebook
        "%%bash\nfor x in 1 2; do echo $x; done",  # dropped: not Python
        "%%writefile helper.py\nthis is not python (",  # dropped: written to a file, not run here
        "%%html\n<b>hi</b>",
        SETUP,
        "for x, y in train_loader:\n    %time loss = criterion(model(x), y)\n    !nvidia-smi\n    loss.backward()\n    optimizer.step()",
        "  %timeit -n 10 -r 2 model(x)\n  print('indented cell')",
        "s = ('rate %s'\n     % 3)\nprint(s)",  # a % that continues a line is Python, not a magic
    ))
    result = run_torchlint("--isolated", "magic.ipynb")
    assert found(result.stdout) == ["magic.ipynb:cell 3:10:16: TL101", "magic.ipynb:cell 8:5:5: TL301"], result.stdout + result.stderr
    assert "TL000" not in result.stdout


def test_a_cell_that_does_not_parse_is_reported_once_and_the_other_cells_are_analysed(tmp_path, run_torchlint):
    save(tmp_path, "broken.ipynb", notebook(IMPORTS, SETUP.replace("Net()", "nn.Linear(2, 2)"), "def f(:\n    pass", NO_ZERO_GRAD_WITH_SOFTMAX))
    result = run_torchlint("--isolated", "--format", "json", "broken.ipynb")
    findings = json.loads(result.stdout)
    assert [(f["cell"], f["line"], f["column"], f["code"]) for f in findings] == [(3, 1, 7, "TL000"), (4, 4, 16, "TL201"), (4, 6, 9, "TL301")]
    assert "left out" in findings[0]["message"]
    assert result.returncode == 1


def test_huge_outputs_do_not_count_against_the_size_limit(tmp_path, run_torchlint):
    image = {"image/png": "iVBORw0KGgo" * (700 * 1024)}  # about 7.5 MiB of embedded image
    output = new_output("display_data", data=image)
    path = save(tmp_path, "plots.ipynb", notebook(IMPORTS, SETUP, (NO_ZERO_GRAD_WITH_SOFTMAX, [output])))
    assert path.stat().st_size > 5 * 1024 * 1024
    result = run_torchlint("--isolated", "plots.ipynb")
    assert found(result.stdout) == ["plots.ipynb:cell 3:4:16: TL201", "plots.ipynb:cell 3:6:9: TL301"], result.stdout + result.stderr


def test_a_notebook_in_another_language_is_skipped_and_said_so(tmp_path, run_torchlint):
    save(tmp_path, "analysis.ipynb", notebook("library(torch)\nx <- torch_randn(2, 3)", language="R"))
    quiet = run_torchlint("--isolated", ".")
    assert quiet.returncode == 0 and "TL0" not in quiet.stdout
    assert "All checks passed" not in quiet.stderr and "Nothing was checked (0 files checked, 1 skipped" in quiet.stderr
    verbose = run_torchlint("--isolated", "--verbose", ".")
    assert "analysis.ipynb: skipped: a notebook in R, not Python" in verbose.stderr


def test_a_file_named_ipynb_that_is_not_a_notebook_is_not_reported_clean(tmp_path, run_torchlint):
    write(tmp_path, "bad_json.ipynb", '{"cells": [')
    write(tmp_path, "not_notebook.ipynb", '{"hello": 1}')
    write(tmp_path, "python.ipynb", "import torch\nprint(torch.ones(2))\n")
    result = run_torchlint("--isolated", ".")
    lines = sorted(line for line in result.stdout.splitlines() if "TL001" in line)
    assert len(lines) == 3 and all("not a valid notebook" in line for line in lines), result.stdout
    assert "not_notebook.ipynb:1:1: TL001 not a valid notebook: no 'cells' list" in result.stdout
    assert "bad_json.ipynb:1:1: TL001 not a valid notebook: not valid JSON (Expecting value at line 1, column 12)" in result.stdout
    assert result.returncode == 1 and "All checks passed" not in result.stdout + result.stderr


def test_noqa_on_a_cell_line_and_per_file_ignores_and_exclude_match_notebooks(tmp_path, run_torchlint):
    silenced = NO_ZERO_GRAD_WITH_SOFTMAX.replace("dim=1), y)", "dim=1), y)  # noqa: TL201")
    save(tmp_path, "a.ipynb", notebook(IMPORTS, SETUP, silenced))
    save(tmp_path, "scratch/b.ipynb", notebook(IMPORTS, SETUP, NO_ZERO_GRAD_WITH_SOFTMAX))
    save(tmp_path, "vendored/c.ipynb", notebook(IMPORTS, SETUP, NO_ZERO_GRAD_WITH_SOFTMAX))
    write(tmp_path, "pyproject.toml", """
        [tool.torchlint]
        per-file-ignores = { "scratch/*.ipynb" = ["TL301"] }
        extend-exclude = ["vendored/*"]
    """)
    result = run_torchlint(".")
    assert found(result.stdout) == ["a.ipynb:cell 3:6:9: TL301", "scratch/b.ipynb:cell 3:4:16: TL201"], result.stdout
    # a notebook named explicitly is linted even when excluded
    named = run_torchlint("vendored/c.ipynb")
    assert len(found(named.stdout)) == 2


def test_include_and_extend_include_choose_what_discovery_picks_up(tmp_path, run_torchlint):
    save(tmp_path, "train.ipynb", notebook(IMPORTS, SETUP, NO_ZERO_GRAD_WITH_SOFTMAX))
    write(tmp_path, "train.pyw", IMPORTS + "\n" + SETUP + "\n" + NO_ZERO_GRAD_WITH_SOFTMAX + "\n")
    write(tmp_path, "pyproject.toml", '[tool.torchlint]\ninclude = ["*.py"]\nextend-include = ["*.pyw"]\n')
    result = run_torchlint(".")
    assert {line.split(":")[0] for line in found(result.stdout)} == {"train.pyw"}, result.stdout


def test_a_notebook_next_to_its_model_file_uses_the_project_index(tmp_path, run_torchlint):
    write(tmp_path, "model.py", IMPORTS + "\n\n\n" + MODEL.replace("        head = nn.Linear(64, 3)\n        return head(", "        return self.out(").replace("self.drop = nn.Dropout(0.5)", "self.drop = nn.Dropout(0.5)\n        self.out = nn.Linear(64, 3)") + "\n")
    evaluation = EVALUATE_IN_TRAIN_MODE
    save(tmp_path, "experiment.ipynb", notebook("import torch\nfrom model import Net", "model = Net()\nmodel.load_state_dict(torch.load('net.pt', weights_only=True))", evaluation))
    result = run_torchlint("--isolated", ".")
    assert found(result.stdout) == ["experiment.ipynb:cell 3:4:16: TL401"], result.stdout + result.stderr
    # without dropout or batch norm in the model, eval() changes nothing: silence
    write(tmp_path, "model.py", IMPORTS + "\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(12, 3)\n\n    def forward(self, x):\n        return self.fc(x)\n")
    assert found(run_torchlint("--isolated", ".").stdout) == []


def test_positions_in_json_sarif_and_github_output(tmp_path, run_torchlint):
    path = save(tmp_path, "train.ipynb", notebook(IMPORTS, SETUP, NO_ZERO_GRAD_WITH_SOFTMAX))
    raw_lines = path.read_text(encoding="utf-8").splitlines()

    findings = json.loads(run_torchlint("--isolated", "--format", "json", "train.ipynb").stdout)
    assert [(f["cell"], f["line"], f["column"], f["end_line"], f["end_column"], f["code"]) for f in findings] == [
        (3, 4, 16, 4, 51, "TL201"), (3, 6, 9, 6, 25, "TL301")]

    sarif = json.loads(run_torchlint("--isolated", "--format", "sarif", "train.ipynb").stdout)
    results = sarif["runs"][0]["results"]
    softmax = results[0]
    region = softmax["locations"][0]["physicalLocation"]["region"]
    assert softmax["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "train.ipynb"
    # the region is the line of the .ipynb file that holds the reported source line
    assert "loss = criterion(F.softmax(out, dim=1), y)" in raw_lines[region["startLine"] - 1]
    assert softmax["properties"] == {"cell": 3, "cellLine": 4, "cellColumn": 16, "cellEndLine": 4, "cellEndColumn": 51}
    assert softmax["message"]["text"].startswith("cell 3, line 4, column 16: ")

    github = run_torchlint("--isolated", "--format", "github", "train.ipynb").stdout.splitlines()
    line = int(github[1].split("line=")[1].split(",")[0])
    assert "optimizer.step()" in raw_lines[line - 1]
    assert github[1].startswith("::error file=train.ipynb,line=") and "::cell 3:6:9: " in github[1]


def test_sarif_of_a_notebook_is_valid_against_the_schema(tmp_path, run_torchlint):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((Path(__file__).parent / "schemas" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    save(tmp_path, "train.ipynb", notebook(IMPORTS, SETUP, "def f(:", NO_ZERO_GRAD_WITH_SOFTMAX))
    log = json.loads(run_torchlint("--isolated", "--format", "sarif", ".").stdout)
    jsonschema.Draft4Validator(schema).validate(log)
    assert len(log["runs"][0]["results"]) == 3


def test_nbformat_3_notebooks_and_source_as_one_string(tmp_path):
    from nbformat import v3

    old = v3.new_notebook(worksheets=[v3.new_worksheet(cells=[v3.new_code_cell(input=IMPORTS), v3.new_code_cell(input=SETUP), v3.new_code_cell(input=NO_ZERO_GRAD_WITH_SOFTMAX)])])
    text = v3.writes_json(old)
    assert [(f.cell, f.line, f.code) for f in lint_source(text, "old.ipynb")] == [(3, 4, "TL201"), (3, 6, "TL301")]
    one_string = json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": IMPORTS + "\n" + SETUP + "\n" + NO_ZERO_GRAD_WITH_SOFTMAX}]})
    assert [(f.cell, f.line, f.code) for f in lint_source(one_string, "one.ipynb")] == [(1, 10, "TL201"), (1, 12, "TL301")]


def test_cell_lines_map_to_the_lines_of_the_file():
    document = notebook(("md", "# title"), "x = 1\ny = 2", "%%bash\necho", "z = (1,\n     2)")
    text = nbformat.writes(document)
    program = read_notebook(text)
    raw = text.splitlines()
    assert program.program == "x = 1\ny = 2\nz = (1,\n     2)\n"
    assert [(origin.cell, origin.line) for origin in program.origins] == [(1, 1), (1, 2), (3, 1), (3, 2)]
    assert [raw[origin.file_line - 1].strip() for origin in program.origins] == ['"x = 1\\n",', '"y = 2"', '"z = (1,\\n",', '"     2)"']
