"""`torch.load` that may unpickle code: `weights_only=False`, or unset where torch < 2.6 is allowed.

## What it does
Flags `torch.load(...)` with `weights_only=False`, and `torch.load(...)` without `weights_only`
in a project whose declared torch requirement (in `pyproject.toml`, `setup.cfg`, `setup.py` or
`requirements*.txt`) still allows a torch older than 2.6, or that declares none.

## Why is this bad?
`torch.load` unpickles the file. With `weights_only=False` (the default before torch 2.6) a
crafted checkpoint runs arbitrary code the moment it is loaded: a model downloaded from a hub,
a colleague's file, a cache. `weights_only=True` only rebuilds tensors and plain containers.

## Example
```python
import torch


def restore(model, path):
    model.load_state_dict(torch.load(path, weights_only=False))
```

## Use instead
```python
import torch


def restore(model, path):
    model.load_state_dict(torch.load(path, weights_only=True))
```

## Not flagged
- `weights_only=True`, and calls passing `**kwargs`, which may carry it.
- No `weights_only` in a project that requires torch >= 2.6, where the safe mode is the default.
- A buffer made in view (`io.BytesIO(...)`): a clone or a broadcast within the process.

## Fix safety
Unsafe (applied with `--unsafe-fixes`). It sets `weights_only=True`. A checkpoint that also
pickles other objects (an `argparse.Namespace`, NumPy arrays) then fails to load until they are
allow-listed with `torch.serialization.add_safe_globals`. No fix for calls that pass a
`pickle_module`, which torch refuses together with `weights_only=True`.

## Runtime evidence
A crafted checkpoint creates a marker file when the bad program loads it with
`weights_only=False`; the good program's `weights_only=True` refuses it and nothing runs.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.facts import call_argument, is_constant
from torchlint.edits import Replace, append_argument
from torchlint.findings import FixSafety
from torchlint.rule import Rule

LOAD_FUNCTIONS = frozenset({"torch.load", "torch.serialization.load"})
SAFE_BY_DEFAULT = (2, 6)
IN_MEMORY = frozenset({"io.BytesIO", "_io.BytesIO"})  # torch 2.6 made weights_only=True the default


class UnsafeTorchLoad(Rule):
    CODE = "TL601"
    NAME = "unsafe-torch-load"
    MESSAGE = "`torch.load(..., weights_only=False)` unpickles whatever the file holds: a crafted checkpoint runs code; load with `weights_only=True`"
    UNSET_MESSAGE = "`torch.load` without `weights_only=` unpickles code on torch < 2.6, which {project}: pass `weights_only=True`"
    TRIGGER_WORDS = ("load",)
    # Unsafe: a checkpoint that also pickles other objects (an argparse Namespace, NumPy
    # arrays) no longer loads until they are allow-listed with torch.serialization.add_safe_globals.
    FIX_TITLE = "Load with `weights_only=True`"
    FIX_SAFETY = FixSafety.UNSAFE

    def _from_memory(self, node: cst.Call) -> bool:
        """``torch.load(buffer)`` of an ``io.BytesIO`` made in view (a clone, a broadcast object):
        nothing from outside the process is unpickled."""
        site = self.facts.call_site(node)
        source = call_argument(node, 0, "f")
        if site is None or source is None:
            return False
        bound = self.facts.resolve(source, site.scope, site.index).expr
        if isinstance(bound, cst.Call) and self.facts.qualified_name(bound.func) in IN_MEMORY:
            return True
        # ``with io.BytesIO() as buffer:`` around the call
        name = source.value if isinstance(source, cst.Name) else None
        return name is not None and any(
            isinstance(block, cst.With) and any(
                item.asname is not None and isinstance(item.asname.name, cst.Name) and item.asname.name.value == name
                and isinstance(item.item, cst.Call) and self.facts.qualified_name(item.item.func) in IN_MEMORY
                for item in block.items)
            for block in site.blocks
        )

    def visit_Call(self, node: cst.Call) -> None:
        if self.facts.qualified_name(node.func) not in LOAD_FUNCTIONS or self._from_memory(node):
            return
        weights_only = call_argument(node, 99, "weights_only")
        # torch refuses weights_only=True together with an explicit pickle_module
        fixable = call_argument(node, 2, "pickle_module") is None
        if weights_only is not None:
            if is_constant(weights_only, "False"):
                self.report(node, fix=[Replace(weights_only, "True")] if fixable else [])
            return
        if any(arg.star == "**" for arg in node.args):
            return  # ``**kwargs`` may carry it
        floor = self.facts.torch_requirement
        if floor is None:
            self.report(node, self.UNSET_MESSAGE.format(project="the project does not rule out (it declares no torch version)"), fix=append_argument(node, "weights_only=True") if fixable else [])
        elif floor < SAFE_BY_DEFAULT:
            self.report(node, self.UNSET_MESSAGE.format(project=f"the project allows (torch >= {floor[0]}.{floor[1]})"), fix=append_argument(node, "weights_only=True") if fixable else [])

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: loading the crafted checkpoint ran its payload (the marker directory appeared)", bad["payload_ran"] and not bad["crafted_refused"]),
            ("good: weights_only=True refuses the crafted checkpoint and nothing runs", good["crafted_refused"] and not good["payload_ran"]),
            ("both: an ordinary checkpoint still restores the weights", bad["plain_restored"] and good["plain_restored"] and bad["plain_epoch"] == good["plain_epoch"] == 3),
        ]
