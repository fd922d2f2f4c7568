"""``--fix``, ``--unsafe-fixes``, ``--diff`` and their kin, run as a user runs them: the real CLI
in a subprocess on real files, whose bytes are then compared."""

from __future__ import annotations

import json
import os
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import notebook, save, write
from torchlint import fixing
from torchlint.config import Config
from torchlint.engine import fix_contents
from torchlint.findings import Edit, Finding, Fix, FixSafety

# TL201 (safe fix) and TL205 (unsafe fix) in one file, on separate lines
SAFE_AND_UNSAFE = textwrap.dedent(
    """\
    import torch.nn.functional as F


    def step(model, x, y):
        probs = F.softmax(model(x), dim=1)
        loss = F.cross_entropy(probs, y)
        shown = F.softmax(model(x))
        return loss, shown
    """
)
SAFE_FIXED = SAFE_AND_UNSAFE.replace("probs = F.softmax(model(x), dim=1)", "probs = model(x)")
BOTH_FIXED = SAFE_FIXED.replace("shown = F.softmax(model(x))", "shown = F.softmax(model(x), dim=-1)")


def codes(stdout: str) -> list[str]:
    return [line.split(": ")[1].split()[0] for line in stdout.splitlines() if line.startswith("step.py:")]


# -- the command line -------------------------------------------------------------------------


def test_fix_applies_safe_fixes_and_reports_what_remains(tmp_path, run_torchlint):
    path = write(tmp_path, "step.py", SAFE_AND_UNSAFE)
    result = run_torchlint("--isolated", "--fix", "step.py")
    assert path.read_text() == SAFE_FIXED
    assert codes(result.stdout) == ["TL205"]  # the unsafe one is reported, not applied
    assert "Found 2 problems (1 fixed, 1 remaining) (1 file checked)." in result.stdout
    assert "(1 hidden fix can be enabled with the `--unsafe-fixes` option.)" in result.stdout
    assert result.returncode == 1  # findings remain


def test_unsafe_fixes_apply_the_rest_and_exit_zero_when_nothing_remains(tmp_path, run_torchlint):
    path = write(tmp_path, "step.py", SAFE_AND_UNSAFE)
    result = run_torchlint("--isolated", "--fix", "--unsafe-fixes", "step.py")
    assert path.read_text() == BOTH_FIXED
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Found 2 problems (2 fixed, 0 remaining)" in result.stdout
    again = run_torchlint("--isolated", "--fix", "--unsafe-fixes", "step.py")
    assert path.read_text() == BOTH_FIXED and again.returncode == 0
    assert "All checks passed" in again.stderr


def test_exit_non_zero_on_fix_and_show_fixes(tmp_path, run_torchlint):
    write(tmp_path, "step.py", SAFE_AND_UNSAFE)
    result = run_torchlint("--isolated", "--fix", "--unsafe-fixes", "--exit-non-zero-on-fix", "--show-fixes", "step.py")
    assert result.returncode == 1
    assert "Fixed 2 problems:\n- step.py:\n    1 \u00d7 TL201 (softmax-into-cross-entropy)\n    1 \u00d7 TL205 (softmax-without-dim)" in result.stdout


def test_diff_prints_a_unified_diff_and_writes_nothing(tmp_path, run_torchlint):
    path = write(tmp_path, "step.py", SAFE_AND_UNSAFE)
    before = path.read_bytes()
    result = run_torchlint("--isolated", "--diff", "step.py")
    assert path.read_bytes() == before
    assert result.returncode == 1
    assert result.stdout.startswith("--- step.py\n+++ step.py\n@@ ")
    assert "-    probs = F.softmax(model(x), dim=1)\n+    probs = model(x)\n" in result.stdout
    assert "dim=-1" not in result.stdout  # unsafe, not asked for
    assert "Would fix 1 problem in 1 file." in result.stderr
    write(tmp_path, "clean.py", "import torch\n")
    clean = run_torchlint("--isolated", "--diff", "clean.py")
    assert clean.returncode == 0 and clean.stdout == ""


def test_fixable_and_unfixable_from_the_configuration_and_the_command_line(tmp_path, run_torchlint):
    write(tmp_path, "pyproject.toml", '[tool.torchlint]\nunfixable = ["TL201"]\nunsafe-fixes = true\n')
    path = write(tmp_path, "step.py", SAFE_AND_UNSAFE)
    run_torchlint("--fix", "step.py")
    assert path.read_text() == SAFE_AND_UNSAFE.replace("shown = F.softmax(model(x))", "shown = F.softmax(model(x), dim=-1)")
    path.write_text(SAFE_AND_UNSAFE)
    run_torchlint("--isolated", "--fix", "--unsafe-fixes", "--fixable", "TL201", "step.py")
    assert path.read_text() == SAFE_FIXED
    write(tmp_path, "pyproject.toml", '[tool.torchlint]\nunsafe-fixes = "yes"\n')
    broken = run_torchlint("--fix", "step.py")
    assert broken.returncode == 2 and "unsafe-fixes must be true or false" in broken.stderr


def test_text_marks_fixable_findings_and_json_and_sarif_carry_the_fix(tmp_path, run_torchlint):
    jsonschema = pytest.importorskip("jsonschema")
    write(tmp_path, "step.py", SAFE_AND_UNSAFE)
    text = run_torchlint("--isolated", "step.py").stdout
    assert "step.py:6:12: TL201 [*] " in text and "step.py:7:13: TL205 `" in text  # unsafe: no [*] unless asked
    assert "[*] 1 fixable with the `--fix` option." in text
    assert "step.py:7:13: TL205 [*] " in run_torchlint("--isolated", "--unsafe-fixes", "step.py").stdout

    findings = json.loads(run_torchlint("--isolated", "--format", "json", "step.py").stdout)
    by_code = {finding["code"]: finding for finding in findings}
    assert by_code["TL201"]["fix"] == {
        "title": "Pass the logits to the loss instead of the softmax", "applicability": "safe",
        "edits": [{"line": 5, "column": 13, "end_line": 5, "end_column": 39, "content": "model(x)"}],
    }
    assert by_code["TL205"]["fix"]["applicability"] == "unsafe"

    sarif = json.loads(run_torchlint("--isolated", "--format", "sarif", "step.py").stdout)
    schema = json.loads((Path(__file__).parent / "schemas" / "sarif-schema-2.1.0.json").read_text())
    jsonschema.Draft4Validator(schema).validate(sarif)
    result = next(result for result in sarif["runs"][0]["results"] if result["ruleId"] == "TL201")
    replacement = result["fixes"][0]["artifactChanges"][0]["replacements"][0]
    assert replacement == {"deletedRegion": {"startLine": 5, "startColumn": 13, "endLine": 5, "endColumn": 39},
                           "insertedContent": {"text": "model(x)"}}


def test_overlapping_fixes_are_applied_over_passes(tmp_path, run_torchlint):
    # TL205 (add dim=-1) and TL201 (drop the softmax) touch the same call: one pass each
    path = write(tmp_path, "step.py", """\
        import torch.nn.functional as F


        def step(model, x, y):
            return F.cross_entropy(F.softmax(model(x)), y)
        """)
    result = run_torchlint("--isolated", "--fix", "--unsafe-fixes", "step.py")
    assert path.read_text().endswith("    return F.cross_entropy(model(x), y)\n")
    assert result.returncode == 0, result.stdout


# -- bytes kept ---------------------------------------------------------------------------------


def test_crlf_line_endings_are_kept(tmp_path, run_torchlint):
    path = write(tmp_path, "step.py", SAFE_AND_UNSAFE.replace("\n", "\r\n").encode())
    run_torchlint("--isolated", "--fix", "--unsafe-fixes", "step.py")
    assert path.read_bytes() == BOTH_FIXED.replace("\n", "\r\n").encode()


def test_an_inserted_line_takes_the_file_s_line_ending(tmp_path, run_torchlint):
    source = textwrap.dedent("""\
        def train(model, loader, optimizer, loss_fn):
            for x, y in loader:
                loss_fn(model(x), y).backward()
                optimizer.step()
        """)
    path = write(tmp_path, "train.py", source.replace("\n", "\r\n").encode())
    run_torchlint("--isolated", "--fix", "--unsafe-fixes", "train.py")
    assert path.read_bytes() == source.replace("    for x, y in loader:\n", "    for x, y in loader:\n        optimizer.zero_grad()\n").replace("\n", "\r\n").encode()


def test_latin1_file_with_coding_declaration_and_a_bom_file_keep_their_encoding(tmp_path, run_torchlint):
    latin = ("# -*- coding: latin-1 -*-\n# caf\u00e9\n" + SAFE_AND_UNSAFE).encode("latin-1")
    path = write(tmp_path, "step.py", latin)
    run_torchlint("--isolated", "--fix", "step.py")
    assert path.read_bytes() == ("# -*- coding: latin-1 -*-\n# caf\u00e9\n" + SAFE_FIXED).encode("latin-1")

    bom = write(tmp_path, "bom.py", b"\xef\xbb\xbf" + SAFE_AND_UNSAFE.encode())
    run_torchlint("--isolated", "--fix", "bom.py")
    assert bom.read_bytes() == b"\xef\xbb\xbf" + SAFE_FIXED.encode()


def test_permissions_are_kept_and_a_link_stays_a_link(tmp_path, run_torchlint):
    target = write(tmp_path, "real/step.py", SAFE_AND_UNSAFE)
    os.chmod(target, 0o750)
    link = tmp_path / "step.py"
    link.symlink_to(target)
    run_torchlint("--isolated", "--fix", "step.py")
    assert link.is_symlink() and target.read_text() == SAFE_FIXED
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o750


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_a_read_only_file_is_reported_and_left_as_it_was(tmp_path, run_torchlint):
    path = write(tmp_path, "step.py", SAFE_AND_UNSAFE)
    os.chmod(path, 0o444)
    result = run_torchlint("--isolated", "--fix", "step.py")
    assert path.read_text() == SAFE_AND_UNSAFE
    assert result.returncode == 2
    assert "torchlint: error: step.py: not fixed: the file is read-only" in result.stderr
    assert codes(result.stdout) == ["TL201", "TL205"]  # the findings of the file as it is
    assert not [name for name in os.listdir(tmp_path) if name != "step.py"]  # no temporary file left


def test_a_file_changed_on_disk_since_it_was_read_is_not_overwritten(tmp_path):
    path = write(tmp_path, "step.py", SAFE_AND_UNSAFE)
    original = path.read_bytes()
    fixed, _, applied = fix_contents(original, str(path), Config())
    assert fixed == SAFE_FIXED.encode() and applied
    path.write_text(SAFE_AND_UNSAFE + "# edited meanwhile\n")
    with pytest.raises(fixing.NotWritten, match="changed on disk"):
        fixing.write_atomically(str(path), original, fixed)
    assert path.read_text().endswith("# edited meanwhile\n")


def test_a_fix_whose_result_would_not_parse_is_never_applied(tmp_path):
    text = "x = 1\ny = 2\n"
    broken = Finding("t.py", 1, 1, 1, 6, "TL201", "softmax-into-cross-entropy", "m",
                     Fix("breaks", FixSafety.SAFE, (Edit(1, 1, 1, 6, "x = ("),)))
    good = Finding("t.py", 2, 1, 2, 6, "TL201", "softmax-into-cross-entropy", "m",
                   Fix("fine", FixSafety.SAFE, (Edit(2, 5, 2, 6, "3"),)))
    from torchlint.engine import _apply_parsing

    new, applied = _apply_parsing(text, [broken, good], "t.py")
    assert new == "x = 1\ny = 3\n" and applied == [good]


# -- notebooks ----------------------------------------------------------------------------------


def test_notebook_is_fixed_in_place_keeping_outputs_metadata_and_masked_lines(tmp_path, run_torchlint):
    nbformat = pytest.importorskip("nbformat")
    output = nbformat.v4.new_output("stream", name="stdout", text="caf\u00e9 done\n")
    path = save(tmp_path, "train.ipynb", notebook(
        "%matplotlib inline\nimport torch.nn as nn\nimport torch.nn.functional as F",
        ("model = nn.Linear(4, 3)\nprobs = F.softmax(model(x), dim=1)\nloss = F.cross_entropy(probs, y)", [output]),
        ("md", "# Notes"),
        "!pip list\nprint(loss)",
    ))
    before = path.read_text(encoding="utf-8")
    result = run_torchlint("--isolated", "--fix", "train.ipynb")
    after = path.read_text(encoding="utf-8")
    assert result.returncode == 0, result.stdout + result.stderr
    assert after == before.replace('"probs = F.softmax(model(x), dim=1)\\n"', '"probs = model(x)\\n"')
    document = nbformat.reads(after, as_version=4)
    nbformat.validate(document)
    assert document.cells[1].outputs[0].text == "caf\u00e9 done\n"
    assert document.cells[0].source.startswith("%matplotlib inline")

    diff = run_torchlint("--isolated", "--diff", "train.ipynb")
    assert diff.returncode == 0 and diff.stdout == ""  # nothing left to fix


# -- when a rule offers no fix ------------------------------------------------------------------

NO_FIX = {
    "softmax inside the model's forward": ("TL201", """\
        import torch.nn as nn
        import torch.nn.functional as F


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 3)

            def forward(self, x):
                return F.softmax(self.fc(x), dim=1)


        def step(x, y):
            return F.cross_entropy(Net()(x), y)
        """),
    "the logits' name is rebound between softmax and loss": ("TL201", """\
        import torch.nn.functional as F


        def step(model, x, y):
            logits = model(x)
            probs = F.softmax(logits, dim=1)
            logits = None
            shown = probs.max()
            return F.cross_entropy(probs, y), shown
        """),
    "an argument only forward has": ("TL101", """\
        import torch.nn as nn


        class Net(nn.Module):
            def forward(self, x):
                return nn.Linear(x.shape[-1], 2)(x)
        """),
    "an explicit pickle_module": ("TL601", """\
        import pickle

        import torch


        def restore(path):
            return torch.load(path, pickle_module=pickle, weights_only=False)
        """),
    "code that reads .grad": ("TL302", """\
        def train(model, loader, optimizer, loss_fn):
            for x, y in loader:
                loss = loss_fn(model(x), y)
                loss.backward()
                norms = [p.grad.norm() for p in model.parameters()]
                optimizer.zero_grad()
                optimizer.step()
        """),
    "a set of layers": ("TL102", """\
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.blocks = {nn.Linear(2, 2), nn.Linear(2, 2)}
        """),
    "a receiver that is not a name cannot be assigned to": ("TL501", """\
        import torch


        def prepare(device):
            torch.zeros(2).to(device)
        """),
}


@pytest.mark.parametrize("case", NO_FIX, ids=list(NO_FIX))
def test_findings_without_a_safe_repair_carry_no_fix(case):
    from torchlint import lint_source

    code, source = NO_FIX[case]
    findings = [finding for finding in lint_source(textwrap.dedent(source), "case.py", Config(select=(code,))) if finding.code == code]
    assert findings, f"the case must still be flagged by {code}"
    assert all(finding.fix is None for finding in findings)


def test_a_fix_on_a_line_of_masked_ipython_syntax_is_dropped(tmp_path, run_torchlint):
    pytest.importorskip("nbformat")
    path = save(tmp_path, "train.ipynb", notebook(
        "import torch.nn.functional as F",
        "%time loss = F.cross_entropy(F.softmax(model(x), dim=1), y)",
    ))
    before = path.read_bytes()
    result = run_torchlint("--isolated", "--fix", "train.ipynb")
    assert path.read_bytes() == before
    assert "train.ipynb:cell 2:1:" in result.stdout and "TL201 cross-entropy" in result.stdout  # reported, no [*]


EVALUATED = """\
        import torch
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.drop = nn.Dropout(0.5)

            def forward(self, x):
                return self.drop(x)


"""
FIXED_EXACTLY = {
    "a tuple of layers becomes a ModuleList of a list": ("TL102", """\
        from torch import nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.blocks = (nn.Linear(2, 2),
                               nn.Linear(2, 2))
        """, """\
        from torch import nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.blocks = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
        """),
    "a dict with string keys becomes a ModuleDict": ("TL102", """\
        import torch


        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.heads = {"a": torch.nn.Linear(2, 2)}
        """, """\
        import torch


        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.heads = torch.nn.ModuleDict({"a": torch.nn.Linear(2, 2)})
        """),
    "the clearing moves with its comment above the backward": ("TL302", """\
        def train(model, loader, optimizer, loss_fn):
            for x, y in loader:
                loss = loss_fn(model(x), y)
                loss.backward()
                optimizer.zero_grad()  # clear
                optimizer.step()
        """, """\
        def train(model, loader, optimizer, loss_fn):
            for x, y in loader:
                loss = loss_fn(model(x), y)
                optimizer.zero_grad()  # clear
                loss.backward()
                optimizer.step()
        """),
    "a layer built inline gets the name of its kind": ("TL101", """\
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.width = 4

            def forward(self, x):
                return nn.Linear(self.width,
                                 2)(x)""", """\
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.width = 4
                self.linear = nn.Linear(self.width,
                                 2)

            def forward(self, x):
                return self.linear(x)"""),
    "an evaluation function gets eval() above the comment of its first statement": ("TL401", EVALUATED + """\
        def validate(model, val_loader):
            # no gradients here
            with torch.no_grad():
                return [model(x) for x in val_loader]


        def main(loader):
            return validate(Net(), loader)
        """, EVALUATED + """\
        def validate(model, val_loader):
            model.eval()
            # no gradients here
            with torch.no_grad():
                return [model(x) for x in val_loader]


        def main(loader):
            return validate(Net(), loader)
        """),
}


@pytest.mark.parametrize("case", FIXED_EXACTLY, ids=list(FIXED_EXACTLY))
def test_fix_result_exactly(case, tmp_path):
    code, source, expected = FIXED_EXACTLY[case]
    path = write(tmp_path, "case.py", source)
    fixed, (remaining, errors, _), applied = fix_contents(path.read_bytes(), str(path), Config(select=(code,), unsafe_fixes=True))
    assert fixed.decode() == textwrap.dedent(expected).lstrip("\n")
    assert applied and not [finding for finding in remaining if finding.code == code] and not errors
