"""Gradient clipping that runs after `step()` or before `backward()`.

## What it does
Flags `torch.nn.utils.clip_grad_norm_` and `clip_grad_value_` in a training loop when, in one
iteration in program order, the clipping follows the optimizer's `step()` (with no `backward()`
in between), or comes before the iteration's `backward()`.

## Why is this bad?
Clipping changes `.grad` for the `step()` that follows it. After the step, it clips gradients
that have already been applied (and are cleared next); before `backward()`, it clips the
previous batch's gradients, or zeros. Either way the update is never clipped: the exploding
gradients it was meant to tame go straight into the weights.

## Example
```python
import torch


def train(model, loader, optimizer, loss_fn):
    for x, y in loader:
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
```

## Use instead
```python
import torch


def train(model, loader, optimizer, loss_fn):
    for x, y in loader:
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
```

## Not flagged
- Clipping between `backward()` and `step()`, with or without `scaler.unscale_(optimizer)` first.
- `clip_grad_norm_(params, float("inf"))`, which clips nothing: it measures the norm for logging.
- Clipping inside a helper of the file (reported where it is written), and loops with a helper
  that cannot be seen between the clipping and the step.

## Runtime evidence
With SGD at learning rate 1, the bad program's update has a norm above the clipping bound; the
good program's stays within it.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.events import BACKWARD, CLIP, STEP, UNKNOWN
from torchlint.analysis.facts import call_argument
from torchlint.analysis.order import first_of, preceding
from torchlint.rule import Rule


class ClipGradOutsideBackwardAndStep(Rule):
    CODE = "TL307"
    NAME = "clip-grad-outside-backward-and-step"
    AFTER_STEP = "gradients are clipped after `step()` has applied them: the update is not clipped; clip between `backward()` and `step()`"
    BEFORE_BACKWARD = "gradients are clipped before `backward()` computes them: the update is not clipped; clip between `backward()` and `step()`"
    MESSAGE = AFTER_STEP
    TRIGGER_WORDS = ("clip_grad",)

    def visit_Module(self, node: cst.Module) -> None:
        reported = set()
        for loop in self.facts.training_loops:
            events = loop.events
            for position, event in enumerate(events):
                if event.kind != CLIP or event.node is not event.anchor or event.node in reported or _measures_only(event.node):
                    continue
                earlier = first_of(preceding(events, position), (BACKWARD, STEP, UNKNOWN))
                later = first_of(events[position + 1:], (BACKWARD, STEP, UNKNOWN))
                if earlier is not None and earlier.kind == STEP and not self.facts.in_exclusive_branches(event, earlier):
                    reported.add(event.node)
                    self.report(event.node, self.AFTER_STEP)
                elif earlier is None and later is not None and later.kind == BACKWARD:
                    reported.add(event.node)
                    self.report(event.node, self.BEFORE_BACKWARD)

    @classmethod
    def runtime_claim(cls, bad, good):
        bound = bad["max_norm"]
        return [
            ("bad: with SGD at lr=1 every update is far larger than max_norm: the clip did not reach it", bad["update_norm_min"] > 5 * bound),
            ("good: the raw gradients were larger than max_norm, so clipping had work to do", good["grad_norm_min"] > 2 * good["max_norm"]),
            ("good: no update is larger than max_norm", good["update_norm_max"] <= good["max_norm"] * (1 + 1e-4)),
        ]


def _measures_only(call: cst.Call) -> bool:
    """``clip_grad_norm_(params, float("inf"))`` clips nothing: it measures the norm for logging."""
    bound = call_argument(call, 1, "max_norm")
    code = cst.Module([]).code_for_node(bound) if bound is not None else ""
    return code.replace(" ", "") in ('float("inf")', "float('inf')", "math.inf", "torch.inf", "np.inf", "numpy.inf")
