"""`F.dropout` in a module without `training=`: dropout stays on in eval mode.

## What it does
Flags `F.dropout`, `F.dropout1d`, `F.dropout2d` and `F.dropout3d` called in a method of an
`nn.Module` without a `training` argument.

## Why is this bad?
Unlike `nn.Dropout`, the functional form does not follow the module's mode: its `training`
argument defaults to `True`. After `model.eval()` the model still drops activations, so
validation scores are noisy and pessimistic, and predictions differ from call to call.

## Example
```python
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        return self.fc(F.dropout(x, p=0.5))
```

## Use instead
```python
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        return self.fc(F.dropout(x, p=0.5, training=self.training))
```

## Not flagged
- An explicit `training=` (keyword or third positional argument), including `training=True`
  for Monte Carlo dropout on purpose.
- `p=0`, and calls with `*args`/`**kwargs` that may carry `training`.
- Code that ties the dropout to the mode another way: under `if self.training:`, or with a rate
  variable set to 0 on some path (`if not self.training: p = 0.0`).
- Functional dropout outside an `nn.Module` (a plain function may be given the mode by its caller).
- `F.alpha_dropout` and `F.feature_alpha_dropout`, whose `training` defaults to `False`.

## Runtime evidence
After `model.eval()`, two forward passes of the bad model on one input differ; the good model's agree.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.facts import call_argument, is_number
from torchlint.analysis.torch_api import DROPOUT_ON_BY_DEFAULT, MODE_SENSITIVE_FUNCTIONS
from torchlint.rule import Rule


class FunctionalDropoutAlwaysOn(Rule):
    CODE = "TL105"
    NAME = "functional-dropout-always-on"
    MESSAGE = "`{name}` without `training=` drops activations in eval mode too: pass `training=self.training`"
    TRIGGER_WORDS = ("dropout",)

    def visit_Call(self, node: cst.Call) -> None:
        qualified = self.facts.qualified_name(node.func)
        if qualified not in DROPOUT_ON_BY_DEFAULT or any(arg.star for arg in node.args):
            return
        if call_argument(node, MODE_SENSITIVE_FUNCTIONS[qualified], "training") is not None or is_number(call_argument(node, 1, "p"), 0):
            return
        site = self.facts.call_site(node)
        owner = site.scope.enclosing_class if site is not None else None
        if owner is not None and self.facts.is_module_class(owner) and not self._mode_handled(node, site):
            self.report(node, self.MESSAGE.format(name=cst.Module([]).code_for_node(node.func)))

    def _mode_handled(self, node: cst.Call, site) -> bool:
        """The mode reaches the dropout another way: the call runs only under a test of
        ``training`` (``if self.training:``), or its ``p`` is set to 0 on some path
        (``if not self.training: p = 0.0``)."""
        code = cst.Module([]).code_for_node
        if any(isinstance(block, cst.If) and "training" in code(block.test) for block in site.blocks):
            return True
        rate = call_argument(node, 1, "p")
        if isinstance(rate, cst.Name):
            return any(is_number(value, 0) for _, value in site.scope.bindings.get(rate.value, []) if value is not None)
        return False

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: after eval() two passes on the same batch still differ", bad["eval_max_abs_diff"] > 1e-2 and bad["eval_dropped_fraction"] > 0.3),
            ("good: after eval() two passes are identical and nothing is dropped", good["eval_max_abs_diff"] == 0.0 and good["eval_dropped_fraction"] == 0.0),
            ("good: dropout still works in train mode", good["train_max_abs_diff"] > 1e-2 and good["train_dropped_fraction"] > 0.3),
        ]
