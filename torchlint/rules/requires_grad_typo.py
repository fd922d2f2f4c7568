"""An assignment to a misspelt `requires_grad`: the tensor's flag is unchanged.

## What it does
Flags an assignment (or a `setattr` with the name written out) to `.require_grad`,
`.requires_grads`, `.require_grads`, `.requires_gradient` or `.requires_grad_` (the name of the
in-place *method*), typically while
freezing layers: `for p in model.backbone.parameters(): p.require_grad = False`.

## Why is this bad?
Tensors accept any attribute, so the assignment succeeds and does nothing else: `requires_grad`
stays `True`, the layer meant to be frozen keeps training, and the run spends its memory and
compute on gradients nobody wanted. No error, no warning.

## Example
```python
for parameter in model.backbone.parameters():
    parameter.require_grad = False
```

## Use instead
```python
for parameter in model.backbone.parameters():
    parameter.requires_grad = False  # or parameter.requires_grad_(False)
```

Only assignments on values known to be tensors or modules are flagged: the variable of a loop
over `.parameters()`, `.named_parameters()`, `.buffers()`, `.modules()` or `.children()`, a
`.weight` or `.bias`, a tensor built by a torch factory or `nn.Parameter`, or a module
(other than `self`).

## Not flagged
- `requires_grad` spelt right, and the method call `requires_grad_(False)`.
- The same names on other objects: `self.require_grad = flag` (a module's own setting, read
  later by its code), `args.require_grad` (an argparse option), keyword arguments (a factory
  rejects an unknown keyword at once).
- Files that are not PyTorch code.

## Runtime evidence
In the bad program the "frozen" parameter still has `requires_grad == True` and its weights
change after an optimizer step; in the good program it is frozen and unchanged.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.torch_api import PARAMETER_CONSTRUCTORS, TENSOR_FACTORIES
from torchlint.rule import Rule

MISSPELLINGS = frozenset({"require_grad", "requires_grads", "require_grads", "requires_gradient", "requires_grad_", "require_gradient"})


class RequiresGradTypo(Rule):
    CODE = "TL107"
    NAME = "requires-grad-typo"
    MESSAGE = "`.{attr}` is not a tensor flag: this sets a new attribute and leaves `requires_grad` unchanged; write `.requires_grad = ...`"
    TRIGGER_WORDS = ("require_grad", "requires_grad")

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._check(node, target.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._check(node, node.target)

    def visit_Call(self, node: cst.Call) -> None:
        """``setattr(p, "require_grad", False)``"""
        if not (isinstance(node.func, cst.Name) and node.func.value == "setattr" and len(node.args) == 3):
            return
        name = node.args[1].value
        if isinstance(name, cst.SimpleString) and name.evaluated_value in MISSPELLINGS and self._is_tensor_or_module(node, node.args[0].value):
            self.report(node, self.MESSAGE.format(attr=name.evaluated_value))

    def _check(self, statement: cst.CSTNode, target: cst.BaseExpression) -> None:
        if isinstance(target, cst.Attribute) and target.attr.value in MISSPELLINGS and self._is_tensor_or_module(statement, target.value):
            self.report(target, self.MESSAGE.format(attr=target.attr.value))

    def _is_tensor_or_module(self, statement: cst.CSTNode, receiver: cst.BaseExpression) -> bool:
        if isinstance(receiver, cst.Attribute) and receiver.attr.value in TENSOR_ATTRIBUTES:
            return True  # model.fc.weight
        if isinstance(receiver, cst.Name) and receiver.value == "self":
            return False
        site = self.facts.call_site(statement)
        scope, index = (site.scope, site.index) if site is not None else self.facts.place_of(statement)
        if scope is None:
            return False
        if isinstance(receiver, cst.Name):
            iterated = self.facts.iterable_of(receiver, scope, index)
            if iterated is not None:
                iterable, position = iterated
                return _iterates_tensors_or_modules(iterable, position)
            bound = self.facts.resolve(receiver, scope, index).expr
            if isinstance(bound, cst.Call) and self.facts.qualified_name(bound.func) in TENSOR_FACTORIES | PARAMETER_CONSTRUCTORS:
                return True
        return self.facts.is_module_instance(receiver, scope, index)

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: the misspelt attribute is set and requires_grad stays True", bad["misspelt_attribute_set"] and bad["backbone_requires_grad"]),
            ("bad: the \"frozen\" backbone's weights change during fine-tuning", bad["backbone_weight_max_change"] > 1e-4),
            ("good: the backbone's parameters no longer require grad", not good["backbone_requires_grad"] and not good["misspelt_attribute_set"]),
            ("good: the frozen backbone's weights do not change", good["backbone_weight_max_change"] == 0.0),
            ("both: the head trains", bad["head_weight_max_change"] > 1e-4 and good["head_weight_max_change"] > 1e-4),
        ]


# module methods that yield parameters, buffers or modules; named_* yield (name, value) pairs
ITERATORS = {"parameters": None, "buffers": None, "modules": None, "children": None,
             "named_parameters": 1, "named_buffers": 1, "named_modules": 1, "named_children": 1}
TENSOR_ATTRIBUTES = frozenset({"weight", "bias"})


def _iterates_tensors_or_modules(iterable: cst.BaseExpression, position) -> bool:
    """``model.parameters()``, and ``itertools.chain`` of several of them."""
    if not isinstance(iterable, cst.Call):
        return False
    if isinstance(iterable.func, cst.Attribute) and iterable.func.attr.value == "chain" or isinstance(iterable.func, cst.Name) and iterable.func.value == "chain":
        return bool(iterable.args) and all(_iterates_tensors_or_modules(arg.value, position) for arg in iterable.args)
    if not isinstance(iterable.func, cst.Attribute):
        return False
    method = iterable.func.attr.value
    return method in ITERATORS and ITERATORS[method] == position
