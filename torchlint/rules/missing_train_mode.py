"""Training resumes after evaluation without switching the model back to train mode.

## What it does
Flags an epoch loop that switches the model to eval mode (directly or through a local function
such as `evaluate()`) and then reaches training steps again, in the same iteration or the next,
with no `model.train()` in between (directly or through a local function).

## Why is this bad?
After the first evaluation every later epoch trains in eval mode: dropout is off, so the model
overfits, and batch norm normalises with frozen running statistics that are never updated again.
The first epoch looks normal; the damage shows only as a worse final model.

## Example
```python
def fit(model, train_loader, val_loader, optimizer, loss_fn, epochs):
    for epoch in range(epochs):
        for x, y in train_loader:
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()
        model.eval()
        validate(model, val_loader)
```

## Use instead
```python
def fit(model, train_loader, val_loader, optimizer, loss_fn, epochs):
    for epoch in range(epochs):
        model.train()
        for x, y in train_loader:
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()
        model.eval()
        validate(model, val_loader)
```

## Not flagged
- A `train_one_epoch()` helper that calls `model.train()` itself, called after an `evaluate()`
  helper that calls `model.eval()`: both are seen through.
- Loops that switch to eval but never train again (evaluation after the training loop).
- Switching something other than the trained model: a teacher or target network, a submodule
  (`model.backbone.eval()` to freeze batch norm), the modules of a loop over `model.modules()`.
- A model without dropout or batch norm, defined in the file or the project: eval mode changes
  nothing in training.
- Eval-mode training on purpose: a linear probe whose optimizer updates only a head while the
  backbone it switched to eval stays frozen, or a switch to eval before any training step of
  the iteration when the optimizers' models are not in view.
- A mode chosen afresh in every iteration (`if phase == "train": model.train() else:
  model.eval()`, as in the PyTorch transfer-learning tutorial).

## Fix safety
Unsafe (applied with `--unsafe-fixes`). It inserts `model.train()` as the first statement of
the training loop's body. The first iteration then also trains in train mode, whatever mode
the model came in with. Offered only when the switch to eval follows every training step of
the iteration (an evaluation at the end of an epoch), so that the inserted line comes before
the next ones.

## Runtime evidence
In the bad program the second epoch trains with `model.training == False`: dropout is off and
batch norm's running statistics stay frozen during training. In the good program they do not.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.events import BACKWARD, EVAL, STEP, TRAIN, UNKNOWN
from torchlint.analysis.names import name_words, named_like_model
from torchlint.analysis.order import first_of, following
from torchlint.edits import InsertBefore, first_statement
from torchlint.findings import FixSafety
from torchlint.rule import Rule


# Models a training loop evaluates but never trains.
FROZEN_MODEL_WORDS = frozenset({"teacher", "target", "ema", "frozen", "pretrained", "reference", "ref"})


class MissingTrainMode(Rule):
    CODE = "TL402"
    NAME = "missing-train-mode"
    MESSAGE = "the model is switched to eval mode here and training resumes without `.train()`: the training steps after it run with dropout off and batch norm frozen"
    # the loop is in this file; its mode switches may come from helpers in other files
    TRIGGER_WORDS = ("for", "while")
    # Unsafe: the first iteration then trains in train mode too, whatever mode the model came in.
    FIX_TITLE = "Switch the model back to train mode at the start of each iteration"
    FIX_SAFETY = FixSafety.UNSAFE

    def visit_Module(self, node: cst.Module) -> None:
        for loop in self.facts.training_loops:
            events = [event for event in loop.events if event.kind in (EVAL, TRAIN, BACKWARD, STEP, UNKNOWN)]
            trained = {event.receiver for event in events if event.kind == TRAIN and event.receiver}
            for position, event in enumerate(events):
                if event.kind != EVAL or not self._may_be_the_trained_model(event.receiver, trained):
                    continue
                # a helper we cannot see (UNKNOWN) may switch back to train mode: silence
                next_relevant = first_of(following(events, position), (TRAIN, BACKWARD, STEP, EVAL, UNKNOWN))
                if next_relevant is None or next_relevant.kind not in (BACKWARD, STEP) or self._chosen_per_iteration(event, events):
                    continue
                if self._trains_in_eval_mode_on_purpose(loop, event, events[:position]) or self._mode_changes_nothing(event):
                    continue
                self.report(event.anchor, fix=self._train_first(loop, event, events[position + 1:]))

    @staticmethod
    def _train_first(loop, switch, rest_of_iteration) -> list:
        """``model.train()`` as the loop body's first statement, when the switch to eval comes
        after every training step of the iteration (the evaluation at the end of an epoch)."""
        first = first_statement(loop.site.node)
        if switch.receiver is None or first is None or any(event.kind in (BACKWARD, STEP) for event in rest_of_iteration):
            return []
        return [InsertBefore(first, f"{switch.receiver}.train()")]

    def _trains_in_eval_mode_on_purpose(self, loop, switch, before) -> bool:
        """A linear probe keeps its frozen backbone in eval mode and trains only a head: the
        optimizers update another model than the one switched. A switch before any training
        step of the iteration, with the optimizers' models unknown, may be that too."""
        models = {self.facts.optimizer_model(optimizer, loop.site.scope) for optimizer in loop.optimizers}
        if switch.receiver and None not in models:
            return switch.receiver not in models
        return not any(event.kind in (BACKWARD, STEP) for event in before)

    def _mode_changes_nothing(self, switch) -> bool:
        """A model without dropout or batch norm trains the same in eval mode."""
        site = self.facts.call_site(switch.node)
        if switch.node is not switch.anchor or site is None or not isinstance(switch.node.func, cst.Attribute):
            return False
        return self.facts.model_sensitivity(switch.node.func.value, site.scope, site.index) is False

    @staticmethod
    def _may_be_the_trained_model(receiver, trained: set) -> bool:
        """``teacher.eval()``, ``model.backbone.eval()`` (frozen batch norm) and ``m.eval()``
        over ``model.modules()`` switch something other than the model being trained."""
        if receiver is None or receiver in trained:
            return True  # a helper's switch, or the model this loop switches to train
        if receiver.removeprefix("self.").count(".") > 0:
            return False  # a submodule
        words = set(name_words(receiver.rsplit(".", 1)[-1]))
        if words & FROZEN_MODEL_WORDS:
            return False
        return named_like_model(receiver) and not trained

    def _chosen_per_iteration(self, switch, events) -> bool:
        """``if phase == "train": model.train() else: model.eval()``: one branch of an ``if``
        switches to eval and the other back to train, so every iteration chooses afresh."""
        return any(other.kind == TRAIN and self.facts.in_exclusive_branches(switch, other) for other in events)

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: the second epoch trains with model.training == False", not bad["second_epoch_training_flag"]),
            ("bad: batch-norm running statistics stay frozen during the second epoch", bad["second_epoch_running_stats_change"] == 0.0),
            ("good: the second epoch trains in train mode", bool(good["second_epoch_training_flag"])),
            ("good: running statistics update during the second epoch", good["second_epoch_running_stats_change"] > 0.0),
        ]
