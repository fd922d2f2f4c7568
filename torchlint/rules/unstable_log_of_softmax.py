"""The log of a softmax, computed in two steps instead of with `log_softmax`.

## What it does
Flags `torch.log(p)` and `p.log()` where `p` is the output of a softmax (`F.softmax`,
`torch.softmax`, `x.softmax()`, an `nn.Softmax`, a model whose `forward` returns one), followed
as TL201 follows values.

## Why is this bad?
For large logits the smaller probabilities underflow to exactly 0 in float32, and their log is
`-inf`: the loss becomes `inf` or `NaN` and the run is lost. `log_softmax` computes the same
values with the log-sum-exp trick and stays finite.

## Example
```python
import torch
import torch.nn.functional as F


def log_probabilities(logits):
    return torch.log(F.softmax(logits, dim=-1))
```

## Use instead
```python
import torch.nn.functional as F


def log_probabilities(logits):
    return F.log_softmax(logits, dim=-1)
```

## Not flagged
- `log_softmax`, and a log of a clamped or offset softmax (`torch.log(p.clamp(min=eps))`,
  `torch.log(p + eps)`), which cannot be `-inf`.

## Runtime evidence
With logits of magnitude 100 in float32, the bad program's log-probabilities contain `-inf` and
its loss is not finite; the good program's are finite.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.torch_api import SOFTMAX
from torchlint.rule import Rule


class UnstableLogOfSoftmax(Rule):
    CODE = "TL207"
    NAME = "unstable-log-of-softmax"
    MESSAGE = "the log of a softmax is `-inf` wherever a probability underflows to 0: use `log_softmax`"
    TRIGGER_WORDS = ("softmax",)

    def visit_Call(self, node: cst.Call) -> None:
        site = self.facts.call_site(node)
        if site is None:
            return
        func = node.func
        if self.facts.qualified_name(func) == "torch.log" and node.args:
            argument = node.args[0].value
        elif isinstance(func, cst.Attribute) and func.attr.value == "log" and not node.args and self.facts.qualified_name(func) is None:
            argument = func.value
        else:
            return
        if self.facts.output_kind(argument, site.scope, site.index) == SOFTMAX:
            self.report(node)

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: with logits of magnitude about 100, log(softmax) has -inf entries and the loss, gradients and updated weights are not finite",
             bad["logit_magnitude"] > 50 and bad["neg_inf_log_probs"] > 0 and not bad["loss_finite"] and not bad["grads_finite"] and not bad["weights_finite_after_step"]),
            ("good: on the same logits log_softmax has no -inf entries and the loss, gradients and weights stay finite",
             good["logit_magnitude"] > 50 and good["neg_inf_log_probs"] == 0 and good["loss_finite"] and good["grads_finite"] and good["weights_finite_after_step"]),
            ("both: on mild logits the loss equals F.cross_entropy(label_smoothing=0.1): the difference is numerical only",
             bad["mild_logits_vs_cross_entropy"] < 1e-4 and good["mild_logits_vs_cross_entropy"] < 1e-4),
        ]
