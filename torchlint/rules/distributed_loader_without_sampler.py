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
- Test files, and files that never initialise a process group; loaders for evaluation (assigned to names like
  `val_loader`, or over a validation or test dataset); loaders handed to `accelerator.prepare(...)`,
  and loaders Lightning asks for (`train_dataloader` hooks), which the framework distributes.
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
from torchlint.analysis.torch_api import DATA_LOADERS
from torchlint.analysis.evaluation import EVAL_FUNCTION_WORDS
from torchlint.analysis.names import dotted_name, name_words
from torchlint.rule import Rule

PROCESS_GROUP = frozenset({"torch.distributed.init_process_group", "torch.nn.parallel.DistributedDataParallel", "torch.nn.parallel.distributed.DistributedDataParallel"})
DISTRIBUTED_SAMPLERS = frozenset({"torch.utils.data.distributed.DistributedSampler", "torch.utils.data.DistributedSampler"})
# ``accelerator.prepare(loader)``, Fabric's ``setup_dataloaders``: the framework shards the loader
DISTRIBUTING_METHODS = frozenset({"prepare", "setup_dataloaders", "prepare_data_loader", "make_private", "make_private_with_epsilon"})
EVALUATION_NAME = re.compile(r"(^|_)(val|valid|validation|test|testing|eval|evaluation|dev)($|_)")


class DistributedLoaderWithoutSampler(Rule):
    CODE = "TL504"
    NAME = "distributed-loader-without-sampler"
    MESSAGE = "in a distributed run this DataLoader has no `DistributedSampler`: every process trains on the same batches; pass `sampler=DistributedSampler(dataset)`"
    SET_EPOCH_MESSAGE = "this `DistributedSampler` shuffles, but `set_epoch` is never called: every epoch repeats the same order; call `{sampler}.set_epoch(epoch)` each epoch"
    TRIGGER_WORDS = ("distributed",)

    def visit_Module(self, node: cst.Module) -> None:
        calls = self.facts.walk.calls
        if self.facts.is_test_file:
            return  # a test of a pipeline hands its loaders to the code under test
        if not any(self.facts.qualified_name(site.node.func) in PROCESS_GROUP for site in calls):
            return
        handing = [site for site in calls if isinstance(site.node.func, cst.Attribute) and site.node.func.attr.value in DISTRIBUTING_METHODS]
        prepared = {_scoped(site, dotted_name(arg.value)) for site in handing for arg in site.node.args}
        prepared_inline = {arg.value for site in handing for arg in site.node.args}
        # names are per function (``train_loader`` in one is not ``train_loader`` in another); ``self.x`` is per class
        set_epoch_receivers = {_scoped(site, dotted_name(site.node.func.value)) for site in calls if isinstance(site.node.func, cst.Attribute) and site.node.func.attr.value == "set_epoch"}
        # ``set_epoch`` called on some sampler of the same function or class, under whatever name
        # (``self._sampler`` set from a setup function's return)
        set_epoch_places = {site.scope for site in calls if isinstance(site.node.func, cst.Attribute) and site.node.func.attr.value == "set_epoch"}
        set_epoch_places |= {scope.enclosing_class for scope in set_epoch_places if scope.enclosing_class is not None}
        for site in calls:
            qualified = self.facts.qualified_name(site.node.func)
            if qualified in DATA_LOADERS and not self._has_sampler(site.node) and not self._for_evaluation(site) and not self._framework_hook(site):
                if _scoped(site, self.facts.assigned_name(site)) not in prepared and site.node not in prepared_inline and not self._shards_itself(site):
                    self.report(site.node)
            elif qualified in DISTRIBUTED_SAMPLERS and not is_constant(call_argument(site.node, 3, "shuffle"), "False") and not self._for_evaluation(site) \
                    and site.scope not in set_epoch_places and (site.scope.enclosing_class is None or site.scope.enclosing_class not in set_epoch_places):
                name = site.assigned_to_self and f"self.{site.assigned_to_self}" or self.facts.assigned_name(site)
                if name is None and self._passed_inline(site, set_epoch_receivers):
                    self.report(site.node, self.SET_EPOCH_MESSAGE.format(sampler="the sampler"))
                elif name is not None and _scoped(site, name) not in set_epoch_receivers and not self._handed_over(site, name):
                    self.report(site.node, self.SET_EPOCH_MESSAGE.format(sampler=name))

    @staticmethod
    def _has_sampler(call: cst.Call) -> bool:
        return any(arg.star == "**" or (arg.keyword is not None and arg.keyword.value in ("sampler", "batch_sampler")) for arg in call.args) or \
            len([arg for arg in call.args if arg.keyword is None]) > 3  # sampler passed by position

    def _shards_itself(self, site) -> bool:
        """An ``IterableDataset`` decides what each process reads (ambiguous: silence)."""
        dataset = call_argument(site.node, 0, "dataset")
        if isinstance(dataset, cst.Call):
            found = self.facts.class_of(dataset.func)
            if found is not None:
                return any("IterableDataset" in (self.facts.qualified_name(base.value) or "") for base in found.info.node.bases)
        return False

    def _for_evaluation(self, site) -> bool:
        if EVAL_FUNCTION_WORDS & set(name_words(site.scope.name)):
            return True  # ``build_validation_loader``, ``evaluate``
        name = self.facts.assigned_name(site) or ""
        dataset = dotted_name(call_argument(site.node, 0, "dataset")) or ""
        return bool(EVALUATION_NAME.search(name.rsplit(".", 1)[-1]) or EVALUATION_NAME.search(dataset.rsplit(".", 1)[-1]))


    def _framework_hook(self, site) -> bool:
        """A loader a framework asks for (Lightning's ``train_dataloader``) and distributes itself."""
        owner = site.scope.enclosing_class
        return site.scope.name.endswith("_dataloader") or (owner is not None and self.facts.is_framework_driven(owner))

    def _passed_inline(self, site, set_epoch_receivers) -> bool:
        """``DataLoader(ds, sampler=DistributedSampler(ds))`` whose ``loader.sampler.set_epoch``
        is never called."""
        for other in self.facts.walk.calls:
            if self.facts.qualified_name(other.node.func) in DATA_LOADERS and any(arg.value is site.node for arg in other.node.args):
                loader = self.facts.assigned_name(other)
                return loader is not None and _scoped(other, f"{loader}.sampler") not in set_epoch_receivers
        return False

    def _handed_over(self, site, name: str) -> bool:
        """A sampler returned or handed to a function (other than the loader): that code may call
        ``set_epoch``."""
        if any(value is not None and dotted_name(value) == name for _, value in site.scope.returns):
            return True
        return any(
            self.facts.qualified_name(other.node.func) not in DATA_LOADERS and any(dotted_name(arg.value) == name for arg in other.node.args)
            for other in site.scope.calls
        )

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: without a DistributedSampler both ranks' first epoch covers the same samples (each the whole set)", bad["pretrain_rank_overlap_fraction"] == 1.0 and bad["pretrain_samples_per_rank"] == 2 * good["pretrain_samples_per_rank"]),
            ("bad: with a shared seed the two ranks even see one order", bad["pretrain_same_order_on_both_ranks"]),
            ("bad: without set_epoch the sampler repeats the first epoch's order", bad["finetune_epochs_same_order"]),
            ("good: the DistributedSampler gives the ranks disjoint halves that together cover the set", good["pretrain_rank_overlap_fraction"] == 0.0 and good["pretrain_union_fraction"] == 1.0),
            ("good: with set_epoch the second epoch has a new order", not good["finetune_epochs_same_order"]),
        ]


def _scoped(site, name):
    """A name as the code around ``site`` means it: local names per function, ``self.x`` per class."""
    if name is None:
        return (site, None)  # an expression: equal to nothing else
    if name.startswith("self."):
        return (site.scope.enclosing_class, name)
    return (site.scope, name)
