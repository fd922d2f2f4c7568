"""Evaluation scopes, the model calls in them, and the train/eval mode that reaches those calls.

Evaluation code is code under ``torch.no_grad()``/``torch.inference_mode()`` (as a block or a
decorator), a function named for validation, testing, prediction or inference, or a loop over a
validation or test loader. Hooks that a framework drives (Lightning's ``validation_step``, a
Hugging Face ``Trainer`` subclass) are not evaluation scopes: the framework sets the mode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Union

import libcst as cst

from torchlint.analysis import torch_api
from torchlint.analysis.events import BACKWARD, EVAL, STEP, TRAIN, UNKNOWN, Event, disables_grad, grad_disabled_by_decorator
from torchlint.analysis.facts import CallSite, Scope
from torchlint.analysis.project import is_module_class, mode_sensitivity
from torchlint.analysis.flows import constructor
from torchlint.analysis.names import dotted_name, name_words, named_like_model
from torchlint.analysis.values import Value

if TYPE_CHECKING:
    from torchlint.analysis import FileFacts

EVAL_FUNCTION_WORDS = frozenset({
    "val", "valid", "validate", "validation", "eval", "evaluate", "evaluation", "test", "testing",
    "predict", "prediction", "infer", "inference",
})
EVAL_LOADER = re.compile(
    r"(^|_)(val|valid|validation|test|testing|eval|evaluation|dev)_?(loader|dataloader|dl|data|dataset|ds|set|batches|iter)s?($|_)"
    r"|(^|_)(loader|dataloader|dl)_?(val|valid|test|eval)($|_)"
)
# Loaders that return a model already in eval mode.
LOADED_IN_EVAL_MODE = ("from_pretrained", "torch.jit.load")


@dataclass(eq=False)
class EvalScope:
    kind: str  # "no_grad", "function" or "loader_loop"
    node: Union[cst.With, cst.FunctionDef, cst.For]
    scope: Scope  # the function the evaluation code runs in
    start: int
    end: int

    def contains(self, index: int) -> bool:
        return self.start <= index <= self.end


def eval_scopes(facts: "FileFacts") -> list[EvalScope]:
    found = []
    in_test_file = _is_test_file(facts.path)
    # A no_grad block inside a single training step (sample images of a GAN, a DQN's target
    # network, a teacher's soft targets) belongs to training, not evaluation.
    training_steps = [loop.site.node for loop in facts.training_loops if facts.is_innermost_training_loop(loop)]
    for scope in facts.walk.scopes:
        in_single_step = _is_single_training_step(facts, scope) or _is_module_forward(facts, scope)
        if facts.is_framework_driven(scope.enclosing_class) or (in_test_file and _is_pytest_test(scope)):
            continue
        if isinstance(scope.node, cst.FunctionDef) and (
            grad_disabled_by_decorator(facts, scope) or (_named_for_evaluation(scope.name) and not _trains(facts, scope))
        ):
            found.append(EvalScope("function", scope.node, scope, scope.start, scope.end))
        for site in scope.withs:
            if in_single_step or any(step in site.blocks for step in training_steps):
                continue
            if any(disables_grad(facts, item.item) for item in site.node.items):
                found.append(EvalScope("no_grad", site.node, scope, site.index, site.end))
        for site in scope.loops:
            if isinstance(site.node, cst.For) and _iterates_eval_loader(site.node.iter):
                found.append(EvalScope("loader_loop", site.node, scope, site.index, site.end))
    return found


def model_calls(facts: "FileFacts", eval_scope: EvalScope) -> list[CallSite]:
    """Calls in the scope that run a mode-sensitive model (or one we cannot see into) and use
    its output: a call whose result is thrown away runs for its side effects, such as
    recalibrating batch norm after weight averaging, which needs train mode."""
    return [
        site for site in eval_scope.scope.calls
        if eval_scope.contains(site.index) and not site.discarded and _calls_model(facts, site)
    ]


def mode_before(facts: "FileFacts", site: CallSite, eval_scope: EvalScope) -> str:
    """The mode a model call runs in, as far as the file shows.

    "eval": an eval switch reaches it. "deliberate": the evaluation code itself chose train mode
    (MC dropout). "train": the last switch before it, outside the evaluation code, was train().
    "none": no switch reaches it, and a fresh model is in train mode.
    """
    last = _last_switch_before(facts, site.scope, site.index)
    if last is not None:
        if last.kind in (EVAL, UNKNOWN):
            return "eval"  # or a helper we cannot see may have switched: silence
        if eval_scope.contains(last.index) or not _trains_between(facts, site.scope, last.index, site.index):
            return "deliberate"
        return "train"
    owner = site.scope.enclosing_class
    if owner is not None:
        class_events = [event for method in owner.methods.values() for event in facts.events_of(method)]
        if any(event.kind == EVAL for event in class_events):
            return "eval"  # set up elsewhere in the class (``self.model.eval()`` in __init__, say)
        if any(event.kind in (BACKWARD, STEP) for event in class_events):
            return "deliberate"  # an agent whose update() trains it: its rollouts run in train mode
    # functions run after the module's top level: a global model switched there starts in eval
    module_scope = facts.walk.module_scope
    model = dotted_name(site.node.func)
    if site.scope is not module_scope and "." not in (model or ".") and site.scope.bindings.get(model) is None:
        module_switches = [e for e in facts.events_of(module_scope) if e.kind in (EVAL, TRAIN) and e.receiver == model]
        if module_switches and module_switches[-1].kind == EVAL:
            return "eval"  # ``model.eval()`` at the top of an inference script or server
    return _mode_from_callers(facts, site.scope, depth=1)


def _mode_from_callers(facts: "FileFacts", function: Scope, depth: int) -> str:
    """The mode the function's callers in this file leave the model in. One caller that
    switches to eval is enough: where callers disagree, silence is preferred."""
    if depth > 3:
        return "none"
    modes = [_mode_at_call(facts, caller, depth) for caller in _callers(facts, function)]
    if "eval" in modes:
        return "eval"
    return "train" if "train" in modes else "none"


def _mode_at_call(facts: "FileFacts", caller: CallSite, depth: int) -> str:
    last = _last_switch_before(facts, caller.scope, caller.index)
    if last is None:
        return _mode_from_callers(facts, caller.scope, depth + 1)
    if last.kind in (EVAL, UNKNOWN) or not _trains_between(facts, caller.scope, last.index, caller.index):
        return "eval"
    return "train"


def _last_switch_before(facts: "FileFacts", scope: Scope, index: int) -> Optional[Event]:
    switches = [event for event in facts.events_of(scope) if event.kind in (EVAL, TRAIN, UNKNOWN) and event.index < index]
    return switches[-1] if switches else None


def _trains_between(facts: "FileFacts", scope: Scope, start: int, end: int) -> bool:
    """A train() followed by training steps was for training; one followed directly by
    evaluation is a deliberate choice (Monte Carlo dropout)."""
    return any(event.kind in (BACKWARD, STEP) and start <= event.index < end for event in facts.events_of(scope))


def _is_module_forward(facts: "FileFacts", scope: Scope) -> bool:
    """A no_grad block in ``forward`` is part of the model (MoCo's key encoder, a distillation
    teacher inside a loss module), which runs in whatever mode the model is in."""
    owner = scope.class_info
    return scope.name == "forward" and owner is not None and facts.is_module_class(owner)


def _is_single_training_step(facts: "FileFacts", scope: Scope) -> bool:
    """An ``update()``/``learn()`` method that runs backward and steps once, outside any loop,
    as reinforcement-learning agents do: its no_grad blocks compute targets, not evaluations."""
    steps = [event for event in facts.events_of(scope) if event.kind in (BACKWARD, STEP)]
    return (
        {event.kind for event in steps} == {BACKWARD, STEP}
        and not any(loop.index <= event.index <= loop.end for event in steps for loop in scope.loops)
    )


def _trains(facts: "FileFacts", scope: Scope) -> bool:
    """A function that steps an optimizer is a training function, whatever its name says."""
    return any(event.kind in (BACKWARD, STEP) for event in facts.events_of(scope))


def _callers(facts: "FileFacts", function: Scope) -> list[CallSite]:
    if not isinstance(function.node, cst.FunctionDef):
        return []
    return [site for site in facts.walk.calls if facts.local_function(site.node.func, site.scope) is function]


def _named_for_evaluation(name: str) -> bool:
    return bool(EVAL_FUNCTION_WORDS.intersection(name_words(name)))


def _is_test_file(path: str) -> bool:
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"


def _is_pytest_test(scope: Scope) -> bool:
    """pytest's test functions test code (a shape, a dtype); they are not evaluation loops.
    Only in test files: elsewhere ``test_fn(model, loader)`` is an evaluation loop."""
    while scope is not None:
        if scope.name.startswith("test_"):
            return True
        scope = scope.parent
    return False


def _iterates_eval_loader(iterable: cst.BaseExpression) -> bool:
    candidates = [iterable]
    if isinstance(iterable, cst.Call):  # enumerate(val_loader), tqdm(test_loader, ...)
        candidates += [arg.value for arg in iterable.args if arg.keyword is None]
    for candidate in candidates:
        name = dotted_name(candidate)
        if name and EVAL_LOADER.search(name.rsplit(".", 1)[-1].lower()):
            return True
    return False


def _calls_model(facts: "FileFacts", site: CallSite) -> bool:
    func = site.node.func
    name = dotted_name(func)
    if name is None or name == "self" or facts.local_function(func, site.scope) is not None:
        return False
    if not site.node.args:
        return False  # a forward pass takes an input; ``solver.model()`` is a method
    if name.rsplit(".", 1)[-1][:1].isupper():
        return False  # ``Generator(params)`` builds a model (CapWords names a class); it runs nothing
    if facts.qualified_name(func) is not None:
        return False  # a library function, not a model instance
    built, call = constructor(facts, Value(func, site.scope, site.index))
    if call is not None:
        if any(marker in (built or "") or (isinstance(call.func, cst.Attribute) and call.func.attr.value == marker) for marker in LOADED_IN_EVAL_MODE):
            return False
        local = facts.classes_by_name.get(call.func.value) if isinstance(call.func, cst.Name) else None
        if local is not None:
            return facts.is_module_class(local) and facts.mode_sensitivity(local) is not False
        elsewhere = facts.project_class(built)
        if elsewhere is not None:
            return is_module_class(elsewhere, facts) and mode_sensitivity(elsewhere, facts) is not False
        if built is not None and built.startswith("torch.nn."):
            if built in torch_api.SEQUENTIAL:
                return any(
                    isinstance(arg.value, cst.Call) and facts.constructed_sensitivity(arg.value.func)
                    for arg in call.args
                )
            return torch_api.torch_nn_class(built) in torch_api.MODE_SENSITIVE_LAYERS
    return named_like_model(name)
