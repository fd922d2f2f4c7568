"""The output of a softmax is passed to a cross-entropy loss, which applies log-softmax itself.

## What it does
Flags a cross-entropy loss (`nn.CrossEntropyLoss`, `F.cross_entropy`) whose *input* is the output
of a softmax: `F.softmax`, `torch.softmax`, `tensor.softmax`, an `nn.Softmax` module, an
`nn.Sequential` that ends in `nn.Softmax`, a model defined in the same file (or in another
file of the same run) whose `forward` returns a softmax, or a model whose output head (`model.fc`, `model.classifier`, `model.head`)
was replaced by one of those. The value is followed through local names and through
`.to(device)`-style calls that return the module itself.

## Why is this bad?
`CrossEntropyLoss` expects raw logits: it computes `log_softmax` itself. Feeding it probabilities
applies softmax twice. The loss can then never fall below a floor well above zero, the gradients
reaching the logits shrink, and training stalls or converges to a worse model, silently.

## Example
```python
import torch.nn as nn
import torch.nn.functional as F

def loss_of(model, x, y):
    probs = F.softmax(model(x), dim=1)
    return nn.CrossEntropyLoss()(probs, y)
```

## Use instead
```python
import torch.nn as nn

def loss_of(model, x, y):
    logits = model(x)
    return nn.CrossEntropyLoss()(logits, y)
```

## Not flagged
- Softmax applied to the *target* (soft labels in knowledge distillation): the target of
  `cross_entropy` may be probabilities.
- Softmax computed for display or prediction, not fed to the loss.
- A `forward` that returns probabilities only on some paths (`if not self.training`): its
  training output is logits.
- `log_softmax` into cross-entropy: harmless, since log-softmax is idempotent.

## Fix safety
Safe. The loss gets the logits: a softmax written inside the loss call is removed; a softmax
bound to a name that only the loss reads becomes its input (the name then holds the logits);
otherwise, when the softmax's input is a name that still holds the logits, that name replaces
the probabilities in the loss call and the probabilities stay for their other uses. No fix when
the softmax is inside a model's `forward` (changing a model's output is not a local repair).

## Runtime evidence
On a small separable task trained for the same number of steps, the bad model's loss stays above
the floor that softmax-then-log-softmax imposes for the fixture's class count, while the good
model's loss falls well below it; the gradient reaching the logits is measurably smaller.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.torch_api import CROSS_ENTROPY, SOFTMAX
from torchlint.edits import Replace
from torchlint.rule import Rule


class SoftmaxIntoCrossEntropy(Rule):
    CODE = "TL201"
    NAME = "softmax-into-cross-entropy"
    MESSAGE = "cross-entropy receives the output of a softmax, but it applies log-softmax itself: pass the raw logits"
    # the loss is in this file; the softmax may come from a model defined in another
    FIX_TITLE = "Pass the logits to the loss instead of the softmax"
    TRIGGER_WORDS = ("cross_entropy", "crossentropy")

    def visit_Call(self, node: cst.Call) -> None:
        site = self.facts.call_site(node)
        loss = self.facts.loss_input(site)
        if loss is not None and loss[0] == CROSS_ENTROPY and self.facts.output_kind(loss[1], site.scope, site.index) == SOFTMAX:
            # the loss gets the logits; the activation stays in case its result has another use
            logits = self.facts.activation_input(loss[1], site.scope, site.index, SOFTMAX)
            self.report(node, fix=[Replace(*logits)] if logits else [])

    @classmethod
    def runtime_claim(cls, bad, good):
        floor = bad["loss_floor"]
        return [
            ("bad: the loss stays above the softmax-then-log-softmax floor", bad["final_loss"] > floor),
            ("good: the loss falls well below that floor", good["final_loss"] < 0.5 * floor),
            ("bad: the gradient reaching the logits is smaller", bad["logit_grad_norm"] < 0.5 * good["logit_grad_norm"]),
        ]
