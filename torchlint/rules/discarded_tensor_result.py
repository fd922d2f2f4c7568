"""An out-of-place tensor method used as a statement: its result is thrown away.

## What it does
Flags a statement such as `x.to(device)`, `x.float()`, `x.unsqueeze(0)` or `x.add(1)` whose
value is discarded, on a value known to be a tensor: built in view by a torch factory, a torch
or `torch.nn.functional` operation, or `nn.Parameter`, possibly through tensor methods.

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

## Off by default
On the real-code benchmark 5 of its 6 findings were right; the other was a `.to(...)` to the dtype and device the tensor was just created with. Turn it on with `--extend-select TL501`
(or `extend-select = ["TL501"]`).

## Fix safety
Safe. The result is assigned back: `x.to(device)` becomes `x = x.to(device)`. Only for a
name or an attribute; a subscript (`batch[0].float()`) would be evaluated twice.

## Runtime evidence
After the bad program's statements the tensor keeps its dtype and shape; after the good
program's assignments it has the new ones.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.torch_api import PARAMETER_CONSTRUCTORS, TENSOR_FACTORIES
from torchlint.analysis.names import dotted_name
from torchlint.edits import Replace
from torchlint.rule import Rule

SHARED_WITH_MODULES = frozenset({"to", "cuda", "cpu", "float", "double", "half", "bfloat16", "type", "add", "sub", "mul", "div", "pow", "clamp"})
NOT_TENSOR_OPERATIONS = frozenset({"compile", "load", "device", "no_grad", "enable_grad", "inference_mode", "set_grad_enabled", "manual_seed", "get_default_dtype", "dtype"})
TENSOR_ONLY = frozenset({"unsqueeze", "squeeze", "view", "reshape", "permute", "transpose", "t", "contiguous", "flatten", "detach", "clone"})


class DiscardedTensorResult(Rule):
    CODE = "TL501"
    NAME = "discarded-tensor-result"
    # Off until its precision on the real-code benchmark reaches 90 % (see "Off by default").
    DEFAULT_ENABLED = False
    MESSAGE = "`{code}` returns a new tensor and leaves `{tensor}` unchanged: assign it (`{tensor} = {code}`)"
    TRIGGER_WORDS = ("torch",)
    FIX_TITLE = "Assign the result"

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
        if not self._is_tensor(receiver, site):
            return  # ``sock.detach()``, ``repo.clone(path)``, a NumPy array's ``reshape``
        code = cst.Module([]).code_for_node
        # only a name or an attribute is assigned to: a subscript would be evaluated twice
        fix = [Replace(node, (receiver, " = ", call))] if dotted_name(receiver) is not None else []
        self.report(node, self.MESSAGE.format(code=code(call), tensor=code(receiver)), fix=fix)

    def _is_tensor(self, receiver: cst.BaseExpression, site) -> bool:
        """Built by a torch factory, a torch operation or a parameter in view (``torch.zeros``,
        ``F.relu(x)``, ``nn.Parameter``), possibly through tensor methods (``images.sub(m)``)."""
        value = self.facts.resolve(receiver, site.scope, site.index)
        for _ in range(8):
            expr = value.expr
            if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and self.facts.qualified_name(expr.func) is None:
                value = self.facts.resolve(expr.func.value, value.scope, value.index)
                continue
            if not isinstance(expr, cst.Call):
                return False
            qualified = self.facts.qualified_name(expr.func) or ""
            return qualified in TENSOR_FACTORIES | PARAMETER_CONSTRUCTORS or qualified.startswith("torch.nn.functional.") or _is_torch_operation(qualified)
        return False

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: after the discarded .float()/.div() the batch is still uint8 pixels in [0, 255]", not bad["is_floating_point"] and bad["max_value"] > 200.0),
            ("bad: after the discarded .unsqueeze(1) the batch has no channel dimension", bad["ndim"] == 3),
            ("bad: after the discarded .to(device) a CUDA run leaves the batch on the CPU", bad["on_requested_device"] != bad["requested_cuda"]),
            ("bad: the model, whose .to() is in place, did move", bad["model_on_requested_device"]),
            ("good: the assigned results give a float batch scaled to [0, 1] with a channel dimension", good["is_floating_point"] and good["max_value"] <= 1.0 and good["ndim"] == 4),
            ("good: the batch is on the requested device, ready for the model", good["on_requested_device"] and good["ready_for_the_model"]),
        ]


def _is_torch_operation(qualified: str) -> bool:
    """``torch.cat``, ``torch.matmul``: a function of the top-level torch namespace that computes
    a tensor (not ``torch.compile``, ``torch.load`` or a class such as an observer)."""
    prefix, _, name = qualified.rpartition(".")
    return prefix == "torch" and name[:1].islower() and name not in NOT_TENSOR_OPERATIONS
