"""A tensor stored on a module as a plain attribute: neither a parameter nor a buffer.

## What it does
Flags `self.x = torch.<factory>(...)` in an `nn.Module`'s `__init__` (`torch.zeros`,
`torch.tensor`, `torch.arange(...).unsqueeze(0)`, `torch.tril(torch.ones(...))`, ...) when
`forward`, or a method only `forward` calls, reads `self.x`, and the class never registers it
(`register_buffer("x", ...)`, `nn.Parameter`).

## Why is this bad?
Only parameters and buffers belong to the module. A plain tensor attribute is not moved by
`model.to(device)` or `.double()`, so the model crashes with a device mismatch on the GPU or
silently computes in the old dtype; it is missing from `state_dict()`, so a saved and reloaded
model loses it; and `DataParallel` replicas do not get it.

## Example
```python
import torch
import torch.nn as nn


class Normalise(nn.Module):
    def __init__(self):
        super().__init__()
        self.mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)

    def forward(self, x):
        return x - self.mean
```

## Use instead
```python
import torch
import torch.nn as nn


class Normalise(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))

    def forward(self, x):
        return x - self.mean
```

## Not flagged
- `register_buffer(...)` (with any `persistent=`), `nn.Parameter(...)`, and an attribute the
  class later wraps in `nn.Parameter`, assigns anything but a fresh tensor to, or reassigns in
  another method (a cache or an accumulator rebuilt at run time).
- Plain Python numbers and lists; tensors that `forward` never reads; index and mask tensors
  of an explicit integer or bool dtype (`dtype=torch.bool`, `torch.LongTensor`), which
  `.double()` leaves alone and which are rarely state worth saving; a 0-dim constant
  (`torch.tensor(0.0625)`), which works with tensors on any device and never changes their dtype.
- A tensor that `forward` moves itself on every read (`self.mean.to(x.device)`, `.type_as(x)`),
  or hands to a function of the project (`helper(x, self.ids)`), which may move it.
- Classes that are not `nn.Module`s.

## Runtime evidence
In the bad program the tensors are missing from `state_dict()` (a reloaded model predicts
differently) and stay float32 after `model.to(torch.float64)`; in the good program they are
saved, restored and converted.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.facts import call_argument, is_self_attribute
from torchlint.analysis.torch_api import PARAMETER_CONSTRUCTORS, TENSOR_FACTORIES
from torchlint.rule import Rule

# torch.* namespaces whose functions do not compute tensors from tensors
NOT_TENSOR_FUNCTIONS = ("torch.nn.", "torch.device", "torch.dtype", "torch.Size", "torch.Generator", "torch.cuda.",
                        "torch.distributed.", "torch.optim.", "torch.utils.", "torch.jit.", "torch.autograd.", "torch.backends.")
MOVING_METHODS = frozenset({"to", "type_as", "cuda", "cpu"})
INTEGER_DTYPES = frozenset(f"torch.{name}" for name in ("bool", "int", "long", "int8", "int16", "int32", "int64", "uint8", "short"))
INTEGER_TENSOR_CONSTRUCTORS = frozenset({"torch.LongTensor", "torch.BoolTensor", "torch.IntTensor", "torch.ByteTensor"})


class TensorAttributeNotRegistered(Rule):
    CODE = "TL106"
    NAME = "tensor-attribute-not-registered"
    MESSAGE = "`self.{attr}` is a plain tensor attribute: `.to(device)` and `.double()` leave it behind and `state_dict()` omits it; use `self.register_buffer(\"{attr}\", ...)`"
    TRIGGER_WORDS = ("torch",)

    def visit_Module(self, node: cst.Module) -> None:
        for info in self.facts.module_classes:
            init = info.methods.get("__init__")
            reached = self.facts.forward_reach(info)
            registered = self._registered_names(info) if init is not None and reached else {"*"}
            if "*" in registered:
                continue
            for attr, bindings in info.self_bindings.items():
                if attr in registered:
                    continue  # assigning to a registered buffer's name updates the buffer
                if not all(self._is_fresh_tensor(value) and scope is init for _, value, scope in bindings):
                    continue  # wrapped in nn.Parameter later, or state rebuilt by another method
                in_init = [value for _, value, scope in bindings if scope is init]
                if in_init and self._read_unmoved(attr, reached):
                    self.report(in_init[0], self.MESSAGE.format(attr=attr))

    def _is_fresh_tensor(self, value: cst.BaseExpression) -> bool:
        """A tensor made by torch here: a factory, a torch function of one, methods chained on one."""
        while isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and self.facts.qualified_name(value.func) is None:
            value = value.func.value  # ``torch.arange(n).unsqueeze(0)``
        if not isinstance(value, cst.Call):
            return False
        qualified = self.facts.qualified_name(value.func) or ""
        dtype = call_argument(value, 99, "dtype")
        if qualified in INTEGER_TENSOR_CONSTRUCTORS or (dtype is not None and self.facts.qualified_name(dtype) in INTEGER_DTYPES):
            return False  # indices and masks: .double() leaves them alone and they are rarely state
        if qualified == "torch.tensor" and value.args and _is_number_literal(value.args[0].value):
            return False  # a 0-dim constant: it mixes with tensors on any device and never promotes their dtype
        if qualified in TENSOR_FACTORIES:
            return True
        if not qualified.startswith("torch.") or qualified.startswith(NOT_TENSOR_FUNCTIONS) or qualified in PARAMETER_CONSTRUCTORS:
            return False
        return any(arg.keyword is None and self._is_fresh_tensor(arg.value) for arg in value.args)

    def _registered_names(self, info) -> set[str]:
        """The names the class registers as buffers or parameters; "*" when one is computed."""
        names = set()
        for method in info.methods.values():
            for site in self.facts.calls_within(method):
                func = site.node.func
                if isinstance(func, cst.Attribute) and func.attr.value in ("register_buffer", "register_parameter") and site.node.args:
                    name = site.node.args[0].value
                    names.add(name.evaluated_value if isinstance(name, cst.SimpleString) else "*")
        return names

    def _read_unmoved(self, attr: str, reached) -> bool:
        """Read by ``forward`` and never moved there: neither ``self.x.to(...)`` nor handed to a
        function of the project, which may move it itself (``helper(x, self.x)``)."""
        if not any(attr in scope.self_attributes for scope in reached):
            return False
        for scope in reached:
            for site in self.facts.calls_within(scope):
                func = site.node.func
                if isinstance(func, cst.Attribute) and func.attr.value in MOVING_METHODS and is_self_attribute(func.value, attr):
                    return False
                passed = any(is_self_attribute(arg.value, attr) for arg in site.node.args)
                if passed and not (self.facts.qualified_name(func) or "").startswith("torch."):
                    return False
        return True

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: the tensor attributes are missing from state_dict()", not bad["mean_in_state_dict"] and not bad["std_in_state_dict"]),
            ("bad: a model reloaded from state_dict() predicts differently", bad["reload_output_max_diff"] > 0.1),
            ("bad: .to(torch.float64) converts the weights but not the tensor attributes", bad["weight_is_float64_after_to"] and not bad["mean_is_float64_after_to"] and not bad["std_is_float64_after_to"]),
            ("good: the buffers are saved in state_dict()", good["mean_in_state_dict"] and good["std_in_state_dict"]),
            ("good: the reloaded model predicts the same", good["reload_output_max_diff"] < 1e-6),
            ("good: .to(torch.float64) converts the buffers too", good["weight_is_float64_after_to"] and good["mean_is_float64_after_to"] and good["std_is_float64_after_to"]),
        ]


def _is_number_literal(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, cst.UnaryOperation):
        expr = expr.expression
    return isinstance(expr, (cst.Integer, cst.Float))
