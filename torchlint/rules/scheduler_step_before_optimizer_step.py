"""`scheduler.step()` before `optimizer.step()` in the same iteration.

## What it does
Flags a learning-rate scheduler's `step()` that, in one iteration of a training loop (a batch
loop, or an epoch loop around one), runs before any `optimizer.step()` of that iteration; the
order PyTorch used before 1.1.

## Why is this bad?
Since PyTorch 1.1 the scheduler must step after the optimizer. Stepped first, the schedule
skips its first value: the run never trains at the initial learning rate, and every later
change comes one step (or one epoch) early. PyTorch only warns.

## Example
```python
import torch


def fit(model, loader, optimizer, loss_fn, epochs):
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10)
    for epoch in range(epochs):
        scheduler.step()
        for x, y in loader:
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()
```

## Use instead
```python
import torch


def fit(model, loader, optimizer, loss_fn, epochs):
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10)
    for epoch in range(epochs):
        for x, y in loader:
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()
        scheduler.step()
```

## Not flagged
- `ReduceLROnPlateau`, stepped with a metric after validation.
- A scheduler step under an `if` (`if epoch > 0: scheduler.step()`), and schedulers that cannot
  be seen to be schedulers (built outside the file, or handed in as a parameter).

## Runtime evidence
The bad program triggers PyTorch's "`lr_scheduler.step()` before `optimizer.step()`" warning and
its first optimizer step uses the already-decayed learning rate; the good program's uses the
initial one, without a warning.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.events import SCHEDULER_STEP, STEP
from torchlint.analysis.order import conditional_blocks
from torchlint.analysis.torch_api import PLATEAU_SCHEDULERS
from torchlint.rule import Rule


class SchedulerStepBeforeOptimizerStep(Rule):
    CODE = "TL305"
    NAME = "scheduler-step-before-optimizer-step"
    MESSAGE = "`{scheduler}.step()` runs before `optimizer.step()` in this iteration: the schedule skips its first learning rate; step the scheduler after the optimizer"
    TRIGGER_WORDS = ("step",)

    def visit_Module(self, node: cst.Module) -> None:
        reported = set()
        for loop in self.facts.training_loops:
            events = loop.events
            for position, event in enumerate(events):
                if event.kind != SCHEDULER_STEP or event.node is not event.anchor or event.node in reported:
                    continue
                before, after = events[:position], events[position + 1:]
                if any(other.kind == STEP for other in before) or not any(other.kind == STEP for other in after):
                    continue
                if conditional_blocks(self.facts, event) or self._is_plateau(event):
                    continue
                reported.add(event.node)
                self.report(event.node, self.MESSAGE.format(scheduler=event.receiver or "scheduler"))

    def _is_plateau(self, event) -> bool:
        site = self.facts.call_site(event.node)
        built, _ = self.facts.constructor_of(event.node.func.value, site.scope, site.index)
        return (built or "").rsplit(".", 1)[-1] in PLATEAU_SCHEDULERS

    @classmethod
    def runtime_claim(cls, bad, good):
        initial = bad["initial_lr"]
        return [
            ("bad: PyTorch warns that lr_scheduler.step() ran before optimizer.step()", bad["warned_scheduler_before_optimizer"] is True),
            ("good: no such warning", good["warned_scheduler_before_optimizer"] is False),
            ("bad: the first optimizer step already uses the decayed learning rate", abs(bad["first_step_lr"] - 0.5 * initial) < 1e-9 * initial),
            ("good: the first optimizer step uses the initial learning rate", abs(good["first_step_lr"] - initial) < 1e-9 * initial),
            ("bad: every epoch runs one decay ahead of the good program", abs(bad["last_epoch_lr"] - 0.5 * good["last_epoch_lr"]) < 1e-9 * initial),
        ]
