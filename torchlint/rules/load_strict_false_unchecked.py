"""`load_state_dict(..., strict=False)` whose result nobody looks at.

## What it does
Flags `model.load_state_dict(sd, strict=False)` used as a statement of its own, so that the
missing and unexpected keys it returns are thrown away.

## Why is this bad?
`strict=False` turns every mismatch into a silent skip. A checkpoint saved from
`DataParallel` has keys prefixed `module.`: nothing matches, nothing is loaded, and training or
evaluation goes on from random weights without a word. The returned keys are the only sign.

## Example
```python
def restore(model, state):
    model.load_state_dict(state, strict=False)
```

## Use instead
```python
def restore(model, state):
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing:
        raise ValueError(f"checkpoint lacks {missing}")
```

## Not flagged
- The result assigned (and so, presumably, inspected), and `strict=True` or no `strict`.
- A dict whose keys are known in view: a model's own `state_dict()`, a comprehension over a
  model's own parameters, a dict filled in view, or one filtered against the model (`intersect_dicts(ckpt, model.state_dict())`).

## Off by default
On the real-code benchmark 20 of its 23 findings were right; the others restored state whose keys are known by construction elsewhere (an EMA copy's own state, layers loaded one by one just before, a test comparing outputs). Turn it on with `--extend-select TL603`
(or `extend-select = ["TL603"]`).

## Runtime evidence
Loading a `module.`-prefixed checkpoint with `strict=False` leaves the bad program's weights
unchanged and every key missing; the good program notices and strips the prefix.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.facts import call_argument, is_constant
from torchlint.rule import Rule


class LoadStrictFalseUnchecked(Rule):
    CODE = "TL603"
    NAME = "load-strict-false-unchecked"
    # Off until its precision on the real-code benchmark reaches 90 % (see "Off by default").
    DEFAULT_ENABLED = False
    MESSAGE = "`load_state_dict(..., strict=False)` skips every key that does not match and this throws away the list of them: check the returned `missing_keys` and `unexpected_keys`"
    TRIGGER_WORDS = ("strict",)

    def visit_Expr(self, node: cst.Expr) -> None:
        call = node.value
        if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) and call.func.attr.value == "load_state_dict":
            if is_constant(call_argument(call, 1, "strict"), "False") and not self._matched_in_view(call):
                self.report(call)

    def _matched_in_view(self, call: cst.Call) -> bool:
        """The dict is a model's own ``state_dict()``, a comprehension built in view, or filtered
        against the model (``intersect_dicts(ckpt, model.state_dict())``): its keys are known."""
        site = self.facts.call_site(call)
        state = call_argument(call, 0, "state_dict")
        if site is None or state is None:
            return False
        bound = self.facts.resolve(state, site.scope, site.index).expr
        if isinstance(bound, cst.Dict):
            return True  # ``load_dict = {}`` filled in view, key by key
        if isinstance(bound, cst.DictComp):  # built from a model's own parameters, not a checkpoint's
            return _mentions_state_dict_call(bound.for_in.iter)
        return isinstance(bound, cst.Call) and (_is_state_dict_call(bound) or any(_is_state_dict_call(arg.value) for arg in bound.args))

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: the DataParallel checkpoint matches no key: torch reports every model key missing and every checkpoint key unexpected",
             bad["parallel_missing_keys"] == bad["model_keys"] and bad["parallel_unexpected_keys"] == bad["checkpoint_keys"] > 0),
            ("bad: loading it changes no weight, and nothing raises or warns",
             not bad["parallel_changed_weights"] and not bad["parallel_backbone_loaded"] and not bad["parallel_raised"] and bad["parallel_warnings"] == 0),
            ("good: checking the returned keys reports the mismatch", good["parallel_raised"] and not good["parallel_changed_weights"]),
            ("both: a checkpoint whose keys match loads the backbone, and the check lets the missing head through",
             bad["plain_backbone_loaded"] and good["plain_backbone_loaded"] and not good["plain_raised"]),
        ]


def _is_state_dict_call(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value in ("state_dict", "named_parameters")


def _mentions_state_dict_call(expr: cst.CSTNode) -> bool:
    pending = [expr]
    while pending:
        node = pending.pop()
        if _is_state_dict_call(node):
            return True
        pending.extend(node.children)
    return False
