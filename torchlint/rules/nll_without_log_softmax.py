"""`NLLLoss` receives something that is not log-probabilities.

## What it does
Flags `nn.NLLLoss` and `F.nll_loss` whose *input* is known to be something other than
log-probabilities: the output of a softmax (the most common form), of a sigmoid, or the raw
logits of a linear layer (an `nn.Linear`, a Sequential ending in one, or a model whose
`forward` returns one). Values are followed as for TL201.

## Why is this bad?
`NLLLoss` only picks `-input[target]`: it expects `log_softmax` output. Given probabilities or
logits, the loss is unbounded below and goes negative, and training pushes the target's
probability or logit up without the normalisation that makes it a classifier. Nothing raises;
the numbers just stop meaning anything.

## Example
```python
import torch.nn.functional as F


def loss_of(model, x, y):
    probs = F.softmax(model(x), dim=1)
    return F.nll_loss(probs, y)
```

## Use instead
```python
import torch.nn.functional as F


def loss_of(model, x, y):
    return F.nll_loss(F.log_softmax(model(x), dim=1), y)  # or F.cross_entropy(model(x), y)
```

## Not flagged
- Input traced to `log_softmax`, `nn.LogSoftmax` or `torch.log(...)`.
- Test files (`test_*.py`, `*_test.py`, `conftest.py`), whose losses are often dummies that
  exercise the code around them.
- Input whose provenance cannot be seen (a parameter with no callers in view, a model from a
  library): torchlint does not guess.

## Runtime evidence
The bad program's training loss goes negative; the good program's stays non-negative and its
accuracy is high.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.torch_api import LOGITS, NLL, SIGMOID, SOFTMAX
from torchlint.rule import Rule

NOT_LOG_PROBABILITIES = {SOFTMAX: "softmax probabilities", SIGMOID: "sigmoid probabilities", LOGITS: "raw logits"}


class NLLWithoutLogSoftmax(Rule):
    CODE = "TL203"
    NAME = "nll-without-log-softmax"
    MESSAGE = "`NLLLoss` expects log-probabilities but receives {kind}: apply `log_softmax` first, or use `cross_entropy` on the logits"
    TRIGGER_WORDS = ("nll",)

    def visit_Call(self, node: cst.Call) -> None:
        if self.facts.is_test_file:
            return
        site = self.facts.call_site(node)
        loss = self.facts.loss_input(site)
        if loss is None or loss[0] != NLL:
            return
        kind = self.facts.output_kind(loss[1], site.scope, site.index)
        if kind in NOT_LOG_PROBABILITIES:
            self.report(node, self.MESSAGE.format(kind=NOT_LOG_PROBABILITIES[kind]))

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: the loss goes negative (on probabilities nll_loss is -p(target), never below -1)", -1.0 - 1e-6 <= bad["final_loss"] < -0.5),
            ("good: the loss stays non-negative and the classifier is accurate", good["final_loss"] >= 0.0 and good["accuracy"] > 0.95),
        ]
