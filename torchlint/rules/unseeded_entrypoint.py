"""A training script's entry point that never seeds torch (off by default).

## What it does
Flags `if __name__ == "__main__":` in a file that trains (it holds a training loop) and never
seeds torch's generators: no `torch.manual_seed`, `torch.cuda.manual_seed(_all)`,
`torch.random.manual_seed`, Lightning's `seed_everything`, Hugging Face's `set_seed`, or a
function of the project named for seeding.

## Why is this bad?
Weights are initialised, data shuffled and dropout masks drawn from torch's random generators.
Unseeded, two runs of the same script give different losses, and an improvement cannot be
told from noise; a bug report cannot be reproduced.

## Example
```python
import torch


def train(model, loader, optimizer, loss_fn):
    for x, y in loader:
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()


if __name__ == "__main__":
    train(torch.nn.Linear(4, 1), [], None, torch.nn.MSELoss())
```

## Use instead
```python
import torch


def train(model, loader, optimizer, loss_fn):
    for x, y in loader:
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()


if __name__ == "__main__":
    torch.manual_seed(0)
    train(torch.nn.Linear(4, 1), [], None, torch.nn.MSELoss())
```

## Not flagged
- Library modules (no entry point), files that do not train, and files that call any seeding
  function (also one of the project's own, such as `set_seed(args.seed)`).
- Off by default: reproducibility is a choice; select it with `--extend-select TL901`.

## Runtime evidence
Two unseeded runs of the bad program's training give different final losses; two seeded runs
of the good program give the same.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.names import last_name, name_words
from torchlint.rule import Rule

SEEDING_FUNCTIONS = frozenset({
    "torch.manual_seed", "torch.random.manual_seed", "torch.cuda.manual_seed", "torch.cuda.manual_seed_all",
    "lightning.seed_everything", "lightning.pytorch.seed_everything", "pytorch_lightning.seed_everything",
    "transformers.set_seed", "accelerate.utils.set_seed", "lightning.fabric.seed_everything",
})


NOT_TORCH_SEEDING = ("random.", "numpy.", "np.", "torch.")


class UnseededEntrypoint(Rule):
    CODE = "TL901"
    NAME = "unseeded-entrypoint"
    MESSAGE = "this script trains without seeding torch: two runs give different results; call `torch.manual_seed(...)` at start-up"
    DEFAULT_ENABLED = False
    TRIGGER_WORDS = ("__main__",)

    def visit_If(self, node: cst.If) -> None:
        if self.facts.is_test_file or not _is_main_guard(node.test) or not self.facts.training_loops or self._seeds():
            return
        self.report(node.test)

    def _seeds(self) -> bool:
        for site in self.facts.walk.calls:
            qualified = self.facts.qualified_name(site.node.func)
            if qualified in SEEDING_FUNCTIONS:
                return True
            if (qualified or "").startswith(NOT_TORCH_SEEDING):
                continue  # ``random.seed``, ``np.random.seed``, ``torch.seed()`` (a random seed), ``torch.initial_seed()``
            name = last_name(site.node.func) or ""
            if {"seed", "seeds"} & set(name_words(name)):  # the project's ``set_seed(args.seed)``, ``init_seeds()``
                return True
        return False

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: two unseeded runs train different models", bad["run_to_run_weight_max_diff"] > 0.1),
            ("bad: and end at different losses", bad["run_to_run_loss_diff"] > 1e-6),
            ("good: two seeded runs train the same model", good["run_to_run_weight_max_diff"] <= 1e-6),
            ("good: and end at the same loss", good["run_to_run_loss_diff"] <= 1e-7),
        ]


def _is_main_guard(test: cst.BaseExpression) -> bool:
    return (
        isinstance(test, cst.Comparison) and isinstance(test.left, cst.Name) and test.left.value == "__name__"
        and len(test.comparisons) == 1 and isinstance(test.comparisons[0].comparator, cst.SimpleString)
        and test.comparisons[0].comparator.evaluated_value == "__main__"
    )
