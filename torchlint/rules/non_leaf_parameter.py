"""A trainable tensor made non-leaf by a move or a cast before the optimizer gets it.

## What it does
Flags `w = torch.<factory>(..., requires_grad=True)` followed, in the same expression, by a move,
a cast or arithmetic (`.to(device)`, `.cuda()`, `.double()`, `* 0.01`), when `w` is then handed
to an optimizer (`torch.optim.SGD([w, b], ...)`) in the same function or module.

## Why is this bad?
Only the tensor created with `requires_grad=True` is a leaf; the result of moving or scaling it
is a new, computed tensor. The optimizer refuses it (`ValueError: can't optimize a non-leaf
Tensor`), or, when the list is built differently, its `.grad` stays `None` and nothing trains.

## Example
```python
import torch


def make_weights(device):
    w = torch.randn(3, 3, requires_grad=True).to(device)
    return w, torch.optim.SGD([w], lr=0.1)
```

## Use instead
```python
import torch


def make_weights(device):
    w = torch.randn(3, 3, device=device, requires_grad=True)
    return w, torch.optim.SGD([w], lr=0.1)
```

## Not flagged
- Creating the tensor in place (`device=`, `dtype=`), `.requires_grad_()` after the move, and
  `nn.Parameter(...)`.
- Non-leaf tensors that no optimizer in view receives.

## Runtime evidence
The bad program's optimizer raises "can't optimize a non-leaf Tensor"; the good program's trains.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.facts import call_argument, is_constant
from torchlint.analysis.torch_api import TENSOR_FACTORIES, is_optimizer_class
from torchlint.rule import Rule

# ``.float()`` on a float32 tensor returns the tensor itself, a leaf: casts that may be no-ops are left out
DERIVING_METHODS = frozenset({"to", "cuda", "double", "half", "bfloat16", "mul", "div", "add", "sub", "t", "view", "reshape", "requires_grad_"})


class NonLeafParameter(Rule):
    CODE = "TL503"
    NAME = "non-leaf-parameter"
    MESSAGE = "`{name}` is computed from the tensor that requires grad, so it is not a leaf: the optimizer cannot train it; create it on its device and dtype (or call `.requires_grad_()` after the move)"
    TRIGGER_WORDS = ("requires_grad",)

    def visit_Call(self, node: cst.Call) -> None:
        if not is_optimizer_class(self.facts.qualified_name(node.func)) or not node.args:
            return
        site = self.facts.call_site(node)
        for name in _names_in(node.args[0].value):
            bound = self.facts.resolve(name, site.scope, site.index)
            if bound.expr is not name and self._derived_from_a_leaf(bound.expr):
                self.report(bound.expr, self.MESSAGE.format(name=name.value))

    def _derived_from_a_leaf(self, expr: cst.BaseExpression) -> bool:
        derived = False
        while True:
            if isinstance(expr, cst.BinaryOperation):
                sides = [side for side in (expr.left, expr.right) if isinstance(side, (cst.Call, cst.BinaryOperation))]
                if not sides:
                    return False
                expr, derived = sides[0], True
            elif isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value in DERIVING_METHODS and self.facts.qualified_name(expr.func) is None:
                # ``requires_grad_()`` on a computed tensor leaves it computed
                expr, derived = expr.func.value, derived or expr.func.attr.value != "requires_grad_"
            else:
                break
        if not (derived and isinstance(expr, cst.Call)) or self.facts.qualified_name(expr.func) not in TENSOR_FACTORIES:
            return False
        return is_constant(call_argument(expr, 99, "requires_grad"), "True")

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: building the optimizer raises \"can't optimize a non-leaf Tensor\" and nothing is trained",
             bad["optimizer_raised"] and bad["non_leaf_message"] and bad["final_loss"] == bad["zeros_loss"]),
            ("good: the optimizer accepts the weight and the regression fits",
             not good["optimizer_raised"] and good["final_loss"] < 0.01 * good["zeros_loss"]),
        ]


def _names_in(params: cst.BaseExpression) -> list[cst.Name]:
    """``w`` and ``b`` in ``[w, b]``, ``(w, b)`` or ``[{"params": [w]}]``."""
    found, pending = [], [params]
    while pending:
        expr = pending.pop()
        if isinstance(expr, cst.Name):
            found.append(expr)
        elif isinstance(expr, (cst.List, cst.Tuple)):
            pending.extend(element.value for element in expr.elements)
        elif isinstance(expr, cst.Dict):
            pending.extend(element.value for element in expr.elements if isinstance(element, cst.DictElement))
    return found
