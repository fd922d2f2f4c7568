"""A training loop steps an optimizer but never clears the gradients.

## What it does
Flags a loop that calls `.backward()` and an optimizer's `.step()` with no gradient clearing for
that optimizer or its model anywhere in the loop: no `optimizer.zero_grad()`, `model.zero_grad()`,
`p.grad = None` or `p.grad.zero_()`, neither in the loop body nor in a local helper it calls nor
in the closure handed to `optimizer.step(closure)`.

A hand-written update from the gradients (`w -= lr * w.grad`, `p.data.add_(p.grad, alpha=-lr)`)
is a step too, and the same holds for it.

When the gradients are handed over from another model (`shared._grad = local.grad`, an A3C
worker), that model's gradients are the ones to clear: `optimizer.zero_grad()` on the shared
optimizer sets the shared references to None and leaves the local gradients to accumulate.

The per-batch `training_step` of a LightningModule with `automatic_optimization = False` is a
loop body too: Lightning calls it once per batch and leaves backward, step and clearing to it.

## Why is this bad?
`backward()` *adds* to `.grad`. Without clearing, every step uses the sum of all gradients since
the start of training: the effective learning rate grows with every batch and the updates point
in a stale direction. Training diverges or plateaus, with no error.

## Example
```python
def train(model, loader, optimizer, loss_fn):
    for x, y in loader:
        loss = loss_fn(model(x), y)
        loss.backward()
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
- Gradient accumulation: clearing every k steps (`if (i + 1) % k == 0: ... zero_grad()`) counts.
- Clearing at the end of the loop body, through `model.zero_grad()`, by `p.grad = None` over
  the parameters, in a helper function or in a `step(closure)` closure.
- A GAN that clears each optimizer before its own backward: each optimizer is checked alone.
- Code with no loop (Lightning's automatically optimised `training_step`, a `train_step`
  called from elsewhere): the loop that drives it, and its clearing, is not in view.
- Optimizers stepped by an engine that clears gradients itself (DeepSpeed's `engine.step()`).

## Fix safety
Unsafe (applied with `--unsafe-fixes`). It inserts `optimizer.zero_grad()` (or the clearing
of the model whose gradients are handed over) as the first statement of the loop body. A loop
may accumulate over all its steps on purpose, which only the author knows. No fix for a loop
body written on its header's line, or for parameters updated by hand.

## Runtime evidence
After two iterations on two different batches, the bad loop's parameter gradient equals the sum
of both batches' gradients; the good loop's equals the last batch's alone.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.events import BACKWARD, GRAD_WRITE, STEP, UNKNOWN, ZERO_GRAD
from torchlint.edits import InsertBefore, first_statement
from torchlint.findings import FixSafety
from torchlint.rule import Rule


class MissingZeroGrad(Rule):
    CODE = "TL301"
    NAME = "missing-zero-grad"
    MESSAGE = "`{optimizer}.step()` runs in a loop that never clears gradients: `.backward()` adds to them on every iteration; call `{optimizer}.zero_grad()` each step"
    HANDOVER_MESSAGE = "`{optimizer}.step()` uses gradients handed over from `{source}`, which are never cleared: `.backward()` adds to them on every iteration, and clearing the optimizer only drops its own reference; call `{source}.zero_grad()` each step"
    MANUAL_MESSAGE = "`{parameter}` is updated from its `.grad` in a loop that never clears gradients: `.backward()` adds to them on every iteration; clear them each step (`{parameter}.grad = None`)"
    # the step it reports (an optimizer's, or a hand-written update from ``.grad``) is in this file
    TRIGGER_WORDS = ("step", "grad")
    # Unsafe: a loop without clearing may accumulate gradients over all its steps on purpose.
    FIX_TITLE = "Clear the gradients at the start of each iteration"
    FIX_SAFETY = FixSafety.UNSAFE

    def visit_Module(self, node: cst.Module) -> None:
        loops = self.facts.training_loops
        for loop in loops:
            reported_hand_written = False  # one finding for all the parameters a loop updates by hand
            for optimizer in loop.optimizers:
                model = self.facts.optimizer_model(optimizer, loop.site.scope)
                source = self._handed_over_from(loop, model)
                if self._inner_loop_trains(loop, optimizer, loops) or self._clears(loop, optimizer, model, source):
                    continue
                step = next(event for event in loop.events if event.kind == STEP and event.receiver == optimizer)
                if source is not None:
                    self.report(step.anchor, self.HANDOVER_MESSAGE.format(optimizer=optimizer, source=source), fix=_clear_first(loop, source))
                elif _is_step_call(step.node):
                    self.report(step.anchor, self.MESSAGE.format(optimizer=optimizer), fix=_clear_first(loop, optimizer))
                elif not reported_hand_written:  # ``w -= lr * w.grad``
                    self.report(step.anchor, self.MANUAL_MESSAGE.format(parameter=optimizer))
                    reported_hand_written = True

    def _clears(self, loop, optimizer: str, model, handed_over) -> bool:
        """Some clearing in the loop resets the gradients this optimizer steps with: its own or
        its model's, or, when they are handed over from another model, that model's."""
        known_optimizers = set(loop.optimizers)
        for event in loop.events:
            if event.kind == UNKNOWN or (event.kind == GRAD_WRITE and handed_over is None):
                return True  # a helper we cannot see was handed the model or optimizer; or ``p.grad = g`` overwrites
            if event.kind != ZERO_GRAD:
                continue
            if handed_over is not None:
                # A3C: the optimizer's own gradients are the local model's, handed over each
                # step; clearing the optimizer (set to None) leaves the local ones to accumulate
                if event.receiver in (None, handed_over):
                    return True
                continue
            if event.receiver in (None, optimizer, model):
                return True
            other_models = {self.facts.optimizer_model(other, loop.site.scope) for other in known_optimizers - {optimizer}}
            # clearing something that is neither another optimizer nor another optimizer's model
            if event.receiver not in known_optimizers and event.receiver not in other_models:
                return True
        return False

    def _handed_over_from(self, loop, model):
        """The model whose gradients are handed to this optimizer's parameters, if another."""
        for event in loop.events:
            source = self.facts.handover_source_model(event, loop.site.scope)
            if source is not None and source != model:
                return source
        return None

    @staticmethod
    def _inner_loop_trains(loop, optimizer: str, loops) -> bool:
        """Report the innermost training loop only: an epoch loop around it is not a second bug."""
        return any(
            other is not loop and loop.site.node in other.site.blocks and optimizer in other.optimizers
            and any(event.kind == BACKWARD for event in other.events)
            for other in loops
        )

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: after two iterations the gradient is the sum of both batches'", bad["grad_vs_sum_max_diff"] < 1e-5 and bad["grad_vs_last_max_diff"] > 1e-3),
            ("good: after two iterations the gradient is the last batch's alone", good["grad_vs_last_max_diff"] < 1e-5 and good["grad_vs_sum_max_diff"] > 1e-3),
        ]


def _clear_first(loop, receiver: str) -> list:
    first = first_statement(loop.site.node)
    return [InsertBefore(first, f"{receiver}.zero_grad()")] if first is not None else []


def _is_step_call(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "step"
