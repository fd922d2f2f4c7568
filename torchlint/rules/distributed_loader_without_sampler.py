"""A training DataLoader in a distributed script without a `DistributedSampler`.

## What it does
In a file that initialises a process group (`torch.distributed.init_process_group`) or wraps a
model in `DistributedDataParallel`, flags a training `DataLoader(...)` built without `sampler=`
or `batch_sampler=`, and a `DistributedSampler(...)` that shuffles (its default) whose
`set_epoch` the file never calls.

## Why is this bad?
Without a distributed sampler every process iterates over the whole dataset in the same order:
N GPUs train N times on the same batches, for N times the cost of one. Without `set_epoch`, the
sampler shuffles with the same seed every epoch, so every epoch repeats the first one's order.

## Example
```python
import torch.distributed as dist
from torch.utils.data import DataLoader


def main(dataset):
    dist.init_process_group("nccl")
    loader = DataLoader(dataset, batch_size=32, shuffle=True)
    return loader
```

## Use instead
```python
import torch.distributed as dist
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler


def main(dataset, epochs):
    dist.init_process_group("nccl")
    sampler = DistributedSampler(dataset)
    loader = DataLoader(dataset, batch_size=32, sampler=sampler)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
    return loader
```

## Not flagged
- Files that never initialise a process group; loaders for evaluation (assigned to names like
  `val_loader`, or over a validation or test dataset); loaders handed to a framework that
  distributes them (`accelerator.prepare(...)`, Lightning).
- A `DistributedSampler(..., shuffle=False)`, and samplers whose `set_epoch` is called.

## Runtime evidence
Simulating two ranks in one process, the bad program's two ranks see identical index sets in
their first epoch, and its sampler repeats one order every epoch; the good program's ranks see
disjoint halves, in a new order each epoch.
"""

from __future__ import annotations

import re

import libcst as cst

from torchlint.analysis.facts import call_argument, is_constant
from torchlint.analysis.names import dotted_name
from torchlint.rule import Rule

PROCESS_GROUP = frozenset({"torch.distributed.init_process_group", "torch.nn.parallel.DistributedDataParallel", "torch.nn.parallel.distributed.DistributedDataParallel"})
DATA_LOADERS = frozenset({"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"})
DISTRIBUTED_SAMPLERS = frozenset({"torch.utils.data.distributed.DistributedSampler", "torch.utils.data.DistributedSampler"})
EVALUATION_NAME = re.compile(r"(^|_)(val|valid|validation|test|testing|eval|evaluation|dev)($|_)")
FRAMEWORK_WORDS = ("prepare(", "lightning", "pytorch_lightning", "accelerate")


class DistributedLoaderWithoutSampler(Rule):
    CODE = "TL504"
    NAME = "distributed-loader-without-sampler"
    MESSAGE = "in a distributed run this DataLoader has no `DistributedSampler`: every process trains on the same batches; pass `sampler=DistributedSampler(dataset)`"
    SET_EPOCH_MESSAGE = "this `DistributedSampler` shuffles, but `set_epoch` is never called: every epoch repeats the same order; call `{sampler}.set_epoch(epoch)` each epoch"
    TRIGGER_WORDS = ("distributed",)

    def visit_Module(self, node: cst.Module) -> None:
        calls = self.facts.walk.calls
        if not any(self.facts.qualified_name(site.node.func) in PROCESS_GROUP for site in calls):
            return
        if any(word in self.facts.module.code.lower() for word in FRAMEWORK_WORDS):
            return  # a framework distributes the loaders
        set_epoch_receivers = {dotted_name(site.node.func.value) for site in calls if isinstance(site.node.func, cst.Attribute) and site.node.func.attr.value == "set_epoch"}
        for site in calls:
            qualified = self.facts.qualified_name(site.node.func)
            if qualified in DATA_LOADERS and not self._has_sampler(site.node) and not self._for_evaluation(site):
                self.report(site.node)
            elif qualified in DISTRIBUTED_SAMPLERS and not is_constant(call_argument(site.node, 3, "shuffle"), "False"):
                name = site.assigned_to_self and f"self.{site.assigned_to_self}" or self._assigned_name(site)
                if name is not None and name not in set_epoch_receivers and not self._handed_over(site, name):
                    self.report(site.node, self.SET_EPOCH_MESSAGE.format(sampler=name))

    @staticmethod
    def _has_sampler(call: cst.Call) -> bool:
        return any(arg.star == "**" or (arg.keyword is not None and arg.keyword.value in ("sampler", "batch_sampler")) for arg in call.args) or \
            len([arg for arg in call.args if arg.keyword is None]) > 3  # sampler passed by position

    def _for_evaluation(self, site) -> bool:
        name = self._assigned_name(site) or ""
        dataset = dotted_name(call_argument(site.node, 0, "dataset")) or ""
        return bool(EVALUATION_NAME.search(name.rsplit(".", 1)[-1]) or EVALUATION_NAME.search(dataset.rsplit(".", 1)[-1]))

    def _assigned_name(self, site):
        for name, entries in site.scope.bindings.items():
            if any(value is site.node for _, value in entries):
                return name
        return None

    def _handed_over(self, site, name: str) -> bool:
        """A sampler returned or handed to a function: its caller may call ``set_epoch``."""
        return any(value is not None and dotted_name(value) == name for _, value in site.scope.returns)
