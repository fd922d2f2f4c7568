"""Activation checkpointing without `use_reentrant=`.

## What it does
Flags `torch.utils.checkpoint.checkpoint(...)` and `checkpoint_sequential(...)` called without
an explicit `use_reentrant` argument.

## Why is this bad?
The reentrant implementation, long the default, silently computes no gradients for the
checkpointed block's parameters when none of its tensor inputs requires grad (the first block
of a network fed plain data, a frozen embedding's output): the block never trains. PyTorch asks
for an explicit choice and warns until it gets one; `use_reentrant=False` is the recommended one.

## Example
```python
import torch.utils.checkpoint as cp


def forward_blocks(blocks, x):
    for block in blocks:
        x = cp.checkpoint(block, x)
    return x
```

## Use instead
```python
import torch.utils.checkpoint as cp


def forward_blocks(blocks, x):
    for block in blocks:
        x = cp.checkpoint(block, x, use_reentrant=False)
    return x
```

## Not flagged
- An explicit `use_reentrant=` (either value, also as `checkpoint_sequential`'s fourth
  positional argument), and calls passing `*args` or `**kwargs`, which may carry it.

## Runtime evidence
See the rule's fixtures: the bad program's checkpointed block receives no gradient, or PyTorch
warns about the missing argument, as measured on the installed torch; the good program's block trains.
"""

from __future__ import annotations

import libcst as cst

from torchlint.rule import Rule

CHECKPOINT_FUNCTIONS = frozenset({
    "torch.utils.checkpoint.checkpoint", "torch.utils.checkpoint.checkpoint_sequential",
})


class CheckpointWithoutUseReentrant(Rule):
    CODE = "TL309"
    NAME = "checkpoint-without-use-reentrant"
    MESSAGE = "`{name}` without `use_reentrant=`: the reentrant mode gives the block no gradients when no input requires grad; pass `use_reentrant=False`"
    TRIGGER_WORDS = ("checkpoint",)

    def visit_Call(self, node: cst.Call) -> None:
        qualified = self.facts.qualified_name(node.func)
        if qualified not in CHECKPOINT_FUNCTIONS:
            return
        if any(arg.star or (arg.keyword is not None and arg.keyword.value == "use_reentrant") for arg in node.args):
            return  # explicit, or possibly in ``*args`` / ``**kwargs``
        positional = [arg for arg in node.args if arg.keyword is None]
        if qualified.endswith("checkpoint_sequential") and len(positional) >= 4:
            return  # checkpoint_sequential(functions, segments, input, use_reentrant)
        self.report(node, self.MESSAGE.format(name=cst.Module([]).code_for_node(node.func)))

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: no checkpointed parameter receives a gradient", bad["checkpointed_params_without_grad"] == bad["checkpointed_params"] > 0),
            ("bad: the checkpointed blocks never train, the head does", bad["block_weight_change"] == 0.0 and bad["head_weight_change"] > 1e-3),
            ("bad: PyTorch warns about the missing use_reentrant and the None gradients", bad["use_reentrant_warning"] and bad["gradients_will_be_none_warning"]),
            ("good: every checkpointed parameter receives a gradient", good["checkpointed_params_without_grad"] == 0 and good["checkpointed_params"] > 0),
            ("good: the checkpointed blocks train", good["block_weight_change"] > 1e-4),
            ("good: no checkpoint warning", not good["use_reentrant_warning"] and not good["gradients_will_be_none_warning"]),
        ]
