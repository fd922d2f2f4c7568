"""A model is evaluated without being switched to eval mode.

## What it does
Flags a model call inside evaluation code (under `torch.no_grad()` or `torch.inference_mode()`,
in a function named for validation, testing, prediction, inference or decoding, in a loop over
a validation or test loader, or in a helper its caller runs under `no_grad`) that no
`model.eval()` (or `model.train(False)`) reaches: not in the same function before the call, not
in the class or its base classes, not in the callers, in this file or another of the project.

The model must be known to hold dropout or batch norm, or be named like a model whose class
cannot be seen into. When it is handed in (a parameter, `self.model`), its class and its mode
are what the callers pass: with no caller in view, the caller owns the mode and nothing is
flagged.

## Why is this bad?
A model is in training mode until told otherwise. Evaluated in training mode, dropout keeps
zeroing activations at random and batch norm normalises with the statistics of the evaluation
batch, and *updates* its running statistics with evaluation data. Metrics are noisy and wrong,
predictions differ run to run, and the model itself is changed by being evaluated.

## Example
```python
import torch

def evaluate(model, val_loader):
    correct = 0
    with torch.no_grad():
        for x, y in val_loader:
            correct += (model(x).argmax(1) == y).sum().item()
    return correct

def fit(model, train_loader, val_loader, optimizer, loss_fn):
    model.train()
    for x, y in train_loader:
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
    return evaluate(model, val_loader)
```

## Use instead
```python
import torch

def evaluate(model, val_loader):
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in val_loader:
            correct += (model(x).argmax(1) == y).sum().item()
    return correct

def fit(model, train_loader, val_loader, optimizer, loss_fn):
    model.train()
    for x, y in train_loader:
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
    return evaluate(model, val_loader)
```

## Not flagged
- A deliberate `model.train()` inside the evaluation code itself (Monte Carlo dropout).
- An evaluation function whose callers in the file switch to eval mode before calling it, a
  class that puts its model in eval mode in another method, or a script or server that calls
  `model.eval()` at the top level before its functions run.
- A class that trains its model in another method (an RL agent's `update()`): its rollouts under
  `no_grad` run in train mode on purpose. A `no_grad` block inside `forward` is part of the model.
- Models that contain no dropout or batch norm, defined in the file or in another file of the
  project (found from the file's imports, however it is linted): the mode changes nothing. An
  LSTM or GRU without `dropout=`, or with one layer, counts as such: PyTorch applies its
  dropout only between layers.
- A model handed in by callers that are not in view (a library function), or by a module's
  own `forward` (a frozen sub-network under `no_grad`).
- A model built in the same function and used for nothing else before the call: untrained, it
  is run to check shapes (`net = Net(); net(torch.randn(2, 3)).shape`). Loading weights into
  it first makes it a trained model again.
- `unittest.TestCase` methods, methods of an `nn.Module` (they run in the module's mode), a
  plain function passed where a model could be (`evaluate(linreg, data)`), names the file
  never binds, and files that are not PyTorch code (an MXNet or TensorFlow twin).
- Models loaded in eval mode (`from_pretrained`, `torch.jit.load`), and hooks a framework drives
  (Lightning's `validation_step`, a `transformers.Trainer` subclass).
- A `no_grad` block inside a single training step (a GAN's sample images, a DQN's target
  network): it is part of training.
- Model calls whose output is thrown away (`model(x)` as a statement, `_ = model(x)`): they run
  for side effects such as recalibrating batch norm after weight averaging, which needs train mode.
- pytest test functions (`test_*` in `test_*.py`, `*_test.py`, `conftest.py`): they test code.
  Elsewhere, a `test_fn(model, loader)` is an evaluation loop like any other.
- A model whose class is outside the project (a library model) cannot be looked into; it is
  flagged only if it is named like a model and the evaluation is otherwise certain.

## Fix safety
Unsafe (applied with `--unsafe-fixes`). It inserts `model.eval()` just before the `with`
block or loop that evaluates, or as the first statement of the evaluation function. The model
then stays in eval mode afterwards, so training that follows needs `model.train()` (TL402
reports it). No fix when the model is bound inside the evaluation scope itself.

## Runtime evidence
In the bad program, repeated predictions on one input differ (dropout is active) and batch
norm's running statistics change during evaluation; in the good program neither happens.
"""

from __future__ import annotations

import libcst as cst

from torchlint.edits import InsertBefore, first_statement
from torchlint.findings import FixSafety
from torchlint.rule import Rule


class MissingEvalMode(Rule):
    CODE = "TL401"
    NAME = "missing-eval-mode"
    MESSAGE = "`{model}` is evaluated in training mode: dropout and batch norm stay active; call `{model}.eval()` before evaluating"
    # Unsafe: the model stays in eval mode afterwards; training that follows needs `.train()`.
    FIX_TITLE = "Switch the model to eval mode before evaluating"
    FIX_SAFETY = FixSafety.UNSAFE
    TRIGGER_WORDS = ("no_grad", "inference_mode", "set_grad_enabled", "val", "test", "eval", "dev", "predict", "infer")

    def visit_Module(self, node: cst.Module) -> None:
        reported_calls = set()
        for eval_scope in self.facts.eval_scopes:
            calls = self.facts.model_calls(eval_scope)
            if any(site.node in reported_calls for site in calls):
                continue  # nested or overlapping scopes (a validate() with a loop over val_loader): one finding
            sensitive = [(site, known) for site in calls if (known := self.facts.model_call_sensitivity(site)) is not False]
            sensitive = [(site, known) for site, known in sensitive if self.facts.mode_before(site, eval_scope) in ("train", "none")]
            # one finding per evaluation scope, on the model known to hold dropout or batch norm if any
            chosen = next((site for site, known in sensitive if known), None) or next((site for site, known in sensitive if known is None), None)
            if chosen is not None:
                reported_calls.add(chosen.node)
                model = cst.Module([]).code_for_node(chosen.node.func)
                self.report(chosen.node, self.MESSAGE.format(model=model), fix=self._switch_first(eval_scope, chosen))

    def _switch_first(self, eval_scope, site) -> list:
        """``model.eval()`` just before the ``with``/``for`` block, or as the evaluation
        function's first statement, where the model is already the one evaluated."""
        model = site.node.func
        root = model
        while isinstance(root, cst.Attribute):
            root = root.value
        if not isinstance(root, cst.Name):
            return []
        bindings = eval_scope.scope.bindings.get(root.value, [])
        if eval_scope.kind == "function":
            # a parameter (bound with no value at the start) or a name from outside only
            if any(value is not None for _, value in bindings):
                return []
            where = first_statement(eval_scope.node)
        else:
            if any(eval_scope.start < index < site.index for index, _ in bindings):
                return []  # bound inside the block: not there yet before it
            where = eval_scope.node
        return [InsertBefore(where, (model, ".eval()"))] if where is not None else []

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: repeated predictions on one input differ", bad["repeat_prediction_max_diff"] > 1e-6),
            ("bad: batch-norm running statistics change during evaluation", bad["running_stats_change"] > 0.0),
            ("good: repeated predictions agree", good["repeat_prediction_max_diff"] <= 1e-6),
            ("good: running statistics are untouched", good["running_stats_change"] == 0.0),
        ]
