"""Gradients are cleared after `backward()` and before the optimizer's `step()`.

## What it does
Flags, within one iteration (or one function), a `zero_grad()` on an optimizer, or on the model
that optimizer updates, placed after `.backward()` and before that same optimizer's `.step()`.
When the optimizer's model is not in view (both are parameters) and only one optimizer is
stepped, a model cleared there is taken to be that optimizer's.

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
- Clearing on a path that skips the step: inside an `if` or `except` the step is not in
  (`if not torch.isfinite(loss): optimizer.zero_grad(); continue`).
- Gradient surgery that clears and then writes `p.grad = g` before stepping.
- `p.grad = None` for some parameters (freezing a layer for the first epoch): it clears those
  parameters, not the optimizer's gradients.

## Fix safety
Safe. The clearing line (comment included) moves to just above the `backward()` of that
iteration. Offered only when nothing else can notice the move: the backward is written in the
same function, both run on the same iterations (no `if` or `try` around one only), no code in
the function reads or writes `.grad`, and no helper outside the file is handed the model.

## Runtime evidence
In the bad loop the parameters are exactly unchanged by `step()`; in the good loop they change.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.events import BACKWARD, GRAD_WRITE, STEP, UNKNOWN, ZERO_GRAD
from torchlint.analysis.names import named_like_optimizer
from torchlint.edits import Move
from torchlint.rule import Rule


class ZeroGradBetweenBackwardAndStep(Rule):
    CODE = "TL302"
    NAME = "zero-grad-between-backward-and-step"
    MESSAGE = "`{cleared}.zero_grad()` erases the gradients `backward()` just computed, before `{optimizer}.step()` uses them; clear before `backward()` or after `step()`"
    TRIGGER_WORDS = ("zero_grad",)
    FIX_TITLE = "Clear the gradients before `backward()` instead"

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._check(self.facts.scope_of(node))

    def visit_Module(self, node: cst.Module) -> None:
        self._check(self.facts.module_scope)

    def _check(self, scope) -> None:
        events = self.facts.events_of(scope)
        stepped = {event.receiver for event in events if event.kind == STEP and event.receiver}
        for position, step in enumerate(events):
            if step.kind != STEP or not step.receiver:
                continue
            model = self.facts.optimizer_model(step.receiver, scope)
            # With one optimizer and its model not in view (both parameters, say), a model that
            # is cleared between backward and step is the one that optimizer updates.
            clears_model_of_the_only_optimizer = model is None and len(stepped) == 1
            clearings = []
            for event in reversed(events[:position]):
                if event.kind == STEP:
                    break
                if event.kind in (BACKWARD, GRAD_WRITE):
                    # only clearing written in this scope: a helper's own clearing is reported there
                    for cleared in clearings:
                        self.report(cleared.node, self.MESSAGE.format(cleared=cleared.receiver, optimizer=step.receiver),
                                    fix=self._clear_before(cleared, event, scope, events))
                    break
                # ``p.grad = None`` (no receiver) clears some parameters, not the optimizer:
                # freezing a layer for a while is not this bug
                if event.kind == ZERO_GRAD and event.receiver and event.node is event.anchor and self.facts.runs_whenever(event, step) and (
                    event.receiver in (step.receiver, model)
                    or (clears_model_of_the_only_optimizer and not named_like_optimizer(event.receiver))
                ):
                    clearings.append(event)

    def _clear_before(self, cleared, backward, scope, events) -> list:
        """Move the clearing to just above the backward, when that changes nothing but the
        gradients the step sees: both run on the same iterations, the backward is written here,
        and no code in the function reads ``.grad`` or hands the model to a helper we cannot see."""
        if (backward.kind != BACKWARD or backward.node is not backward.anchor or any(event.kind == UNKNOWN for event in events)
                or self.facts.reads_gradients(scope)
                or not (self.facts.runs_whenever(cleared, backward) and self.facts.runs_whenever(backward, cleared))):
            return []
        return [Move(cleared.node, before=backward.node)]

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: step() leaves the parameters unchanged", bad["param_change"] == 0.0),
            ("good: step() changes the parameters", good["param_change"] > 0.0),
        ]
