"""Gradients are cleared after `backward()` and before the optimizer's `step()`.

## What it does
Flags, within one iteration (or one function), a `zero_grad()` on an optimizer, or on the model
that optimizer updates, placed after `.backward()` and before that same optimizer's `.step()`.

## Why is this bad?
The gradients `backward()` just computed are erased before `step()` can use them, so the
optimizer steps with zero gradients: the parameters never change (or change only through weight
decay and momentum). The loss stays flat and nothing reports an error.

## Example
```python
def train(model, loader, optimizer, loss_fn):
    for x, y in loader:
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.zero_grad()
        optimizer.step()
```

## Use instead
```python
def train(model, loader, optimizer, loss_fn):
    for x, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
```

## Not flagged
- Clearing *another* optimizer between a backward and a step, as a GAN does when it clears the
  discriminator between the generator's backward and step.
- Clearing after `step()` (at the end of the loop body), and clearing inside the closure handed
  to `optimizer.step(closure)`, which runs before that closure's own backward.

## Runtime evidence
In the bad loop the parameters are exactly unchanged by `step()`; in the good loop they change.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.events import BACKWARD, STEP, ZERO_GRAD
from torchlint.rule import Rule


class ZeroGradBetweenBackwardAndStep(Rule):
    CODE = "TL302"
    NAME = "zero-grad-between-backward-and-step"
    MESSAGE = "`{cleared}.zero_grad()` erases the gradients `backward()` just computed, before `{optimizer}.step()` uses them; clear before `backward()` or after `step()`"
    TRIGGER_WORDS = ("zero_grad",)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._check(self.facts.scope_of(node))

    def visit_Module(self, node: cst.Module) -> None:
        self._check(self.facts.walk.module_scope)

    def _check(self, scope) -> None:
        events = self.facts.events_of(scope)
        for position, step in enumerate(events):
            if step.kind != STEP or not step.receiver:
                continue
            model = self.facts.optimizer_model(step.receiver, scope)
            clearings = []
            for event in reversed(events[:position]):
                if event.kind == STEP:
                    break
                if event.kind == BACKWARD:
                    # only clearing written in this scope: a helper's own clearing is reported there
                    for cleared in clearings:
                        self.report(cleared.node, self.MESSAGE.format(cleared=cleared.receiver, optimizer=step.receiver))
                    break
                if event.kind == ZERO_GRAD and event.node is event.anchor and event.receiver in (step.receiver, model):
                    clearings.append(event)

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: step() leaves the parameters unchanged", bad["param_change"] == 0.0),
            ("good: step() changes the parameters", good["param_change"] > 0.0),
        ]
