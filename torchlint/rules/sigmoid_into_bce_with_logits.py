"""The output of a sigmoid is passed to `BCEWithLogitsLoss`, which applies the sigmoid itself.

## What it does
Flags `nn.BCEWithLogitsLoss` and `F.binary_cross_entropy_with_logits` whose *input* is the
output of a sigmoid: `torch.sigmoid`, `F.sigmoid`, `tensor.sigmoid()`, an `nn.Sigmoid` module,
an `nn.Sequential` ending in `nn.Sigmoid`, or a model of the file or the project whose
`forward` returns a sigmoid. The value is followed through local names, reshapes and a
function's parameters to what its callers pass, as for TL201.

## Why is this bad?
The loss computes `sigmoid(input)` itself, so the model's probabilities are squeezed a second
time into [0.5, 0.73]: for positive targets the loss cannot fall below about 0.313, the
gradients shrink, and the model trains towards the wrong optimum without any error.

## Example
```python
import torch
import torch.nn as nn


def loss_of(model, x, y):
    probs = torch.sigmoid(model(x))
    return nn.BCEWithLogitsLoss()(probs, y)
```

## Use instead
```python
import torch
import torch.nn as nn


def loss_of(model, x, y):
    logits = model(x)
    return nn.BCEWithLogitsLoss()(logits, y)
```

## Not flagged
- A sigmoid used for display or prediction while the loss receives the logits.
- A sigmoid applied to the *target* (soft labels).
- A `forward` that returns a sigmoid only on some paths (`if not self.training`).
- Input whose provenance cannot be seen (a parameter with no callers in view, a library model).

## Fix safety
Safe. The loss gets the logits, as for TL201: a sigmoid inside the loss call is removed, one
bound to a name only the loss reads becomes its input, or the name holding the logits replaces
the probabilities in the loss call. No fix when the sigmoid is inside a model's `forward`.

## Runtime evidence
On a separable task with positive targets, the bad model's training loss stays above the floor
that a double sigmoid imposes (about 0.313), while the good model's loss falls well below it.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.torch_api import BCE_WITH_LOGITS, SIGMOID
from torchlint.edits import Replace
from torchlint.rule import Rule


class SigmoidIntoBCEWithLogits(Rule):
    CODE = "TL202"
    NAME = "sigmoid-into-bce-with-logits"
    MESSAGE = "`BCEWithLogitsLoss` receives the output of a sigmoid, but it applies the sigmoid itself: pass the raw logits"
    FIX_TITLE = "Pass the logits to the loss instead of the sigmoid"
    TRIGGER_WORDS = ("with_logits", "withlogits")

    def visit_Call(self, node: cst.Call) -> None:
        site = self.facts.call_site(node)
        loss = self.facts.loss_input(site)
        if loss is not None and loss[0] == BCE_WITH_LOGITS and self.facts.output_kind(loss[1], site.scope, site.index) == SIGMOID:
            # the loss gets the logits; the activation stays in case its result has another use
            logits = self.facts.activation_input(loss[1], site.scope, site.index, SIGMOID)
            self.report(node, fix=[Replace(*logits)] if logits else [])

    @classmethod
    def runtime_claim(cls, bad, good):
        floor = bad["loss_floor"]  # -log(sigmoid(1)) for positives, log(2) for negatives, averaged
        return [
            ("bad: the loss stays at the sigmoid-then-sigmoid floor (above 0.31)", bad["final_loss"] > 0.99 * floor and bad["final_loss"] > 0.31),
            ("bad: the probabilities the loss sees are squeezed into [0.5, sigmoid(1) = 0.731]", bad["min_effective_probability"] >= 0.5 - 1e-6 and bad["max_effective_probability"] <= 0.7311),
            ("good: the loss falls well below that floor", good["final_loss"] < 0.1 * good["loss_floor"]),
            ("good: the probabilities the loss sees span nearly all of [0, 1]", good["min_effective_probability"] < 0.05 and good["max_effective_probability"] > 0.95),
        ]
