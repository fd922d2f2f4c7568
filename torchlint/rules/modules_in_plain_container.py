"""Layers kept in a plain list, tuple or dict: the module does not see them.

## What it does
Flags, in an `nn.Module`'s `__init__`, `self.x = [...]`, `(...)`, `{...}` or a list or dict
comprehension holding newly built layers that own parameters, and `self.x.append(layer)`
(`extend`, `insert`) onto a plain list, instead of `nn.ModuleList` / `nn.ModuleDict`.

## Why is this bad?
`nn.Module` registers submodules assigned to its attributes, but not ones inside a Python
container. Those layers are missing from `parameters()`, so the optimizer never trains them;
from `state_dict()`, so checkpoints lose them; and from `.to(device)` / `.double()`, so they
stay behind. The forward pass still runs, on randomly initialised weights.

## Example
```python
import torch.nn as nn


class MLP(nn.Module):
    def __init__(self, depth=3):
        super().__init__()
        self.hidden = [nn.Linear(64, 64) for _ in range(depth)]
        self.head = nn.Linear(64, 2)

    def forward(self, x):
        for layer in self.hidden:
            x = layer(x).relu()
        return self.head(x)
```

## Use instead
```python
import torch.nn as nn


class MLP(nn.Module):
    def __init__(self, depth=3):
        super().__init__()
        self.hidden = nn.ModuleList([nn.Linear(64, 64) for _ in range(depth)])
        self.head = nn.Linear(64, 2)

    def forward(self, x):
        for layer in self.hidden:
            x = layer(x).relu()
        return self.head(x)
```

## Not flagged
- A container that the class later passes to a call (`nn.ModuleList(self.layers)`,
  `nn.Sequential(*self.blocks)`), or a class that registers modules itself (`add_module`,
  `register_module`, `setattr`).
- Containers of already registered submodules (`[self.fc1, self.fc2]`), of values that are not
  modules, or of modules without parameters (`[nn.ReLU(), nn.Tanh()]`: nothing to train, save
  or move).
- Classes that are not `nn.Module`s, and containers built outside `__init__`.

## Fix safety
Safe. A list, tuple or list comprehension of layers becomes `nn.ModuleList([...])`, a dict of
layers with string keys `nn.ModuleDict({...})`, and an empty list filled with `.append` an
`nn.ModuleList()`: they keep the container's interface (indexing, iteration, `append`). No fix
for sets (arbitrary order), containers that also hold other values, or files that do not
import `torch.nn` in a form the fix can name.

## Runtime evidence
In the bad program the hidden layers are missing from `parameters()` and `state_dict()`, an
optimizer step leaves them unchanged and `.to(torch.float64)` does not convert them; in the good
program they are registered, trained and converted.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.facts import is_self_attribute
from torchlint.edits import Replace
from torchlint.rule import Rule

CONTAINERS = (cst.List, cst.Tuple, cst.Set, cst.Dict, cst.ListComp, cst.DictComp, cst.SetComp)
ADDING_METHODS = ("append", "extend", "insert")
REGISTERING_CALLS = frozenset({"add_module", "register_module", "setattr"})
# builtins that only read a container: handing it to them registers nothing
READING_BUILTINS = frozenset({"zip", "enumerate", "len", "reversed", "iter", "sorted", "list", "tuple", "print", "isinstance", "map", "filter", "any", "all", "sum", "range", "next"})


class ModulesInPlainContainer(Rule):
    CODE = "TL102"
    NAME = "modules-in-plain-container"
    MESSAGE = "layers in a plain {kind} are not registered: the optimizer, `state_dict()` and `.to()` never see them; use `nn.ModuleList` / `nn.ModuleDict`"
    TRIGGER_WORDS = ("nn",)
    FIX_TITLE = "Register the layers with `nn.ModuleList` / `nn.ModuleDict`"

    def visit_Module(self, node: cst.Module) -> None:
        for info in self.facts.module_classes:
            init = info.methods.get("__init__")
            if init is None or self._registers_modules_itself(info):
                continue
            handed_on = self._attributes_passed_to_calls(info)
            for attr, bindings in info.self_bindings.items():
                if attr in handed_on:
                    continue
                for _, value, scope in bindings:
                    if scope is not init or not isinstance(value, CONTAINERS):
                        continue
                    if self._holds_new_layers(value, init):
                        self.report(value, self.MESSAGE.format(kind=_kind(value)), fix=self._registered(value, init))
                    elif isinstance(value, cst.List) and not value.elements:
                        wrap = self.facts.spelling("torch.nn.ModuleList")
                        fix = [Replace(value, f"{wrap}()")] if wrap else []
                        for site in self._additions(attr, init):
                            self.report(site.node, self.MESSAGE.format(kind="list"), fix=fix)

    def _registered(self, container: cst.BaseExpression, scope) -> list:
        """The container wrapped in ``nn.ModuleList`` (a list, tuple or list comprehension of
        layers only) or ``nn.ModuleDict`` (a dict of layers with string keys), which keep the
        container's interface; nothing for sets, whose order is arbitrary, or mixed contents."""
        if isinstance(container, cst.ListComp):
            elements, wrapper = [container.elt], "torch.nn.ModuleList"
        elif isinstance(container, (cst.List, cst.Tuple)):
            elements, wrapper = [element.value for element in container.elements], "torch.nn.ModuleList"
            if any(element.star for element in container.elements if isinstance(element, cst.StarredElement)):
                return []
        elif isinstance(container, cst.Dict) and all(
                isinstance(element, cst.DictElement) and isinstance(element.key, cst.SimpleString) for element in container.elements):
            elements, wrapper = [element.value for element in container.elements], "torch.nn.ModuleDict"
        else:
            return []
        spelled = self.facts.spelling(wrapper)
        if spelled is None or not all(not isinstance(element, (cst.List, cst.Tuple)) and self._is_new_layer(element, scope) for element in elements):
            return []
        if not isinstance(container, cst.Tuple):
            return [Replace(container, (f"{spelled}(", container, ")"))]
        # a tuple's layers go into a list display: ModuleList((a,)) would read the same, but looks odd
        listed = [piece for element in elements for piece in (", ", element)][1:]
        return [Replace(container, (f"{spelled}([", *listed, "])"))]

    def _holds_new_layers(self, container: cst.BaseExpression, scope) -> bool:
        if isinstance(container, (cst.ListComp, cst.SetComp)):
            elements = [container.elt]
        elif isinstance(container, cst.DictComp):
            elements = [container.value]
        elif isinstance(container, cst.Dict):
            elements = [element.value for element in container.elements if isinstance(element, cst.DictElement)]
        else:
            elements = [element.value for element in container.elements]
        return any(self._is_new_layer(element, scope) for element in elements)

    def _is_new_layer(self, expr: cst.BaseExpression, scope) -> bool:
        if isinstance(expr, (cst.List, cst.Tuple)):
            return any(self._is_new_layer(element.value, scope) for element in expr.elements)
        site = self.facts.call_site(expr) if isinstance(expr, cst.Call) else None
        return site is not None and self.facts.is_module_instance(expr, site.scope, site.index) and self.facts.builds_parameters(expr)

    def _additions(self, attr: str, init):
        for site in self.facts.calls_within(init):
            func = site.node.func
            if (isinstance(func, cst.Attribute) and func.attr.value in ADDING_METHODS and is_self_attribute(func.value, attr)
                    and any(self._is_new_layer(arg.value, init) or isinstance(arg.value, CONTAINERS) and self._holds_new_layers(arg.value, init)
                            for arg in site.node.args)):
                yield site

    def _registers_modules_itself(self, info) -> bool:
        return any(
            (site.node.func.attr.value if isinstance(site.node.func, cst.Attribute) else getattr(site.node.func, "value", None)) in REGISTERING_CALLS
            for method in info.methods.values() for site in self.facts.calls_within(method)
        )

    def _attributes_passed_to_calls(self, info) -> set[str]:
        """``nn.ModuleList(self.layers)``, ``nn.Sequential(*self.blocks)``: handed to a container."""
        passed = set()
        for method in info.methods.values():
            for site in self.facts.calls_within(method):
                if isinstance(site.node.func, cst.Name) and site.node.func.value in READING_BUILTINS:
                    continue
                for arg in site.node.args:
                    if isinstance(arg.value, cst.Attribute) and isinstance(arg.value.value, cst.Name) and arg.value.value.value == "self":
                        passed.add(arg.value.attr.value)
        return passed

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: the listed layers' weights are missing from model.parameters()", not bad["layers_in_parameters"]),
            ("bad: the listed layers' weights are missing from state_dict()", not bad["layers_in_state_dict"]),
            ("bad: the model registers fewer parameters than its forward pass uses", bad["registered_parameter_count"] < 0.5 * bad["used_parameter_count"]),
            ("bad: an optimizer step leaves every listed layer unchanged (while the head gets a gradient)", bad["hidden_layers_updated_by_step"] == 0 and bad["head_has_grad"]),
            ("bad: .to(torch.float64) converts the head but not the listed layers", bad["head_is_float64_after_to"] and not bad["hidden_is_float64_after_to"]),
            ("good: the layers are registered and saved", good["layers_in_parameters"] and good["layers_in_state_dict"]),
            ("good: every parameter the forward pass uses is registered", good["registered_parameter_count"] == good["used_parameter_count"]),
            ("good: an optimizer step updates every layer", good["hidden_layers_updated_by_step"] == good["hidden_layers"]),
            ("good: .to(torch.float64) converts every layer", good["head_is_float64_after_to"] and good["hidden_is_float64_after_to"]),
        ]


def _kind(container: cst.BaseExpression) -> str:
    return "dict" if isinstance(container, (cst.Dict, cst.DictComp)) else "tuple" if isinstance(container, cst.Tuple) else "set" if isinstance(container, (cst.Set, cst.SetComp)) else "list"
