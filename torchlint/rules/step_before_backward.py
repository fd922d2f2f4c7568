"""`optimizer.step()` before `loss.backward()` in the same iteration.

## What it does
Flags the `step()` of a training loop that steps one optimizer when, in one iteration in
program order, the step comes before every `backward()` and no step follows the last one.
Helpers of the file and the closure of `optimizer.step(closure)` are seen through.

## Why is this bad?
Each update then uses the gradients of the *previous* batch (or zeros, when they were cleared
at the top of the iteration): the first step changes nothing and the last batch is never
applied. Training still converges somewhat, so the bug hides as "slow training".

## Example
```python
def train(model, loader, optimizer, loss_fn):
    for x, y in loader:
        optimizer.zero_grad()
        optimizer.step()
        loss = loss_fn(model(x), y)
        loss.backward()
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
- Loops that step two or more optimizers (a GAN steps the discriminator, then runs the
  generator's backward): the order between them is not this bug.
- `optimizer.step(closure)` whose closure runs `backward()`, and loops with a helper that
  cannot be seen.
- A step under an `if` at the top of the iteration (`if i % k == 0: optimizer.step()`):
  gradient accumulation that applies the previous window before starting the next.

## Runtime evidence
In the bad program the first iteration's step leaves the parameters unchanged; in the good
program it changes them.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.events import BACKWARD, STEP, UNKNOWN
from torchlint.analysis.order import conditional_blocks
from torchlint.rule import Rule


class StepBeforeBackward(Rule):
    CODE = "TL303"
    NAME = "step-before-backward"
    MESSAGE = "`{optimizer}.step()` runs before this iteration's `backward()`: every update uses the previous batch's gradients; step after `backward()`"
    TRIGGER_WORDS = ("step",)

    def visit_Module(self, node: cst.Module) -> None:
        for loop in self.facts.training_loops:
            if len(loop.optimizers) != 1 or not self.facts.is_innermost_training_loop(loop):
                continue
            if any(event.kind == UNKNOWN for event in loop.events):
                continue
            optimizer = loop.optimizers[0]
            steps = [position for position, event in enumerate(loop.events) if event.kind == STEP and event.receiver == optimizer]
            backwards = [position for position, event in enumerate(loop.events) if event.kind == BACKWARD]
            if steps and backwards and steps[0] < backwards[0] and steps[-1] < backwards[-1]:
                step = loop.events[steps[0]]
                if not conditional_blocks(self.facts, step):  # ``if i % k == 0: optimizer.step()``: an accumulation window
                    self.report(step.anchor, self.MESSAGE.format(optimizer=optimizer))

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: the first iteration's step leaves the parameters unchanged", bad["first_iteration_change"] == 0.0),
            ("good: the first iteration's step changes the parameters", good["first_iteration_change"] > 1e-3),
            ("bad: two iterations applied only the first batch's gradient (each step uses the previous batch's)", bad["two_iterations_vs_first_batch_only"] < 1e-5 and bad["two_iterations_vs_two_sgd_steps"] > 1e-3),
            ("good: two iterations equal two plain SGD steps", good["two_iterations_vs_two_sgd_steps"] < 1e-5 and good["two_iterations_vs_first_batch_only"] > 1e-3),
        ]
