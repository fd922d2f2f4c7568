"""`model.eval` without `()`: a method named as a statement does nothing.

## What it does
Flags `model.eval`, `model.train`, `optimizer.zero_grad`, `optimizer.step` and `loss.backward`
written as statements of their own, without the call, and `torch.no_grad()` (or
`torch.inference_mode()`, `torch.enable_grad()`) called as a statement instead of used in `with`.

## Why is this bad?
Python evaluates the attribute and throws it away: the model stays in training mode, the
gradients are not cleared, nothing is stepped, and `torch.no_grad()` on its own line builds a
context manager that is never entered, so gradients are still recorded. Nothing warns.

## Example
```python
import torch


def evaluate(model, loader):
    model.eval
    torch.no_grad()
    return [model(x) for x, _ in loader]
```

## Use instead
```python
import torch


def evaluate(model, loader):
    model.eval()
    with torch.no_grad():
        return [model(x) for x, _ in loader]
```

## Not flagged
- The calls themselves, and the methods passed as values (`callbacks.append(model.eval)`).
- Files that are not PyTorch code.

## Fix safety
Safe. The missing `()` is added: `model.eval` becomes `model.eval()`. No fix for a context
manager called as a statement (`torch.no_grad()`): the code it should guard is not known.

## Runtime evidence
After the bad program's bare `model.eval`, `model.training` is still `True` and two forwards on
one input differ (dropout is on); after the good program's `model.eval()` they agree.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.torch_api import GRAD_DISABLING
from torchlint.edits import Replace
from torchlint.rule import Rule

UNCALLED_METHODS = frozenset({"eval", "train", "zero_grad", "step", "backward"})
CONTEXT_MANAGERS = GRAD_DISABLING | {"torch.enable_grad", "torch.autograd.grad_mode.enable_grad"}


class ModeSwitchNotCalled(Rule):
    CODE = "TL404"
    NAME = "mode-switch-not-called"
    MESSAGE = "`{code}` does nothing without `()`: call it"
    CONTEXT_MESSAGE = "`{code}` on its own line builds a context manager and throws it away: use `with {code}:`"
    TRIGGER_WORDS = ("eval", "train", "zero_grad", "step", "backward", "no_grad", "inference_mode", "enable_grad")
    FIX_TITLE = "Add the missing `()`"

    def visit_Expr(self, node: cst.Expr) -> None:
        value = node.value
        code = cst.Module([]).code_for_node
        if isinstance(value, cst.Attribute) and value.attr.value in UNCALLED_METHODS:
            self.report(node, self.MESSAGE.format(code=code(value)), fix=[Replace(value, (value, "()"))])
        elif isinstance(value, cst.Call) and self.facts.qualified_name(value.func) in CONTEXT_MANAGERS:
            self.report(node, self.CONTEXT_MESSAGE.format(code=code(value)))

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: after the bare `model.eval` the model is still in training mode", bad["training_during_eval"] and bad["submodules_in_training_mode"] > 0),
            ("bad: dropout stays on, two predictions on one batch differ", bad["repeat_prediction_max_diff"] > 1e-3),
            ("good: after `model.eval()` no module is in training mode", not good["training_during_eval"] and good["submodules_in_training_mode"] == 0),
            ("good: two predictions on one batch agree", good["repeat_prediction_max_diff"] <= 1e-6),
        ]
