"""A softmax without `dim`: PyTorch picks the dimension from the input's rank.

## What it does
Flags `F.softmax(x)`, `F.log_softmax(x)`, `F.softmin(x)`, `torch.softmax(x)`,
`torch.log_softmax(x)`, `nn.Softmax()`, `nn.LogSoftmax()` and `nn.Softmin()` called without a
`dim` (positional or keyword).

## Why is this bad?
Without `dim`, PyTorch uses dimension 0 for inputs of rank 0, 1 or 3 and dimension 1 otherwise
(with only a deprecation warning). For a (T, N, C) sequence output that means normalising over
*time*, not over classes: the probabilities of each step no longer sum to one, and a model
trained on them learns from nonsense. The same code works on 2-D inputs, so the bug appears when
the shape changes. (`torch.softmax(x)` without `dim` fails outright.)

## Example
```python
import torch.nn.functional as F


def probabilities(logits):
    return F.softmax(logits)
```

## Use instead
```python
import torch.nn.functional as F


def probabilities(logits):
    return F.softmax(logits, dim=-1)
```

## Not flagged
- Any explicit `dim` (or NumPy's `axis=`, which `torch.softmax` accepts), including `dim=None` written out, and the tensor methods
  (`x.softmax(-1)`), which require one.
- Calls with `*args` or `**kwargs`, which may carry it.

## Fix safety
Unsafe (applied with `--unsafe-fixes`). It adds `dim=-1`, the class dimension of most outputs
but not of all: an `(N, C, H, W)` segmentation map's classes are at dimension 1. Check the
dimension the fix chose.

## Runtime evidence
For a 3-D input, the bad program's probabilities do not sum to one over the class dimension;
the good program's do.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.facts import call_argument
from torchlint.analysis.torch_api import SOFTMAX_DIM_FUNCTIONS, SOFTMAX_DIM_MODULES, torch_nn_class
from torchlint.edits import append_argument
from torchlint.findings import FixSafety
from torchlint.rule import Rule


class SoftmaxWithoutDim(Rule):
    CODE = "TL205"
    NAME = "softmax-without-dim"
    MESSAGE = "`{name}` without `dim` normalises over a dimension chosen by the input's rank (dim 0 for a 3-D input): pass `dim=-1` (or the class dimension)"
    TRIGGER_WORDS = ("softm",)
    # Unsafe: -1 is the class dimension of most outputs, not of all (an (N, C, H, W) map's is 1).
    FIX_TITLE = "Normalise over the last dimension (`dim=-1`)"
    FIX_SAFETY = FixSafety.UNSAFE

    def visit_Call(self, node: cst.Call) -> None:
        qualified = self.facts.qualified_name(node.func)
        if qualified in SOFTMAX_DIM_FUNCTIONS:
            position = SOFTMAX_DIM_FUNCTIONS[qualified]
        elif torch_nn_class(qualified) in SOFTMAX_DIM_MODULES:
            position = SOFTMAX_DIM_MODULES[torch_nn_class(qualified)]
        else:
            return
        # ``axis=`` is the NumPy spelling that torch.softmax accepts too
        if any(arg.star for arg in node.args) or call_argument(node, position, "dim") is not None or call_argument(node, 99, "axis") is not None:
            return
        self.report(node, self.MESSAGE.format(name=cst.Module([]).code_for_node(node.func)), fix=append_argument(node, "dim=-1"))

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: a (T, N, C) input is normalised over time: frames do not sum to 1 over the classes", bad["class_sum_max_err"] > 0.1 and bad["time_sum_max_err"] < 1e-4),
            ("good: every frame sums to 1 over the classes", good["class_sum_max_err"] < 1e-4 and good["time_sum_max_err"] > 0.1),
            ("bad: PyTorch warned about the implicit dimension, good: it did not", bad["implicit_dim_warning"] and not good["implicit_dim_warning"]),
        ]
