"""An out-of-place tensor method used as a statement: its result is thrown away.

## What it does
Flags a statement such as `x.to(device)`, `x.float()`, `x.unsqueeze(0)` or `x.add(1)` whose
value is discarded. Methods that modules share (`to`, `cuda`, `cpu`, `float`, `double`,
`half`, `bfloat16`, `type`) and generic names (`add`, `sub`, `mul`, `div`, `pow`, `clamp`) are
flagged only on values known to be tensors (built by a torch factory or operation in view);
tensor-only methods (`unsqueeze`, `squeeze`, `view`, `reshape`, `permute`, `transpose`, `t`,
`contiguous`, `flatten`, `detach`, `clone`) on anything but `self` and known modules.

## Why is this bad?
These methods return a new tensor and leave the original as it was: `x.to(device)` on its own
line does not move `x`, so the next operation fails with a device mismatch, or (for `float()`,
`unsqueeze(0)`) silently runs in the old dtype or shape. Modules are different: `model.to(device)`
moves the module in place, which is why the habit carries over.

## Example
```python
import torch


def prepare(device):
    x = torch.zeros(4, 3)
    x.to(device)
    x.unsqueeze(0)
    return x
```

## Use instead
```python
import torch


def prepare(device):
    x = torch.zeros(4, 3)
    x = x.to(device)
    x = x.unsqueeze(0)
    return x
```

## Not flagged
- Modules (`model.to(device)`, `self.float()` in a module): those methods work in place.
- In-place methods (`x.add_(1)`, `x.unsqueeze_(0)`), and the same names on other objects
  (`seen.add(x)`, `writer.add_scalar`) or on values of unknown type.

## Runtime evidence
After the bad program's statements the tensor keeps its dtype and shape; after the good
program's assignments it has the new ones.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.torch_api import TENSOR_FACTORIES
from torchlint.rule import Rule

SHARED_WITH_MODULES = frozenset({"to", "cuda", "cpu", "float", "double", "half", "bfloat16", "type", "add", "sub", "mul", "div", "pow", "clamp"})
TENSOR_ONLY = frozenset({"unsqueeze", "squeeze", "view", "reshape", "permute", "transpose", "t", "contiguous", "flatten", "detach", "clone"})


class DiscardedTensorResult(Rule):
    CODE = "TL501"
    NAME = "discarded-tensor-result"
    MESSAGE = "`{code}` returns a new tensor and leaves `{tensor}` unchanged: assign it (`{tensor} = {code}`)"
    TRIGGER_WORDS = ("torch",)

    def visit_Expr(self, node: cst.Expr) -> None:
        call = node.value
        if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)):
            return
        method, receiver = call.func.attr.value, call.func.value
        if method not in SHARED_WITH_MODULES | TENSOR_ONLY or self.facts.qualified_name(call.func) is not None:
            return
        if isinstance(receiver, cst.Name) and receiver.value == "self":
            return
        site = self.facts.call_site(call)
        if site is None or self.facts.is_module_instance(receiver, site.scope, site.index):
            return
        if method in SHARED_WITH_MODULES and not self._is_tensor(receiver, site):
            return
        code = cst.Module([]).code_for_node
        self.report(node, self.MESSAGE.format(code=code(call), tensor=code(receiver)))

    def _is_tensor(self, receiver: cst.BaseExpression, site) -> bool:
        """Built by a torch factory or a torch operation in view (``torch.zeros``, ``torch.cat``)."""
        bound = self.facts.resolve(receiver, site.scope, site.index).expr
        while isinstance(bound, cst.Call) and isinstance(bound.func, cst.Attribute) and self.facts.qualified_name(bound.func) is None:
            bound = bound.func.value
        if not isinstance(bound, cst.Call):
            return False
        qualified = self.facts.qualified_name(bound.func) or ""
        return qualified in TENSOR_FACTORIES or (qualified.startswith("torch.") and not qualified.startswith(("torch.nn.", "torch.utils.", "torch.optim.", "torch.device", "torch.cuda.")))
