"""Properties that must hold for any input, checked on generated programs (hypothesis and
hypothesmith): the engine never raises, answers the same twice, points inside the file, and
``--fix`` leaves a file that parses, that a second ``--fix`` does not change, and whose bytes
outside the fixes' lines are the original's.

The examples are derandomized: CI runs the same programs every time, so a failure reproduces.
"""

from __future__ import annotations

import ast
import difflib
import re
import warnings

import pytest

hypothesis = pytest.importorskip("hypothesis")
hypothesmith = pytest.importorskip("hypothesmith")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from torchlint import lint_source  # noqa: E402
from torchlint.config import Config  # noqa: E402
from torchlint.engine import fix_contents  # noqa: E402

# hypothesmith compiles what it generates; its SyntaxWarnings are about generated code, not ours
pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")
EVERY_RULE = Config(select=("TL",), unsafe_fixes=True)
PROPERTY = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _check_positions(text: str, findings) -> None:
    lines = _LINE_BREAK.split(text)
    for finding in findings:
        assert 1 <= finding.line <= len(lines), finding
        assert 1 <= finding.column <= len(lines[finding.line - 1]) + 1, finding
        assert (finding.end_line, finding.end_column) >= (finding.line, finding.column), finding


def _python_rejects(text: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return True
    return False


@PROPERTY
@given(hypothesmith.from_grammar())
def test_valid_generated_programs_never_raise_and_answer_the_same_twice(source):
    first = lint_source(source, "generated.py", EVERY_RULE)
    assert first == lint_source(source, "generated.py", EVERY_RULE)
    _check_positions(source, first)
    assert not [finding for finding in first if finding.code == "TL000"], first  # valid: never a syntax error


@PROPERTY
@given(st.text(alphabet=st.sampled_from(list("import torch()[]{}:=.,'\"#\\\n\t xyf0123+-*/@!%&|^~<>;$?`\r\x0c\x00é")), max_size=300))
def test_arbitrary_text_never_raises_and_gets_at_most_one_syntax_finding(source):
    findings = lint_source(source, "noise.py", EVERY_RULE)
    _check_positions(source, findings)
    syntax = [finding for finding in findings if finding.code == "TL000"]
    assert len(syntax) <= 1
    if _python_rejects(source):
        assert len(syntax) == 1 or any(finding.code in ("TL001", "TL002") for finding in findings), findings


# Fixable mistakes, and neutral lines, to be shuffled into training code in varied layouts.
MISTAKES = [
    "probs = F.softmax(model(x), dim=1)\nloss = F.cross_entropy(probs, y)",
    "loss = F.cross_entropy(F.softmax(model(x), dim=1), y)",
    "scores = torch.sigmoid(model(x))\nloss = F.binary_cross_entropy_with_logits(scores, y)",
    "loss = loss_fn(model(x), y)\nloss.backward()\noptimizer.zero_grad()  # clear\noptimizer.step()",
    "model.eval",
    "shown = F.softmax(model(x))",
    "state = torch.load(path, map_location='cpu')",
    "batch = torch.zeros(4, 3)\nbatch.to(device)",
    "torch.save(model.state_dict, path)",
    "features = model.forward(x)",
]
NEUTRAL = ["total = 0", "# a comment", "", "print(x)", "x = x.float()", "y = y.long()"]


@st.composite
def training_programs(draw):
    """A training script: imports, a model class, then a loop whose body mixes mistakes and
    neutral lines, with varied indentation, line endings and trailing whitespace."""
    indent = draw(st.sampled_from(["    ", "  ", "\t"]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    chosen = draw(st.lists(st.sampled_from(MISTAKES + NEUTRAL), min_size=1, max_size=6))
    body = [line for block in chosen for line in block.split("\n")]
    lines = [
        "import torch", "import torch.nn as nn", "import torch.nn.functional as F", "",
        "", "class Net(nn.Module):", f"{indent}def __init__(self):", f"{indent * 2}super().__init__()",
        f"{indent * 2}self.fc = nn.Linear(4, 3)", f"{indent * 2}self.drop = nn.Dropout(0.5)", "",
        f"{indent}def forward(self, x):", f"{indent * 2}return self.fc(self.drop(x))", "", "",
        "def train(loader, loss_fn, path, device):", f"{indent}model = Net()",
        f"{indent}optimizer = torch.optim.SGD(model.parameters(), lr=0.1)",
        f"{indent}for x, y in loader:",
        *[f"{indent * 2}{line}" if line else "" for line in body],
        f"{indent * 2}pass",
    ]
    return newline.join(lines) + newline


@PROPERTY
@given(training_programs())
def test_fix_leaves_a_file_that_parses_is_stable_and_keeps_every_untouched_line(source):
    data = source.encode()
    before = lint_source(source, "train.py", EVERY_RULE)
    _check_positions(source, before)
    fixed, (after, errors, _), applied = fix_contents(data, "train.py", EVERY_RULE)
    assert not errors
    text = fixed.decode()
    assert not _python_rejects(text), text
    again, _, reapplied = fix_contents(fixed, "train.py", EVERY_RULE)
    assert again == fixed and reapplied == []
    # every line the first findings' fixes do not touch is still there, in order
    touched = {line for finding in before if finding.fix for edit in finding.fix.edits for line in range(edit.line, edit.end_line + 1)}
    old_lines, new_lines = source.splitlines(keepends=True), text.splitlines(keepends=True)
    for tag, first, last, _, _ in difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False).get_opcodes():
        if tag in ("replace", "delete"):
            assert set(range(first + 1, last + 1)) <= touched, (tag, old_lines[first:last], touched)
    assert len(applied) >= len([finding for finding in before if finding.fix]) - len([f for f in after if f.fix])
