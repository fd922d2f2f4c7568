"""Evaluation that records the autograd graph: no `torch.no_grad()` around it.

## What it does
Flags the first call of a model (a value known to be an `nn.Module`) in an evaluation (a function named for validation, testing or
prediction, or a loop over a validation or test loader) that runs with gradients enabled: no
`with torch.no_grad()` or `torch.inference_mode()` around it, no such decorator, and no caller
in view that disables gradients around the call. Evaluation at the top level of a script is
judged on its own; an evaluation function is judged only when its callers are in view.

## Why is this bad?
Every forward pass records its graph and keeps the activations backward would need: evaluation
takes about twice the memory and noticeably longer, and outputs collected in a list keep every
batch's graph alive until the list goes, often ending in an out-of-memory error on a validation
set that should fit easily.

## Example
```python
import torch


def evaluate(model, loader):
    model.eval()
    correct = 0
    for x, y in loader:
        correct += (model(x).argmax(1) == y).sum().item()
    return correct


def main(loader):
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    model.load_state_dict(torch.load("model.pt", weights_only=True))
    print(evaluate(model, loader))
```

## Use instead
```python
import torch


@torch.no_grad()
def evaluate(model, loader):
    model.eval()
    correct = 0
    for x, y in loader:
        correct += (model(x).argmax(1) == y).sum().item()
    return correct


def main(loader):
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    model.load_state_dict(torch.load("model.pt", weights_only=True))
    print(evaluate(model, loader))
```

## Not flagged
- Evaluation that needs gradients: it calls `backward()`, `torch.autograd.grad` or
  `torch.set_grad_enabled` (saliency maps, adversarial examples, input gradients); and
  evaluation of a model it freezes with `requires_grad_(False)`.
- An evaluation function whose callers are not in view (its caller may disable gradients), or
  any of whose callers calls it under `no_grad`; and functions named like evaluation that are
  part of building or training the model (called from a module's own method, such as a shape
  probe in `__init__`, or before a `backward()`, such as images generated in a training step).
- Parameter-free modules (a loss module), test files, and a call in an `except` clause (a retry
  with gradients after the same call failed under `no_grad`).
- Hooks that a framework drives (Lightning's `validation_step` runs under `no_grad`), and the
  exemptions of TL401 (methods of a module, tests, fresh models).

## Off by default
On the real-code benchmark 2 of its 4 findings were right; the others were evaluations that
need gradients through code torchlint cannot see (MAML's `learner.adapt(loss)`, a trainer
shared by models that call `autograd.grad` in `forward`). Turn it on with
`--extend-select TL403` (or `extend-select = ["TL403"]`).

## Runtime evidence
The bad program's evaluation outputs carry a `grad_fn` and hold the graph's saved tensors; the
good program's outputs have none.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.events import BACKWARD
from torchlint.analysis.torch_api import GRAD_MODE_SETTER
from torchlint.rule import Rule

GRADIENT_FUNCTIONS = frozenset({"torch.autograd.grad", "torch.autograd.backward"}) | GRAD_MODE_SETTER


class EvalWithoutNoGrad(Rule):
    CODE = "TL403"
    NAME = "eval-without-no-grad"
    # Off until its precision on the real-code benchmark reaches 90 % (2 of 4 findings so far:
    # evaluation that needs gradients through code it cannot see looks the same).
    DEFAULT_ENABLED = False
    MESSAGE = "`{model}` is evaluated with gradients enabled: every batch records its graph and keeps its activations; wrap the evaluation in `with torch.no_grad():`"
    TRIGGER_WORDS = ("val", "test", "eval", "predict", "infer")

    def visit_Module(self, node: cst.Module) -> None:
        if self.facts.is_test_file:
            return
        reported = set()
        for eval_scope in self.facts.eval_scopes:
            if eval_scope.kind == "no_grad" or self._needs_gradients(eval_scope):
                continue
            calls = [
                site for site in self.facts.model_calls(eval_scope)
                if not self.facts.grad_disabled_at(site) and self._runs_a_trained_model(site) and not _in_except_clause(site)
            ]
            if not calls or any(site.node in reported for site in self.facts.model_calls(eval_scope)):
                continue
            # last: the callers may be in other files, the costliest question
            if self._callers_keep_gradients(eval_scope.scope):
                reported.add(calls[0].node)
                self.report(calls[0].node, self.MESSAGE.format(model=cst.Module([]).code_for_node(calls[0].node.func)))

    def _needs_gradients(self, eval_scope) -> bool:
        """The evaluation computes gradients (saliency, adversarial inputs), sets the grad mode
        itself, or freezes the model's parameters (``requires_grad_(False)``: nothing is recorded)."""
        for site in self.facts.calls_within(eval_scope.scope):
            if not eval_scope.contains(site.index):
                continue
            func = site.node.func
            if self.facts.qualified_name(func) in GRADIENT_FUNCTIONS or isinstance(func, cst.Attribute) and func.attr.value == "requires_grad_":
                return True
        return any(event.kind == BACKWARD and eval_scope.contains(event.index) for event in self.facts.events_of(eval_scope.scope))

    def _runs_a_trained_model(self, site) -> bool:
        """A module with parameters: a parameter-free loss module records no graph of its own."""
        if not self.facts.is_module_instance(site.node.func, site.scope, site.index):
            return False
        _, built = self.facts.constructor_of(site.node.func, site.scope, site.index)
        return built is None or self.facts.builds_parameters(built)

    def _callers_keep_gradients(self, scope) -> bool:
        """A script's top level runs as it is; a function, as its callers call it: all of them
        in view, and none under ``no_grad``."""
        if scope is self.facts.module_scope:
            return True
        callers = self.facts.callers(scope)
        return bool(callers) and not any(caller_facts.grad_disabled_at(site) for caller_facts, site in callers)

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: the evaluated logits carry a grad_fn and require grad", bad["logits_have_grad_fn"] and bad["logits_require_grad"]),
            ("bad: the kept logits hold an autograd graph with saved activations", bad["graph_nodes"] > 0 and bad["saved_activations_alive"] > 0),
            ("bad: each validation batch keeps its hidden activations alive", bad["activation_bytes_per_batch"] >= 100_000),
            ("good: the logits have no grad_fn and do not require grad", not good["logits_have_grad_fn"] and not good["logits_require_grad"]),
            ("good: no graph, nothing saved for backward", good["graph_nodes"] == 0 and good["saved_tensors_alive"] == 0 and good["activation_bytes_per_batch"] == 0),
            ("both: the predictions themselves are the same", bad["correct"] == good["correct"]),
        ]


def _in_except_clause(site) -> bool:
    """A retry with gradients after the same call failed under ``no_grad`` is deliberate."""
    return any(isinstance(block, cst.ExceptHandler) for block in site.blocks)
