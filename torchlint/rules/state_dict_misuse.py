"""`torch.save(model.state_dict, f)` without the call; `model = model.load_state_dict(sd)`.

## What it does
Flags `torch.save(x.state_dict, ...)`, which saves the bound method instead of the weights, and
`model = model.load_state_dict(...)`, which replaces the model with what `load_state_dict`
returns.

## Why is this bad?
The first pickles a method of the live model: the checkpoint holds no weights of its own, and
loading it elsewhere fails or drags the whole model along. The second is worse:
`load_state_dict` returns a named tuple of missing and unexpected keys, so `model` stops being a
model and the next `model(x)` fails, far from the line that caused it.

## Example
```python
import torch


def checkpoint(model, path):
    torch.save(model.state_dict, path)


def restore(model, path):
    model = model.load_state_dict(torch.load(path, weights_only=True))
    return model
```

## Use instead
```python
import torch


def checkpoint(model, path):
    torch.save(model.state_dict(), path)


def restore(model, path):
    model.load_state_dict(torch.load(path, weights_only=True))
    return model
```

## Not flagged
- `torch.save(model.state_dict(), path)`, and the result of `load_state_dict` assigned to another
  name (`result = model.load_state_dict(sd)`), which is how the keys are checked.

## Fix safety
Safe. `torch.save(model.state_dict, f)` becomes `torch.save(model.state_dict(), f)`, and
`model = model.load_state_dict(sd)` becomes `model.load_state_dict(sd)`: the weights are saved,
and the model stays the model. No fix for an assignment with several targets.

## Runtime evidence
The bad program's checkpoint does not load back as a dictionary of tensors, and its `model`
becomes an `_IncompatibleKeys` tuple whose call fails; the good program's round trip works.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.facts import call_argument
from torchlint.analysis.names import dotted_name
from torchlint.edits import Replace
from torchlint.rule import Rule

SAVE_FUNCTIONS = frozenset({"torch.save"})


class StateDictMisuse(Rule):
    CODE = "TL602"
    NAME = "state-dict-misuse"
    MESSAGE = "`{method}` without `()` saves the bound method, not the weights: call `{method}()`"
    REPLACED_MESSAGE = "`load_state_dict` returns the missing and unexpected keys, not the model: this replaces `{model}` with them; call it without assigning"
    TRIGGER_WORDS = ("state_dict",)
    FIX_TITLE = "Call `state_dict()` / keep the model `load_state_dict` was called on"

    def visit_Call(self, node: cst.Call) -> None:
        if self.facts.qualified_name(node.func) in SAVE_FUNCTIONS and node.args:
            site = self.facts.call_site(node)
            saved = call_argument(node, 0, "obj")
            # ``torch.save({"model": model.state_dict, ...}, path)`` too
            values = [element.value for element in saved.elements if isinstance(element, cst.DictElement)] if isinstance(saved, cst.Dict) else [saved]
            for value in values:
                if isinstance(value, cst.Attribute) and value.attr.value == "state_dict" and not self._is_a_field(value, site):
                    self.report(node, self.MESSAGE.format(method=cst.Module([]).code_for_node(value)), fix=[Replace(value, (value, "()"))])
                    return

    def _is_a_field(self, saved: cst.Attribute, site) -> bool:
        """``snapshot.state_dict`` where a class of the file stores a ``state_dict`` field (a
        dataclass, a record): a value, not the module method."""
        if site is None or self.facts.is_module_instance(saved.value, site.scope, site.index):
            return False
        _, built = self.facts.constructor_of(saved.value, site.scope, site.index)
        found = self.facts.class_of(built.func) if built is not None else None
        if found is not None:
            info = found.info
            return "state_dict" in info.self_bindings or any(
                isinstance(statement, cst.SimpleStatementLine) and any(
                    isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name) and small.target.value == "state_dict"
                    for small in statement.body)
                for statement in info.node.body.body
            )
        return False

    def visit_Assign(self, node: cst.Assign) -> None:
        value = node.value
        if not (isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and value.func.attr.value == "load_state_dict"):
            return
        model = dotted_name(value.func.value)
        if model and any(dotted_name(target.target) == model for target in node.targets):
            # with one target the call alone is the repair; ``a = model = ...`` also binds ``a``
            fix = [Replace(node, value)] if len(node.targets) == 1 else []
            self.report(value, self.REPLACED_MESSAGE.format(model=model), fix=fix)

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: the saved bound method is refused by torch.load(weights_only=True) and restores nothing", bad["checkpoint_load_failed"] and not bad["reloaded_matches"]),
            ("good: the saved dict of tensors loads and reproduces the outputs", not good["checkpoint_load_failed"] and good["reloaded_matches"]),
            ("bad: model = model.load_state_dict(...) leaves no module, and the next call raises", not bad["restored_is_module"] and bad["restored_call_failed"]),
            ("good: loading in place keeps the module, which reproduces the best outputs", good["restored_is_module"] and not good["restored_call_failed"] and good["restored_matches"]),
        ]
