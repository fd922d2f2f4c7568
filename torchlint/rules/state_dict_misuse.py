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

## Runtime evidence
The bad program's checkpoint does not load back as a dictionary of tensors, and its `model`
becomes an `_IncompatibleKeys` tuple whose call fails; the good program's round trip works.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.names import dotted_name
from torchlint.rule import Rule

SAVE_FUNCTIONS = frozenset({"torch.save"})


class StateDictMisuse(Rule):
    CODE = "TL602"
    NAME = "state-dict-misuse"
    MESSAGE = "`{method}` without `()` saves the bound method, not the weights: call `{method}()`"
    REPLACED_MESSAGE = "`load_state_dict` returns the missing and unexpected keys, not the model: this replaces `{model}` with them; call it without assigning"
    TRIGGER_WORDS = ("state_dict",)

    def visit_Call(self, node: cst.Call) -> None:
        if self.facts.qualified_name(node.func) in SAVE_FUNCTIONS and node.args:
            saved = node.args[0].value
            if isinstance(saved, cst.Attribute) and saved.attr.value == "state_dict":
                self.report(node, self.MESSAGE.format(method=cst.Module([]).code_for_node(saved)))

    def visit_Assign(self, node: cst.Assign) -> None:
        value = node.value
        if not (isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and value.func.attr.value == "load_state_dict"):
            return
        model = dotted_name(value.func.value)
        if model and any(dotted_name(target.target) == model for target in node.targets):
            self.report(value, self.REPLACED_MESSAGE.format(model=model))
