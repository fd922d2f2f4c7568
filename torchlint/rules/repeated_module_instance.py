"""One module repeated n times: the "layers" are a single shared layer.

## What it does
Flags a list of modules multiplied by a count (`[Block()] * n`, `n * [layer]`, also inside
`nn.ModuleList(...)` or `nn.Sequential(*...)`) and a comprehension that repeats one module
built outside it (`[layer for _ in range(n)]`), when the module owns parameters.

## Why is this bad?
List repetition copies references, not modules: every element is the same object. The model
that looks `n` layers deep has the parameters of one, applied `n` times; `layers[0] is
layers[1]`, and the parameter count is 1/n of what was intended. It trains without complaint,
just worse.

## Example
```python
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fc = nn.Linear(dim, dim)

    def forward(self, x):
        return self.fc(x).relu()


class Net(nn.Module):
    def __init__(self, dim=32, depth=4):
        super().__init__()
        self.blocks = nn.ModuleList([Block(dim)] * depth)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x
```

## Use instead
```python
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fc = nn.Linear(dim, dim)

    def forward(self, x):
        return self.fc(x).relu()


class Net(nn.Module):
    def __init__(self, dim=32, depth=4):
        super().__init__()
        self.blocks = nn.ModuleList([Block(dim) for _ in range(depth)])

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x
```

## Not flagged
- A fresh construction per element, and `copy.deepcopy(layer)` per element.
- Repeating values that are not modules (`[0] * n`, `[None] * n`), or modules without
  parameters (`[nn.ReLU()] * n`: there is nothing to share).

## Runtime evidence
In the bad program `blocks[0] is blocks[1]`, the blocks hold 1/depth of the expected parameters
and their weights stay identical after a step; in the good program they are distinct.
"""

from __future__ import annotations

import libcst as cst

from torchlint.rule import Rule


class RepeatedModuleInstance(Rule):
    CODE = "TL103"
    NAME = "repeated-module-instance"
    MESSAGE = "this repeats one module object: every element is the same layer with the same weights; build a new one per element"
    TRIGGER_WORDS = ("*", " for ")

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if not isinstance(node.operator, cst.Multiply):
            return
        scope, index = self.facts.place_of(node)
        for side in (node.left, node.right):
            if isinstance(side, (cst.List, cst.Tuple)) and side.elements and scope is not None:
                if all(self._is_layer(element.value, scope, index) for element in side.elements):
                    self.report(node)
                    return

    def visit_ListComp(self, node: cst.ListComp) -> None:
        self._check_comprehension(node)

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> None:
        self._check_comprehension(node)

    def _check_comprehension(self, node) -> None:
        """``[layer for _ in range(n)]`` with ``layer`` built before the comprehension."""
        scope, index = self.facts.place_of(node)
        if scope is None or not isinstance(node.elt, cst.Name) or node.elt.value in _targets(node):
            return
        if self._is_layer(node.elt, scope, index):
            self.report(node)

    def _is_layer(self, expr: cst.BaseExpression, scope, index: int) -> bool:
        built = self.facts.resolve(expr, scope, index).expr
        return isinstance(built, cst.Call) and self.facts.is_module_instance(expr, scope, index) and self.facts.builds_parameters(built)

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: the tower's layers are one object", bad["first_is_second"] and bad["distinct_blocks"] == 1),
            ("bad: the tower registers 1/depth of the expected parameters", bad["block_parameter_count"] * bad["depth"] == bad["expected_block_parameter_count"]),
            ("bad: state_dict() saves one weight tensor under every layer's name", bad["distinct_block_weights_in_state_dict"] == 1),
            ("bad: after an optimizer step the first and last layer's weights are still identical", bad["first_last_weight_max_diff_after_step"] == 0.0),
            ("good: every layer is its own object", not good["first_is_second"] and good["distinct_blocks"] == good["depth"]),
            ("good: the tower registers depth blocks' worth of parameters", good["block_parameter_count"] == good["expected_block_parameter_count"]),
            ("good: state_dict() saves a distinct weight per layer", good["distinct_block_weights_in_state_dict"] == good["depth"]),
            ("good: the first and last layer's weights differ", good["first_last_weight_max_diff_after_step"] > 1e-2),
        ]


def _targets(node) -> set[str]:
    names, comprehension = set(), node.for_in
    while comprehension is not None:
        pending = [comprehension.target]
        while pending:
            target = pending.pop()
            if isinstance(target, cst.Name):
                names.add(target.value)
            elif isinstance(target, (cst.Tuple, cst.List)):
                pending.extend(element.value for element in target.elements)
        comprehension = comprehension.inner_for_in
    return names
