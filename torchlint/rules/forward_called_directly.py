"""`module.forward(x)` called directly: the module's hooks are skipped.

## What it does
Flags `.forward(...)` called on a value known to be an `nn.Module` (built from a torch.nn class,
one of torchvision's models or a module class of the file or the project, directly, through
`self.<attr>`, or through a function's parameter annotated as a module or filled with one by
every caller), other than `self` and `super()`.

## Why is this bad?
`module(x)` runs `__call__`, which runs the forward pre-hooks and hooks that pruning,
quantisation observers, `torch.utils.hooks`-based feature extractors, FSDP and profilers rely
on; `module.forward(x)` bypasses them all. The result looks right while the machinery around the
model silently stops working.

## Example
```python
import torch.nn as nn


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(16, 32), nn.ReLU())
        self.head = nn.Linear(32, 4)

    def forward(self, x):
        features = self.backbone.forward(x)
        return self.head(features)
```

## Use instead
```python
import torch.nn as nn


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(16, 32), nn.ReLU())
        self.head = nn.Linear(32, 4)

    def forward(self, x):
        features = self.backbone(x)
        return self.head(features)
```

## Not flagged
- `super().forward(x)`, `self.forward(x)` and `Base.forward(self, x)` (a class, not an instance).
- Test files (`test_*.py`, `*_test.py`, `conftest.py`): a test calls `forward` on the module it
  built to check its output, with no hooks to skip.
- `.forward` on objects that are not known to be modules (a plain class with a `forward` method,
  a value whose origin cannot be seen).

## Fix safety
Safe. `module.forward(x)` becomes `module(x)`: the same computation, with the module's hooks
(and whatever a wrapper such as DDP or a profiler does in `__call__`) now run, which is the
bug's repair.

## Runtime evidence
A forward hook registered on the module counts zero calls in the bad program and one per
forward pass in the good program.
"""

from __future__ import annotations

import libcst as cst

from torchlint.edits import Replace
from torchlint.rule import Rule


class ForwardCalledDirectly(Rule):
    CODE = "TL104"
    NAME = "forward-called-directly"
    MESSAGE = "`{receiver}.forward(...)` skips the module's hooks: call `{receiver}(...)` instead"
    TRIGGER_WORDS = (".forward(",)
    FIX_TITLE = "Call the module instead of its `forward`"

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value != "forward" or self.facts.is_test_file:
            return
        receiver = func.value
        if isinstance(receiver, cst.Name) and receiver.value == "self" or _is_super(receiver):
            return
        site = self.facts.call_site(node)
        if site is not None and self.facts.is_module_instance(receiver, site.scope, site.index):
            self.report(node, self.MESSAGE.format(receiver=cst.Module([]).code_for_node(receiver)), fix=[Replace(func, receiver)])

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: the encoder's forward hook never runs", bad["hook_calls"] == 0 and bad["captured_rows"] == 0 and bad["forward_passes"] == 3),
            ("good: the hook runs once per forward pass and sees every row", good["hook_calls"] == good["forward_passes"] == 3 and good["captured_rows"] == 12),
            ("both: the model still computes finite logits", bad["logits_finite"] and good["logits_finite"]),
        ]


def _is_super(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value == "super"
