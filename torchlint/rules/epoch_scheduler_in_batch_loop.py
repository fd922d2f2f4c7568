"""An epoch-based learning-rate schedule stepped once per batch.

## What it does
Flags `scheduler.step()` inside the per-batch loop (a training loop nested in an epoch loop, or
a loop over a `DataLoader` built in view) when the scheduler is `StepLR`, `MultiStepLR`,
`CosineAnnealingLR` or `ExponentialLR` with a period counted in epochs: literal numbers (or an
expression naming epochs) for `step_size`, `milestones` or `T_max`, and a literal `gamma`
below 0.99 for `ExponentialLR`.

## Why is this bad?
These schedules count `step()` calls as epochs. Stepped per batch, the learning rate decays
hundreds of times too fast: `StepLR(step_size=30, gamma=0.1)` over one epoch of 100 batches ends
at a thousandth of the initial rate, and the rest of the run barely trains.

## Example
```python
import torch


def fit(model, loader, optimizer, loss_fn, epochs):
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.1)
    for epoch in range(epochs):
        for x, y in loader:
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()
            scheduler.step()
```

## Use instead
```python
import torch


def fit(model, loader, optimizer, loss_fn, epochs):
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.1)
    for epoch in range(epochs):
        for x, y in loader:
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()
        scheduler.step()
```

## Not flagged
- Schedulers made for per-batch stepping: `OneCycleLR`, `CyclicLR`, `LambdaLR`,
  `CosineAnnealingWarmRestarts`, warm-up schedules.
- A period computed from the number of batches (`step_size=len(loader) * 30`, `T_max=total_steps`):
  a schedule designed to be stepped per batch; an `ExponentialLR` with a gamma near 1.
- A step under an `if` or with an argument (`scheduler.step(epoch + i / n)`), and a single loop
  over epochs of full-batch training.

## Runtime evidence
After one epoch of 100 batches, the bad program's learning rate is 1e-3 times the initial one;
the good program's is unchanged.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.events import SCHEDULER_STEP
from torchlint.analysis.facts import call_argument
from torchlint.analysis.order import conditional_blocks
from torchlint.analysis.torch_api import DATA_LOADERS, EPOCH_SCHEDULERS
from torchlint.rule import Rule



class EpochSchedulerInBatchLoop(Rule):
    CODE = "TL306"
    NAME = "epoch-scheduler-in-batch-loop"
    MESSAGE = "`{scheduler}` is an epoch schedule ({kind}) stepped once per batch: it decays far too fast; step it once per epoch"
    TRIGGER_WORDS = ("lr", "sched")

    def visit_Module(self, node: cst.Module) -> None:
        for loop in self.facts.training_loops:
            if not self.facts.is_innermost_training_loop(loop) or not self._is_batch_loop(loop):
                continue
            for event in loop.events:
                if event.kind != SCHEDULER_STEP or event.node is not event.anchor or event.node.args or conditional_blocks(self.facts, event):
                    continue
                kind = self._epoch_schedule(event)
                if kind is not None:
                    self.report(event.node, self.MESSAGE.format(scheduler=event.receiver or "scheduler", kind=kind))

    def _is_batch_loop(self, loop) -> bool:
        node = loop.site.node
        if any(isinstance(block, (cst.For, cst.While)) for block in loop.site.blocks):
            return True  # nested in an epoch loop
        if isinstance(node, cst.For):
            built, _ = self.facts.constructor_of(_unwrapped_iterable(node.iter), loop.site.scope, loop.site.index)
            return built in DATA_LOADERS
        return False

    def _epoch_schedule(self, event):
        site = self.facts.call_site(event.node)
        built, call = self.facts.constructor_of(event.node.func.value, site.scope, site.index)
        name = (built or "").rsplit(".", 1)[-1]
        if call is None or not (built or "").startswith("torch.optim.lr_scheduler.") or name not in EPOCH_SCHEDULERS:
            return None
        keyword, position = EPOCH_SCHEDULERS[name]
        period = call_argument(call, position, keyword)
        if name == "ExponentialLR":
            return name if isinstance(period, cst.Float) and float(period.value) < 0.99 else None
        return name if period is not None and _counts_epochs(period) else None

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: after one epoch of 100 batches the learning rate is 1e-3 of the initial one", abs(bad["lr_ratio_after_one_epoch"] - 1e-3) < 1e-9),
            ("good: after one epoch the learning rate is still the initial one", abs(good["lr_ratio_after_one_epoch"] - 1.0) < 1e-9),
            ("bad: the rate changed within the epoch (4 distinct rates over 100 steps)", bad["distinct_lrs_in_epoch"] == 4 and bad["optimizer_steps"] == 100),
            ("good: one rate for the whole epoch", good["distinct_lrs_in_epoch"] == 1 and good["optimizer_steps"] == 100),
        ]


def _counts_epochs(expr: cst.BaseExpression) -> bool:
    """Literal numbers (``30``, ``[30, 60]``), or an expression that names epochs."""
    if isinstance(expr, (cst.Integer, cst.Float)):
        return True
    if isinstance(expr, (cst.List, cst.Tuple)):
        return bool(expr.elements) and all(_counts_epochs(element.value) for element in expr.elements)
    code = cst.Module([]).code_for_node(expr).lower()
    return "epoch" in code and "len(" not in code and "step" not in code and "iter" not in code and "batch" not in code


def _unwrapped_iterable(expr: cst.BaseExpression) -> cst.BaseExpression:
    """``enumerate(loader)``, ``tqdm(loader)``: the loader."""
    while isinstance(expr, cst.Call) and expr.args and isinstance(expr.func, (cst.Name, cst.Attribute)) and \
            (expr.func.value if isinstance(expr.func, cst.Name) else expr.func.attr.value) in ("enumerate", "tqdm", "iter"):
        expr = expr.args[0].value
    return expr
