"""Gradient accumulation that does not divide the loss by the number of micro-batches.

## What it does
Flags the `backward()` of a training loop that steps the optimizer only every k iterations
(under an `if` whose test uses `%`, such as `if (i + 1) % accumulation_steps == 0:`) while
backpropagating every micro-batch's loss as it is: a loss computed by a criterion or a
functional loss with the default mean reduction, or a model output's `.loss`, with no `/` or
`*` scaling on the way to `backward()`.

## Why is this bad?
`backward()` adds up the gradients of the k micro-batches, so the accumulated gradient is k
times the mean gradient of the large batch it stands for. The effective learning rate is k
times too high: training is unstable, or the tuned learning rate stops working when
accumulation is switched on.

## Example
```python
import torch.nn as nn


def train(model, loader, optimizer, accumulation_steps=4):
    criterion = nn.CrossEntropyLoss()
    for i, (x, y) in enumerate(loader):
        loss = criterion(model(x), y)
        loss.backward()
        if (i + 1) % accumulation_steps == 0:
            optimizer.step()
            optimizer.zero_grad()
```

## Use instead
```python
import torch.nn as nn


def train(model, loader, optimizer, accumulation_steps=4):
    criterion = nn.CrossEntropyLoss()
    for i, (x, y) in enumerate(loader):
        loss = criterion(model(x), y) / accumulation_steps
        loss.backward()
        if (i + 1) % accumulation_steps == 0:
            optimizer.step()
            optimizer.zero_grad()
```

## Not flagged
- A loss divided or multiplied on its way to `backward()` (`loss / k`, `loss = loss / k`,
  `scaler.scale(loss / k)`), and a loss rescaled in place (`loss /= k`).
- A criterion with `reduction="sum"`, a sum objective chosen on purpose.
- Losses whose origin cannot be seen (a helper that may divide), and loops that step every
  iteration.

## Runtime evidence
After k micro-batches, the bad program's accumulated gradient is k times the full-batch
gradient; the good program's equals it.
"""

from __future__ import annotations

from typing import Optional

import libcst as cst

from torchlint.analysis.events import BACKWARD, STEP, UNKNOWN
from torchlint.analysis.facts import call_argument
from torchlint.analysis.order import conditional_blocks
from torchlint.analysis.torch_api import torch_nn_class
from torchlint.rule import Rule

SCALING_OPERATORS = (cst.Divide, cst.Multiply, cst.FloorDivide)
SCALING_METHODS = frozenset({"div", "mul", "div_", "mul_", "__truediv__", "__mul__"})


class AccumulationWithoutLossScaling(Rule):
    CODE = "TL308"
    NAME = "accumulation-without-loss-scaling"
    MESSAGE = "gradients of {steps} micro-batches are summed before each step, but this loss is not divided by their number: the update is that many times too large; divide the loss by the accumulation steps"
    TRIGGER_WORDS = ("%",)

    def visit_Module(self, node: cst.Module) -> None:
        for loop in self.facts.training_loops:
            if not self.facts.is_innermost_training_loop(loop) or any(event.kind == UNKNOWN for event in loop.events):
                continue
            steps = [event for event in loop.events if event.kind == STEP]
            tests = {self._accumulation_test(event) for event in steps}
            if not steps or None in tests or len(tests) != 1:
                continue
            every = cst.Module([]).code_for_node(_remainder(tests.pop().test).right)
            for event in loop.events:
                if event.kind == BACKWARD and event.node is event.anchor and not self._conditional_in_loop(event, loop) and self._unscaled_loss(event):
                    self.report(event.node, self.MESSAGE.format(steps=f"`{every}`"))

    def _accumulation_test(self, step) -> Optional[cst.If]:
        """The ``if`` around a step whose test takes a remainder (``(i + 1) % k == 0``)."""
        for block in conditional_blocks(self.facts, step):
            if isinstance(block, cst.If) and _remainder(block.test) is not None:
                return block
        return None

    def _conditional_in_loop(self, event, loop) -> bool:
        return any(loop.site.node is not block and block not in loop.site.blocks for block in conditional_blocks(self.facts, event))

    def _unscaled_loss(self, event) -> bool:
        """The value backpropagated is a plain loss: no scaling anywhere on its way."""
        site = self.facts.call_site(event.node)
        value = event.node.func.value
        if isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and value.func.attr.value == "scale" and value.args:
            value = value.args[0].value  # ``scaler.scale(loss)``
        for _ in range(8):
            resolved = self.facts.resolve(value, site.scope, site.index).expr
            if isinstance(resolved, cst.BinaryOperation):
                return False  # scaled, or a sum of terms whose weights we cannot judge
            if isinstance(resolved, cst.Attribute) and resolved.attr.value == "loss":
                return True  # ``outputs.loss`` of a model call
            if not isinstance(resolved, cst.Call):
                return False
            func = resolved.func
            if isinstance(func, cst.Attribute) and func.attr.value in SCALING_METHODS:
                return False
            if isinstance(func, cst.Attribute) and func.attr.value in ("mean", "sum") and self.facts.qualified_name(func) is None:
                value = func.value
                continue
            return self._is_mean_loss(resolved, site)
        return False

    def _is_mean_loss(self, call: cst.Call, site) -> bool:
        qualified = self.facts.qualified_name(call.func) or ""
        if qualified.startswith("torch.nn.functional.") and "loss" in qualified or qualified.endswith("cross_entropy"):
            reduction = call_argument(call, 99, "reduction")
            return reduction is None or _is_string(reduction, "mean")
        built, criterion = self.facts.constructor_of(call.func, site.scope, site.index)
        layer = torch_nn_class(built)
        if criterion is not None and layer is not None and layer.endswith("Loss"):
            reduction = call_argument(criterion, 99, "reduction")
            return reduction is None or _is_string(reduction, "mean")
        return False

    @classmethod
    def runtime_claim(cls, bad, good):
        k = bad["accum_steps"]
        return [
            ("bad: the update after k micro-batches is k times the full batch's", abs(bad["update_to_full_batch_ratio"] - k) < 0.05 * k and bad["update_cosine_to_full_batch"] > 0.999),
            ("good: the update after k micro-batches equals the full batch's", abs(good["update_to_full_batch_ratio"] - 1.0) < 0.01 and good["update_cosine_to_full_batch"] > 0.999),
        ]


def _remainder(expr: cst.BaseExpression) -> Optional[cst.BinaryOperation]:
    """The ``a % k`` in a test, if any."""
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Modulo):
            return node
        if isinstance(node, (cst.Comparison, cst.BooleanOperation, cst.UnaryOperation, cst.BinaryOperation)):
            stack.extend(child for child in node.children if isinstance(child, cst.BaseExpression))
        if isinstance(node, cst.Comparison):
            stack.extend(target.comparator for target in node.comparisons)
    return None


def _is_string(expr: cst.BaseExpression, text: str) -> bool:
    return isinstance(expr, cst.SimpleString) and expr.evaluated_value == text
