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

from torchlint.analysis import arguments, torch_api
from torchlint.analysis.events import BACKWARD, EVAL, STEP, TRAIN, UNKNOWN, Event, disables_grad, grad_disabled_by_decorator
from torchlint.analysis.facts import MODULE_RETURNING_METHODS, CallSite, Scope, unwrap_module_methods
from torchlint.analysis.flows import constructor
from torchlint.analysis.names import dotted_name, name_words, named_like_model
from torchlint.analysis.values import MAX_CHAIN, Value, binding_before, resolve

if TYPE_CHECKING:
    from torchlint.analysis import FileFacts

EVAL_FUNCTION_WORDS = frozenset({
    "val", "valid", "validate", "validation", "eval", "evaluate", "evaluation", "test", "testing",
    "predict", "prediction", "infer", "inference",
    # inference after training: decoding and sampling from a trained model
    "translate", "generate", "generation", "sample", "sampling", "beam", "greedy",
})
# Methods that load trained weights into a model: after one, the model is no longer fresh.
# Any other use of the model (handing it to a function, calling another of its methods) counts too.
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
    in_test_file = facts.is_test_file
    # A no_grad block inside a single training step (sample images of a GAN, a DQN's target
    # network, a teacher's soft targets) belongs to training, not evaluation.
    training_steps = [loop.site.node for loop in facts.training_loops if facts.is_innermost_training_loop(loop)]
    for scope in facts.walk.scopes:
        if not _may_evaluate(facts, scope, in_test_file):
            continue
        in_single_step = _is_single_training_step(facts, scope)
        if isinstance(scope.node, cst.FunctionDef) and (
            grad_disabled_by_decorator(facts, scope)
            or (_named_for_evaluation(scope.name) and not _trains(facts, scope) and not _called_as_part_of_training(facts, scope))
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
    return found + _helpers_called_to_evaluate(facts, found, in_test_file)


def _may_evaluate(facts: "FileFacts", scope: Scope, in_test_file: bool) -> bool:
    """Code whose mode is someone else's business is not an evaluation of its own: hooks a
    framework drives, unittest and pytest tests (they test code), and the methods of a module,
    which run in whatever mode the module was put in (MoCo's no_grad key encoder in forward)."""
    owner = scope.enclosing_class
    if facts.is_framework_driven(owner) or facts.is_test_case(owner) or (owner is not None and facts.is_module_class(owner)):
        return False
    return not (in_test_file and _is_pytest_test(scope))


def _helpers_called_to_evaluate(facts: "FileFacts", scopes: list[EvalScope], in_test_file: bool) -> list[EvalScope]:
    """``compute_accuracy(model, loader)`` called under ``no_grad`` from the epoch loop: the
    helper evaluates, whatever its name, unless it trains."""
    found = []
    evaluating = [scope for scope in scopes if scope.kind == "no_grad"]
    if not evaluating:
        return found
    known = {scope.node for scope in scopes}
    for scope in facts.walk.scopes:
        if scope.node in known or not isinstance(scope.node, cst.FunctionDef) or _trains(facts, scope):
            continue
        if not _may_evaluate(facts, scope, in_test_file):
            continue
        if any(
            any(outer.scope is site.scope and outer.contains(site.index) for outer in evaluating)
            for _, site in facts.callers(scope, other_files=False)
        ):
            found.append(EvalScope("function", scope.node, scope, scope.start, scope.end))
    return found


def model_calls(facts: "FileFacts", eval_scope: EvalScope) -> list[CallSite]:
    """Calls in the scope that may run a trained model and use its output; whether the model
    depends on its mode is asked separately (``model_sensitivity``), as it costs more.

    A call whose result is thrown away runs for its side effects, such as recalibrating batch
    norm after weight averaging, which needs train mode. A model built in the same function and
    used for nothing before the call is untrained: running it checks shapes, it evaluates nothing.
    """
    return [
        site for site in eval_scope.scope.calls
        if eval_scope.contains(site.index) and not site.discarded and _may_run_a_model(facts, site)
        and not _is_fresh(facts, site.node.func, site)
    ]


def mode_before(facts: "FileFacts", site: CallSite, eval_scope: EvalScope) -> str:
    """The mode a model call runs in, as far as the file shows.

    "eval": an eval switch reaches it. "deliberate": the evaluation code itself chose train mode
    (MC dropout). "train": the last switch before it, outside the evaluation code, was train().
    "none": no switch reaches it, and a fresh model is in train mode. "unknown": the model is
    handed in by callers that are not in view, or by a module's own forward.
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
        # set up elsewhere in the class or a base class it extends (``self.model.eval()`` in
        # __init__, a base ``fit()`` that switches before calling the hook this method overrides)
        classes = [(facts, owner), *((ref.facts, ref.info) for ref in facts.ancestors(owner))]
        class_events = [event for where, info in classes for method in info.methods.values() for event in where.events_of(method)]
        if any(event.kind in (EVAL, UNKNOWN) for event in class_events):
            return "eval"
        if any(event.kind in (BACKWARD, STEP) for event in class_events):
            return "deliberate"  # an agent whose update() trains it: its rollouts run in train mode
    # functions run after the module's top level: a global model switched there starts in eval
    module_scope = facts.walk.module_scope
    model = dotted_name(site.node.func)
    if site.scope is not module_scope and "." not in (model or ".") and site.scope.bindings.get(model) is None:
        module_switches = [e for e in facts.events_of(module_scope) if e.kind in (EVAL, TRAIN) and e.receiver == model]
        if module_switches and module_switches[-1].kind == EVAL:
            return "eval"  # ``model.eval()`` at the top of an inference script or server
    model = Value(site.node.func, site.scope, site.index)
    handed_in, parameter = _handed_in(model)
    if not handed_in:
        # built, loaded or global here: in train mode until switched, unless it wraps models
        # that come from elsewhere (``EnsembleModel(models)``), whose own modes count
        return "unknown" if _wraps_models(facts, model) else "none"
    return _mode_from_callers(facts, site.scope, parameter, depth=1)


def _handed_in(model: Value) -> tuple[bool, Optional[str]]:
    """Whether a model comes from outside the function, and through which parameter: a
    parameter (``model``, ``model.encoder``) or an attribute of ``self`` (no parameter)."""
    value = model
    for _ in range(MAX_CHAIN):
        head = value.expr
        while isinstance(head, (cst.Attribute, cst.Subscript)):  # ``self.nets[i]`` is handed in too
            head = head.value
        if isinstance(head, cst.Name) and head.value == "self":
            return True, None
        value = resolve(Value(head, value.scope, value.index))
        moved = unwrap_module_methods(value.expr)[-1]  # ``model = model.to(device)``
        if moved is value.expr:
            break
        value = Value(moved, value.scope, value.index)
    found = arguments.parameter_of(value)
    return (True, found[1]) if found is not None else (False, None)


def _wraps_models(facts: "FileFacts", model: Value) -> bool:
    """``EnsembleModel(models)``, ``nn.DataParallel(self.net)``: a container built around models
    handed to it, which keep the mode they are in."""
    _, call = constructor(facts, model)
    if call is None:
        return False
    for arg in call.args:
        values = [element.value for element in arg.value.elements] if isinstance(arg.value, (cst.List, cst.Tuple)) else [arg.value]
        if any((name := dotted_name(value)) and named_like_model(name) for value in values):
            return True
    return False


def _mode_from_callers(facts: "FileFacts", function: Scope, parameter: Optional[str], depth: int) -> str:
    """The mode the function's callers (in this file and the project) leave the model in.

    One caller that switches to eval is enough for silence, and so is having no caller in
    view ("unknown"): whoever calls a library function owns the mode of what it hands over.
    """
    found = facts.callers(function)
    if depth > 3 or not found:
        return "unknown"
    modes = [_mode_at_call(where, caller, function, parameter, depth) for where, caller in found]
    if "eval" in modes:
        return "eval"
    return "train" if "train" in modes else "none" if "none" in modes else "unknown"


def _mode_at_call(facts: "FileFacts", caller: CallSite, function: Scope, parameter: Optional[str], depth: int) -> str:
    owner = caller.scope.enclosing_class
    if owner is not None and facts.is_module_class(owner):
        return "unknown"  # run by a module's own methods (its forward): the module's mode decides
    last = _last_switch_before(facts, caller.scope, caller.index)
    if last is not None:
        if last.kind in (EVAL, UNKNOWN) or not _trains_between(facts, caller.scope, last.index, caller.index):
            return "eval"
        return "train"
    if parameter is None:  # ``self.model``: the caller's self is the same object
        return "none" if caller.scope is facts.module_scope else _mode_from_callers(facts, caller.scope, None, depth + 1)
    passed = arguments.argument_for(caller, function, parameter)
    if passed is None:
        return "unknown"
    handed_in, outer = _handed_in(Value(passed, caller.scope, caller.index))
    if not handed_in:  # the caller's own model, never switched
        if _wraps_models(facts, Value(passed, caller.scope, caller.index)) or _is_fresh(facts, passed, caller):
            return "unknown"  # models keeping their own modes, or an untrained one
        return "none"
    return _mode_from_callers(facts, caller.scope, outer, depth + 1)


def _last_switch_before(facts: "FileFacts", scope: Scope, index: int) -> Optional[Event]:
    switches = [event for event in facts.events_of(scope) if event.kind in (EVAL, TRAIN, UNKNOWN) and event.index < index]
    return switches[-1] if switches else None


def _trains_between(facts: "FileFacts", scope: Scope, start: int, end: int) -> bool:
    """A train() followed by training steps was for training; one followed directly by
    evaluation is a deliberate choice (Monte Carlo dropout)."""
    return any(event.kind in (BACKWARD, STEP) and start <= event.index < end for event in facts.events_of(scope))


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


def _named_for_evaluation(name: str) -> bool:
    return bool(EVAL_FUNCTION_WORDS.intersection(name_words(name)))


def _called_as_part_of_training(facts: "FileFacts", scope: Scope) -> bool:
    """A function named like evaluation that a module's own method calls (a shape probe in
    ``__init__``), or whose caller backpropagates afterwards (images generated inside a
    training step), is part of building or training the model, not evaluation."""
    for site in facts.calls_by_target.get(scope, []):
        owner = site.scope.enclosing_class
        if owner is not None and facts.is_module_class(owner):
            return True
        if any(event.kind == BACKWARD and event.index > site.index for event in facts.events_of(site.scope)):
            return True
    return False


def is_test_file(path: str) -> bool:
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


def model_sensitivity(facts: "FileFacts", site: CallSite) -> Optional[bool]:
    """Does this call run a model whose output depends on train/eval mode? True when its class
    is known to hold dropout or batch norm, None when the model cannot be seen into but is named
    like one, False for anything else (a function, a class being built, a model without them)."""
    if not _may_run_a_model(facts, site):
        return False
    func = site.node.func
    return value_sensitivity(facts, Value(func, site.scope, site.index), dotted_name(func), depth=0)


def _may_run_a_model(facts: "FileFacts", site: CallSite) -> bool:
    func = site.node.func
    name = dotted_name(func)
    if name is None or name == "self" or facts.local_function(func, site.scope) is not None:
        return False
    if not site.node.args:
        return False  # a forward pass takes an input; ``solver.model()`` is a method
    if any(part[:1].isupper() for part in name.split(".")):
        # ``Generator(params)`` builds a model (CapWords names a class), it runs nothing;
        # ``ModelBase.from_config(cfg)`` calls a method of a class, not a model instance
        return False
    return facts.qualified_name(func) is None  # else a library function, not a model instance


def value_sensitivity(facts: "FileFacts", value: Value, name: str, depth: int = 0) -> Optional[bool]:
    """Whether the model a value holds depends on train/eval mode, following it to its
    constructor, or through a parameter to what every caller passes; a model that cannot be
    seen into is taken to be sensitive (None) only when it is named like one."""
    if facts.local_function(value.expr, value.scope) is not None or facts.project_function(facts.qualified_name(value.expr)):
        return False  # ``evaluate(linreg, data)``: a plain function, no mode to switch
    built, call = constructor(facts, value)
    if call is not None:
        if any(marker in (built or "") or (isinstance(call.func, cst.Attribute) and call.func.attr.value == marker) for marker in LOADED_IN_EVAL_MODE):
            return False
        known = facts.constructed_sensitivity(call, value.index if value.scope is facts.module_scope else None)
        if known is not None:
            return known
    else:
        parameter = arguments.parameter_of(resolve(value))
        if parameter is not None and depth < 2:
            # the model is what the callers pass: the class of each of their arguments decides
            function, parameter_name = parameter
            passed = [
                value_sensitivity(where, Value(argument, site.scope, site.index), name, depth + 1)
                # the other files' callers are searched only for a name that would otherwise be
                # taken for a model: for any other name they could only add findings, at a price
                for where, site in facts.callers(function, other_files=named_like_model(name))
                if (argument := arguments.argument_for(site, function, parameter_name)) is not None
            ]
            if True in passed:
                return True
            if passed and all(result is False for result in passed):
                return False
    if isinstance(value.expr, cst.Attribute) and depth < 2:
        # ``bert.model`` where ``bert = Embedder()``: what that class stores on ``self.model``
        _, owner_call = constructor(facts, Value(value.expr.value, value.scope, value.index))
        owner = facts.class_of(owner_call.func) if owner_call is not None else None
        bound = owner.info.self_bindings.get(value.expr.attr.value) if owner is not None else None
        if bound:
            index, stored, where = bound[-1]
            return value_sensitivity(owner.facts, Value(stored, where, index), name, depth + 1)
    if isinstance(value.expr, cst.Name) and not _is_defined(facts, value.expr.value, value.scope):
        return False  # a name the file never binds (a slide's fragment): nothing to go on
    return None if named_like_model(name) else False


def _is_defined(facts: "FileFacts", name: str, scope: Scope) -> bool:
    current: Optional[Scope] = scope
    while current is not None:
        if name in current.bindings or name in current.functions:
            return True
        current = current.parent
    return name in facts.walk.imports.aliases or bool(facts.classes_named(name))


# Methods that look at a model or move it without training or loading it.
INSPECTING_METHODS = MODULE_RETURNING_METHODS | {"parameters", "named_parameters", "modules", "named_modules", "children", "apply"}


def _is_fresh(facts: "FileFacts", model: cst.BaseExpression, site: CallSite) -> bool:
    """The model ``site`` runs (or hands over) was built in the same function and only
    inspected or initialised before: it has never been trained or loaded, and running it
    (``net = Net(); net(torch.randn(2, 3)).shape``) checks shapes, it evaluates nothing."""
    name = dotted_name(model)
    if name is None or "." in name or _trains(facts, site.scope):
        return False
    bound = binding_before(site.scope, name, site.index)
    if bound is None or bound.scope is not site.scope:
        return False
    _, call = constructor(facts, bound)
    if call is None or facts.class_of(call.func) is None and torch_api.torch_nn_class(facts.qualified_name(call.func)) is None:
        return False
    for other in site.scope.calls:
        if not bound.index < other.index < site.index:
            continue
        func = other.node.func
        if isinstance(func, cst.Attribute) and dotted_name(func.value) == name and func.attr.value not in INSPECTING_METHODS:
            return False  # ``net.load_state_dict(...)``
        if any(dotted_name(arg.value) == name for arg in other.node.args):
            return False  # ``train(net, loader)``, ``load_weights(net, path)``
    return True
