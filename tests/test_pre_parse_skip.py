"""The engine skips the libcst parse of a file that cannot be PyTorch code: ``cannot_be_pytorch``
must say so only where the semantic layer's ``is_pytorch`` would say it is not."""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

import libcst as cst

from conftest import write
from torchlint.analysis import FileFacts, cannot_be_pytorch
from torchlint.analysis.project import ProjectIndex
from torchlint.config import Config
from torchlint.engine import lint_source


def verdicts(path: Path) -> tuple[bool, bool]:
    """(cannot_be_pytorch, is_pytorch) for a file, each with a fresh project index."""
    text = path.read_text(encoding="utf-8")
    skipped = cannot_be_pytorch(text, str(path), ProjectIndex())
    return skipped, FileFacts(cst.parse_module(text), path=str(path), project=ProjectIndex()).is_pytorch


def test_the_cases_it_decides(tmp_path):
    write(tmp_path, "pyproject.toml", "")
    write(tmp_path, "nets.py", "import torch.nn as nn\n\nclass Net(nn.Module):\n    pass\n")
    write(tmp_path, "tables.py", "import csv\n\nROWS = []\n")
    cases = {
        "numbers.py": ("import numpy as np\n\nx = np.zeros(3)\n", True),
        "uses_tables.py": ("from tables import ROWS\n\nprint(ROWS)\n", True),
        "uses_nets.py": ("from nets import Net\n\nnet = Net()\nnet.eval\n", False),  # its import is PyTorch
        "relative.py": ("from .nets import Net\n", False),
        "nothing_imported.py": ("def evaluate(model, loader):\n    return [model(x) for x in loader]\n", False),
        "star.py": ("from tables import *\n", False),
        "names_torch.py": ("import numpy\n# a comment about torch\n", False),
    }
    for name, (text, expected) in cases.items():
        path = write(tmp_path, name, text)
        skipped = cannot_be_pytorch(path.read_text(), str(path), ProjectIndex())
        assert skipped is expected, name
        if skipped:
            assert verdicts(path) == (True, False), name


def test_it_implies_is_pytorch_false_on_the_standard_library():
    library = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(library.rglob("*.py"))[::80]
    decided = 0
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
            module = cst.parse_module(text)
        except (UnicodeDecodeError, cst.ParserSyntaxError, RecursionError, SyntaxError, ValueError):
            continue
        if cannot_be_pytorch(text, str(path), ProjectIndex()):
            decided += 1
            assert not FileFacts(module, path=str(path), project=ProjectIndex()).is_pytorch, path
    assert decided > 5, "the standard library is mostly files that import something and never torch"


def test_a_skipped_file_still_gets_its_compiler_errors_and_unused_noqa(tmp_path):
    # Python's compiler judges every file before the skip is considered
    write(tmp_path, "pyproject.toml", "")
    broken = write(tmp_path, "broken.py", "import numpy\ntry:\n    pass\nexcept:\n    pass\nexcept ValueError:\n    pass\n")
    assert [f.code for f in lint_source(broken.read_text(), str(broken))] == ["TL000"]
    # the words TL205 needs are here, so only the PyTorch test skips the parse
    noqa = write(tmp_path, "noqa.py", "from scipy.special import softmax\n\nx = softmax([1.0, 2.0])  # noqa: TL205\n")
    assert cannot_be_pytorch(noqa.read_text(), str(noqa), ProjectIndex())
    found = lint_source(noqa.read_text(), str(noqa), Config(extend_select=("TL004",)))
    assert "TL205" in found[0].message
    assert [f.code for f in found] == ["TL004"]
    assert os.path.basename(found[0].path) == "noqa.py"
