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
    MESSAGE = "`load_state_dict(..., strict=False)` skips every key that does not match and this throws away the list of them: check the returned `missing_keys` and `unexpected_keys`"
    TRIGGER_WORDS = ("strict",)

    def visit_Expr(self, node: cst.Expr) -> None:
        call = node.value
        if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) and call.func.attr.value == "load_state_dict":
            if is_constant(call_argument(call, 1, "strict"), "False"):
                self.report(call)

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
