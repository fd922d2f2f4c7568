"""A loss that still carries its graph, accumulated across iterations.

## What it does
Flags `total += loss` and `losses.append(loss)` in a training loop, where `loss` is the tensor
that loop calls `backward()` on, the accumulator is bound before the loop, and nothing turns
the loss into a number first (`.item()`, `.detach()`, `float()`).

## Why is this bad?
The accumulated tensor keeps a reference to every iteration's autograd graph (its nodes, and
the activations they saved when nothing freed them): memory grows with every batch until the
accumulator goes or the GPU runs out, and each `total += loss` adds to one ever longer graph. The numbers logged are
right, so nothing looks wrong until the out-of-memory error.

## Example
```python
def train(model, loader, optimizer, loss_fn):
    total = 0.0
    for x, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss
    return total / len(loader)
```

## Use instead
```python
def train(model, loader, optimizer, loss_fn):
    total = 0.0
    for x, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total / len(loader)
```

## Not flagged
- `.item()`, `.detach()`, `float(...)` and the like before accumulating, or a name rebound to
  one of them.
- An accumulator that is backpropagated itself (`total.backward()`,
  `torch.stack(losses).mean().backward()`): keeping the graph is the point.
- Accumulation in loops that do not call `backward()` on that loss (evaluation under `no_grad`).
- An accumulator reset inside the loop (`running_loss = 0` after each logged step): it holds
  one window's graphs, not the whole run's.

## Runtime evidence
After N iterations, the autograd graph reachable from the bad program's accumulator holds a
number of nodes that grows with N; the good program's accumulator holds none.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.events import BACKWARD
from torchlint.rule import Rule

DETACHING_METHODS = frozenset({"item", "detach", "tolist", "numpy", "cpu", "data"})
NUMBER_BUILTINS = frozenset({"float", "int"})


class LossAccumulatedAsTensor(Rule):
    CODE = "TL304"
    NAME = "loss-accumulated-as-tensor"
    MESSAGE = "`{loss}` still carries its autograd graph: accumulating it in `{total}` chains every iteration's graph onto it and memory grows; accumulate `{loss}.item()`"
    TRIGGER_WORDS = ("backward",)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.operator, cst.AddAssign) and isinstance(node.target, cst.Name):
            scope, index = self.facts.place_of(node)
            self._check(node, node.target.value, node.value, scope, index)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "append" and isinstance(func.value, cst.Name) and len(node.args) == 1:
            site = self.facts.call_site(node)
            if site is not None:
                self._check(node, func.value.value, node.args[0].value, site.scope, site.index)

    def _check(self, node, total: str, value: cst.BaseExpression, scope, index: int) -> None:
        if scope is None or not isinstance(value, cst.Name):
            return
        for loop in self.facts.training_loops:
            if loop.site.scope is not scope or not loop.site.index <= index <= loop.site.end:
                continue
            backwards = [event for event in loop.events if event.kind == BACKWARD]
            if not any(event.receiver == value.value for event in backwards):
                continue
            if any(total in cst.Module([]).code_for_node(event.node) for event in backwards):
                return  # the accumulator is backpropagated: its graph is wanted
            if self._detached(value, scope, index):
                return
            if self._bound_before(scope, total, loop.site.index) and not self._reset_within(scope, total, loop):
                self.report(node, self.MESSAGE.format(loss=value.value, total=total))
                return

    @staticmethod
    def _reset_within(scope, name: str, loop) -> bool:
        """``running_loss = 0`` in the loop (after each logged step): the graphs it holds are
        bounded by one window, not by the run."""
        return any(loop.site.index <= bound_at <= loop.site.end and value is not None for bound_at, value in scope.bindings.get(name, []))

    @staticmethod
    def _bound_before(scope, name: str, index: int) -> bool:
        return any(bound_at < index for bound_at, _ in scope.bindings.get(name, []))

    def _detached(self, value: cst.Name, scope, index: int) -> bool:
        bound = self.facts.resolve(value, scope, index).expr
        if isinstance(bound, cst.Call):
            func = bound.func
            if isinstance(func, cst.Attribute) and func.attr.value in DETACHING_METHODS:
                return True
            if isinstance(func, cst.Name) and func.value in NUMBER_BUILTINS:
                return True
        return False

    @classmethod
    def runtime_claim(cls, bad, good):
        extra_iterations = bad["long_run"] - bad["short_run"]
        return [
            ("bad: the accumulator still carries an autograd graph", bad["accumulator_requires_grad"] and bad["graph_nodes_short"] > 0),
            ("bad: the graph reachable from the accumulator grows with the number of iterations", bad["graph_nodes_long"] - bad["graph_nodes_short"] >= 2 * extra_iterations),
            ("good: the accumulator holds no graph, however long the run", not good["accumulator_requires_grad"] and good["graph_nodes_short"] == 0 and good["graph_nodes_long"] == 0),
        ]
