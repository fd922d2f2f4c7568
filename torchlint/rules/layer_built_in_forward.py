"""A layer with parameters is constructed inside `forward`.

## What it does
Flags the construction of a module that owns parameters (`nn.Linear`, `nn.Conv2d`,
`nn.BatchNorm1d`, `nn.LSTM`, ...) or of an `nn.Parameter` inside the `forward` method of an
`nn.Module` subclass, or inside a method that only `forward` calls.

## Why is this bad?
A layer built in `forward` gets fresh random weights on every call. It is never registered with
the model, so it is missing from `model.parameters()` (the optimizer never updates it) and from
`state_dict()` (a saved checkpoint does not contain it). The model trains around noise and two
calls on the same input disagree, without any error.

## Example
```python
import torch.nn as nn

class Classifier(nn.Module):
    def forward(self, x):
        head = nn.Linear(16, 4)
        return head(x)
```

## Use instead
```python
import torch.nn as nn

class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        return self.head(x)
```

## Not flagged
- Parameter-free modules (`nn.ReLU()`, `nn.Flatten()`, `nn.Dropout()`): building them in
  `forward` is wasteful but computes the right thing.
- Layers constructed with `affine=False` / `elementwise_affine=False`, which own no parameters.
- First-time lazy initialisation guarded by a condition (`if self.head is None: self.head =
  nn.Linear(...)`, also when moved with `.to(x.device)`, or `if key not in self.heads:
  self.heads[key] = nn.Linear(...)` into a ModuleDict): the layer is built once and registered.
  Build the optimizer after a first forward pass. A guarded rebuild that *replaces* a layer
  `__init__` registered (`if x.shape[1] != self.fc.in_features: self.fc = nn.Linear(...)`) is
  flagged: an optimizer built from `model.parameters()` keeps training the old layer.
- A layer `__init__` builds in one branch of a test and `forward` builds in the other branch
  of the same test (`if self.use_pool: ...`): it is built once, in one of the two places.
- `forward` of classes that are not modules (`torch.autograd.Function`).

## Fix safety
Unsafe (applied with `--unsafe-fixes`). The construction moves to the end of `__init__` as
`self.<name>` (the name it was assigned to in `forward`, else the layer's kind) and `forward`
uses that attribute, keeping any `.to(...)` after it. The layer's weights then join
`parameters()` and `state_dict()`, so a checkpoint saved before no longer loads strictly, and
they are drawn once at construction, which shifts later random numbers. Offered only when the
construction is not inside a loop or branch and its arguments are constants or `self`
attributes that `__init__` sets; the name must be free.

## Runtime evidence
The fixture builds `nn.Linear` in `forward`. Its weights are absent from `model.parameters()`
and `state_dict()`, two eval-mode forwards on one input differ, and an optimizer step leaves the
layer's weights as they were; the good model registers its layer and is deterministic.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis import torch_api
from torchlint.analysis.facts import is_constant, is_literal, is_self_attribute
from torchlint.edits import InsertAfter, Replace
from torchlint.findings import FixSafety
from torchlint.rule import Rule


class LayerBuiltInForward(Rule):
    CODE = "TL101"
    NAME = "layer-built-in-forward"
    MESSAGE = "`{layer}` is constructed inside `{method}`: its weights are re-created on every call and never trained; build it in `__init__`"
    REPLACEMENT_MESSAGE = "`{layer}` in `{method}` replaces `self.{attribute}` built in `__init__`: an optimizer created before this call keeps updating the old layer and never trains the new one"
    TRIGGER_WORDS = ("torch",)
    # Unsafe: the layer's weights join state_dict() (a checkpoint saved before no longer loads
    # strictly) and are drawn at construction, which shifts every later random number.
    FIX_TITLE = "Build the layer once in `__init__`"
    FIX_SAFETY = FixSafety.UNSAFE

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        info = self.facts.class_info(node)
        if not self.facts.is_module_class(info):
            return
        for method in self.facts.forward_reach(info):
            for site in self.facts.calls_within(method):
                layer = self._parameterised_layer(site.node)
                if layer is None:
                    continue
                if site.assigned_to_self and any(isinstance(block, cst.If) for block in site.blocks):
                    if self._registered_in_init(info, site.assigned_to_self, site):
                        message = self.REPLACEMENT_MESSAGE.format(layer=layer, method=method.name, attribute=site.assigned_to_self)
                        self.report(site.node, message)
                    continue  # first-time lazy initialisation: built once, then registered
                self.report(site.node, self.MESSAGE.format(layer=layer, method=method.name), fix=self._built_in_init(info, site, layer))

    def _built_in_init(self, info, site, layer: str) -> list:
        """Build the layer once, as the last statement of ``__init__``, under the name it is
        assigned to in ``forward`` (``head = nn.Linear(...)`` becomes ``self.head``), and use
        that attribute where it was built. Only when the construction is not inside a loop or
        branch (each pass would build its own) and every argument means the same in ``__init__``:
        constants, and ``self`` attributes that ``__init__`` sets."""
        init = info.methods.get("__init__")
        statements = init.node.body.body if init is not None and isinstance(init.node.body, cst.IndentedBlock) else ()
        if not statements or site.blocks or not all(self._available_in_init(arg, info, init) for arg in site.node.args):
            return []
        attribute = self.facts.assigned_name(site) or layer.rsplit(".", 1)[-1].lower()
        if attribute in info.self_bindings or attribute in info.methods or attribute in site.scope.self_attributes:
            return []
        return [Replace(site.node, f"self.{attribute}"), InsertAfter(statements[-1], (f"self.{attribute} = ", site.node))]

    def _available_in_init(self, arg: cst.Arg, info, init) -> bool:
        value = arg.value
        if arg.star or not (is_literal(value) or self.facts.qualified_name(value) is not None or isinstance(value, cst.Attribute)):
            return False
        if isinstance(value, cst.Attribute) and self.facts.qualified_name(value) is None:
            return is_self_attribute(value, value.attr.value) and any(where is init for _, _, where in info.self_bindings.get(value.attr.value, []))
        return True


    def _registered_in_init(self, info, attribute: str, rebuild) -> bool:
        """``__init__`` already stored a layer with parameters under this name, on a path the
        rebuild can follow: not in the other branch of the same test (``if self.pool: ... else:``
        in both methods builds the layer once, in one of them)."""
        init = info.methods.get("__init__")
        return init is not None and any(
            where is init and isinstance(value, cst.Call) and self._parameterised_layer(value) is not None
            and not self._exclusive(self.facts.call_site(value), rebuild)
            for _, value, where in info.self_bindings.get(attribute, [])
        )

    def _exclusive(self, first, second) -> bool:
        """The two calls sit in opposite branches of ``if`` statements with the same test."""
        if first is None:
            return False
        code = cst.Module([]).code_for_node
        for one in first.blocks:
            for other in second.blocks:
                if isinstance(one, cst.If) and isinstance(other, cst.If) and code(one.test) == code(other.test):
                    if self.facts.branch_of(one, first.index) != self.facts.branch_of(other, second.index):
                        return True
        return False

    def _parameterised_layer(self, call: cst.Call):
        qualified = self.facts.qualified_name(call.func)
        if qualified in torch_api.PARAMETER_CONSTRUCTORS:
            return "nn.Parameter"
        layer = torch_api.torch_nn_class(qualified)
        if layer in torch_api.PARAMETERISED_ONLY_WHEN_AFFINE:
            return f"nn.{layer}" if _keyword_is(call, "affine", "True") else None
        if layer not in torch_api.PARAMETERISED_LAYERS:
            return None
        if any(_keyword_is(call, keyword, "False") for keyword in torch_api.PARAMETERLESS_WHEN_FALSE):
            return None
        return f"nn.{layer}"

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: the layer's weights are missing from model.parameters()", not bad["layer_in_parameters"]),
            ("bad: the layer's weights are missing from state_dict()", not bad["layer_in_state_dict"]),
            ("bad: two eval-mode forwards on one input differ", bad["repeat_forward_max_diff"] > 1e-6),
            ("bad: an optimizer step does not update the layer used", not bad["layer_updated_by_step"]),
            ("good: the layer is registered and saved", good["layer_in_parameters"] and good["layer_in_state_dict"]),
            ("good: repeated forwards agree", good["repeat_forward_max_diff"] <= 1e-6),
            ("good: an optimizer step updates the layer", good["layer_updated_by_step"]),
        ]


def _keyword_is(call: cst.Call, keyword: str, constant: str) -> bool:
    return any(
        arg.keyword is not None and arg.keyword.value == keyword and is_constant(arg.value, constant)
        for arg in call.args
    )
