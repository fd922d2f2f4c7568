"""`.backward()` without a gradient on a loss that is not a scalar.

## What it does
Flags `loss.backward()` with no `gradient` argument when `loss` is known to be per-element: a
loss computed with `reduction="none"` (a criterion built so, possibly as `self.criterion`, or
a functional loss called so) or an elementwise expression over one or over the output of a
torch.nn layer built in view (`(linear(x) - y) ** 2`), with no `.mean()` or `.sum()` in between.

## Why is this bad?
`backward()` can create the starting gradient only for a scalar. On a per-element loss it
raises `RuntimeError: grad can be implicitly created only for scalar outputs`, often after a
long data-loading and warm-up phase, or only on the code path that a flag enables.

## Example
```python
import torch.nn as nn


def train_step(model, optimizer, x, y):
    criterion = nn.MSELoss(reduction="none")
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
```

## Use instead
```python
import torch.nn as nn


def train_step(model, optimizer, x, y):
    criterion = nn.MSELoss(reduction="none")
    optimizer.zero_grad()
    loss = criterion(model(x), y).mean()  # or weight the elements, then reduce
    loss.backward()
    optimizer.step()
```

## Not flagged
- A reduction before `backward()` (`loss.mean().backward()`, `loss = loss.mean()`,
  `(loss * weights).sum()`), and `backward(gradient=...)` (positional or keyword).
- A reduction that cannot be seen (`reduction=reduction` from a parameter) or that only some
  branches apply, and arithmetic on the output of a model or loss class of the project, which
  may reduce inside its `forward`.
- `torch.autograd.backward(...)` and `torch.autograd.grad(...)`, which take their gradients
  explicitly.

## Runtime evidence
The bad program's `backward()` raises the "only for scalar outputs" error and no parameter gets
a gradient; the good program reduces first, and its parameters get gradients.
"""

from __future__ import annotations

import libcst as cst

from torchlint.rule import Rule


class NonScalarBackward(Rule):
    CODE = "TL206"
    NAME = "non-scalar-backward"
    MESSAGE = "`backward()` on a per-element loss raises \"grad can be implicitly created only for scalar outputs\": reduce it first (`.mean()` or `.sum()`)"
    TRIGGER_WORDS = ("backward",)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value != "backward":
            return
        if any(arg.keyword is None or arg.keyword.value in ("gradient", "grad_tensors") for arg in node.args):
            return
        site = self.facts.call_site(node)
        if site is not None and self.facts.is_unreduced_loss(func.value, site.scope, site.index):
            self.report(node)

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: backward() on the unreduced loss raises 'grad can be implicitly created only for scalar outputs'", bad["raised"] and bad["scalar_outputs_error"] and not bad["has_grad"]),
            ("good: backward() on the reduced loss runs and fills the gradients", not good["raised"] and good["has_grad"] and good["loss_finite"]),
        ]
