"""A sigmoid followed by `BCELoss`: the numerically unstable form of `BCEWithLogitsLoss`.

## What it does
Flags `nn.BCELoss` and `F.binary_cross_entropy` whose *input* is the output of a sigmoid
(`torch.sigmoid`, `F.sigmoid`, `tensor.sigmoid()`, `nn.Sigmoid`, a Sequential ending in one, a
model whose `forward` returns a sigmoid), followed as for TL201.

## Why is this bad?
`BCELoss` takes the log of the probability, which underflows for confident predictions: with a
logit of -40 and a positive target the true loss is about 40, but the sigmoid rounds to 0 in
float32 and `BCELoss` clamps its log at -100, so the loss reads 100 and the gradient reaching
the logit is 0. The examples the model gets most wrong stop teaching it anything.
`BCEWithLogitsLoss` fuses the two with the log-sum-exp trick and stays exact.

## Example
```python
import torch
import torch.nn as nn


def loss_of(model, x, y):
    probs = torch.sigmoid(model(x))
    return nn.BCELoss()(probs, y)
```

## Use instead
```python
import torch
import torch.nn as nn


def loss_of(model, x, y):
    return nn.BCEWithLogitsLoss()(model(x), y)
```

## Not flagged
- `BCELoss` on probabilities whose source cannot be seen (a model from a library, a parameter
  with no callers in view): a model that outputs probabilities by design is fine; add
  `# noqa: TL204` where the sigmoid is visible and wanted.
- `BCEWithLogitsLoss` on logits; `BCELoss` on values that are not a sigmoid's (a clamp, a
  softmax column).

## Runtime evidence
For a logit of -40 and a positive target, the bad program's loss is exactly 100 (the clamp) and
the logit's gradient is 0; the good program's loss is about 40 and its gradient about -1.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.torch_api import BCE, SIGMOID
from torchlint.rule import Rule


class SigmoidIntoBCELoss(Rule):
    CODE = "TL204"
    NAME = "sigmoid-into-bce-loss"
    MESSAGE = "`BCELoss` after a sigmoid loses precision for confident predictions (its log is clamped at -100 and the gradient vanishes): use `BCEWithLogitsLoss` on the logits"
    TRIGGER_WORDS = ("bce", "binary_cross_entropy")

    def visit_Call(self, node: cst.Call) -> None:
        site = self.facts.call_site(node)
        loss = self.facts.loss_input(site)
        if loss is not None and loss[0] == BCE and self.facts.output_kind(loss[1], site.scope, site.index) == SIGMOID:
            self.report(node)

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: at logit +40 on a negative example BCELoss reads its clamp, 100, not the exact 40", abs(bad["loss"] - 100.0) < 1e-4 and abs(bad["exact_loss"] - 40.0) < 1e-3),
            ("bad: the gradient reaching the logit is exactly 0", bad["logit_grad"] == 0.0),
            ("bad: training never corrects the confident mistake", abs(bad["loss_after_training"] - 100.0) < 1e-4),
            ("good: the loss is the exact one and the gradient is sigmoid(40) - 0 = 1", abs(good["loss"] - good["exact_loss"]) < 1e-3 and abs(good["logit_grad"] - 1.0) < 1e-3),
            ("good: training corrects the confident mistake", good["loss_after_training"] < 1.0),
        ]
