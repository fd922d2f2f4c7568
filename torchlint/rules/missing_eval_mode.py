"""A model is evaluated without being switched to eval mode.

## What it does
Flags a model call inside evaluation code (under `torch.no_grad()` or `torch.inference_mode()`,
in a function named for validation, testing, prediction or inference, or in a loop over a
validation or test loader) that no `model.eval()` (or `model.train(False)`) reaches: not in the
same function before the call, not in the function's callers in the same file.

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
```

## Not flagged
- A deliberate `model.train()` inside the evaluation code itself (Monte Carlo dropout).
- An evaluation function whose callers in the file switch to eval mode before calling it, a
  class that puts its model in eval mode in another method, or a script or server that calls
  `model.eval()` at the top level before its functions run.
- A class that trains its model in another method (an RL agent's `update()`): its rollouts under
  `no_grad` run in train mode on purpose. A `no_grad` block inside `forward` is part of the model.
- Models that contain no dropout or batch norm, defined in the file or in another file of the
  same run (`torchlint src/` sees `src/model.py` from `src/train.py`): the mode changes nothing.
- Models loaded in eval mode (`from_pretrained`, `torch.jit.load`), and hooks a framework drives
  (Lightning's `validation_step`, a `transformers.Trainer` subclass).
- A `no_grad` block inside a single training step (a GAN's sample images, a DQN's target
  network): it is part of training.
- Model calls whose output is thrown away (`model(x)` as a statement, `_ = model(x)`): they run
  for side effects such as recalibrating batch norm after weight averaging, which needs train mode.
- pytest test functions (`test_*` in `test_*.py`, `*_test.py`, `conftest.py`): they test code.
  Elsewhere, a `test_fn(model, loader)` is an evaluation loop like any other.
- A model whose class is outside the linted files (linting `train.py` alone, or through the
  flake8 plugin, which sees one file) cannot be looked into, and is flagged if it is named like
  a model.

## Runtime evidence
In the bad program, repeated predictions on one input differ (dropout is active) and batch
norm's running statistics change during evaluation; in the good program neither happens.
"""

from __future__ import annotations

import libcst as cst

from torchlint.rule import Rule


class MissingEvalMode(Rule):
    CODE = "TL401"
    NAME = "missing-eval-mode"
    MESSAGE = "`{model}` is evaluated in training mode: dropout and batch norm stay active; call `{model}.eval()` before evaluating"
    TRIGGER_WORDS = ("no_grad", "inference_mode", "set_grad_enabled", "val", "test", "eval", "dev", "predict", "infer")

    def visit_Module(self, node: cst.Module) -> None:
        reported_calls = set()
        for eval_scope in self.facts.eval_scopes:
            calls = self.facts.model_calls(eval_scope)
            if any(site.node in reported_calls for site in calls):
                continue  # nested or overlapping scopes (a validate() with a loop over val_loader): one finding
            for site in calls:
                if self.facts.mode_before(site, eval_scope) in ("train", "none"):
                    reported_calls.add(site.node)
                    model = cst.Module([]).code_for_node(site.node.func)
                    self.report(site.node, self.MESSAGE.format(model=model))
                    break  # one finding per evaluation scope

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: repeated predictions on one input differ", bad["repeat_prediction_max_diff"] > 1e-6),
            ("bad: batch-norm running statistics change during evaluation", bad["running_stats_change"] > 0.0),
            ("good: repeated predictions agree", good["repeat_prediction_max_diff"] <= 1e-6),
            ("good: running statistics are untouched", good["running_stats_change"] == 0.0),
        ]
