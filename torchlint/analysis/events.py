"""Training events in program order: backward, optimizer step, gradient clearing, mode switches.

Calls to functions defined in the same file (``train_one_epoch(model)``, ``self.evaluate()``,
the closure handed to ``optimizer.step(closure)``) are expanded in place, so a loop that clears
gradients or switches modes through a helper is seen doing so. An expanded event keeps the call
in the loop's own body as its ``anchor``: that is where a finding about the loop points.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Optional

import libcst as cst

from torchlint.analysis import torch_api
from torchlint.analysis.facts import BlockSite, CallSite, GradAssignment, Scope, is_constant, reads_grad
from torchlint.analysis.flows import call_argument, constructor
from torchlint.analysis.names import dotted_name, last_name, name_words, named_like_model, named_like_optimizer
from torchlint.analysis.values import Value, binding_before, resolve, self_attribute_binding

if TYPE_CHECKING:
    from torchlint.analysis import FileFacts

BACKWARD, STEP, ZERO_GRAD, EVAL, TRAIN = "backward", "step", "zero_grad", "eval", "train"
# ``scheduler.step()`` of a learning-rate scheduler; ``clip_grad_norm_(...)`` and its kin.
SCHEDULER_STEP, CLIP = "scheduler_step", "clip"
# ``p.grad = g``: gradients overwritten, neither accumulated by backward() nor cleared.
GRAD_WRITE = "grad_write"
# A call of a function imported from a file we cannot see, handed the model or the optimizer:
# it may clear gradients or switch modes. Rules read it as "anything may have happened here".
UNKNOWN = "unknown"
OPTIMIZER_FACTORIES = frozenset({"optimizers", "optimizer", "get_optimizer", "build_optimizer", "create_optimizer", "configure_optimizers"})


@dataclass(frozen=True)
class Event:
    kind: str
    receiver: Optional[str]  # ``optimizer``, ``self.model``; None when unknown (``p.grad = None``)
    node: cst.CSTNode  # the call (or assignment target) that performs the event
    anchor: cst.CSTNode  # the node in the analysed scope: ``node`` itself or the helper call leading to it
    index: int  # the anchor's position in program order


@dataclass(eq=False)
class TrainingLoop:
    """A loop that runs backward() and steps an optimizer, with its events."""

    site: BlockSite
    events: list[Event]

    @property
    def optimizers(self) -> list[str]:
        """The receivers stepped, in the order of their first step."""
        return list(dict.fromkeys(event.receiver for event in self.events if event.kind == STEP and event.receiver))


def scope_events(facts: "FileFacts", scope: Scope) -> list[Event]:
    items: list = sorted([*scope.calls, *scope.grad_assignments], key=lambda item: item.index)
    result: list[Event] = []
    for item in items:
        if isinstance(item, GradAssignment):
            kind = {"clear": ZERO_GRAD, "write": GRAD_WRITE, "update": STEP}[item.kind]
            result.append(Event(kind, item.target, item.node, item.node, item.index))
        else:
            result.extend(call_events(facts, item))
    return result


def call_events(facts: "FileFacts", site: CallSite) -> list[Event]:
    call, func = site.node, site.node.func

    def event(kind: str, receiver: Optional[str]) -> list[Event]:
        return [Event(kind, receiver, call, call, site.index)]

    if isinstance(func, cst.Attribute):
        attr = func.attr.value
        receiver = dotted_name(func.value)
        if attr in ("backward", "manual_backward"):
            return event(BACKWARD, receiver)
        if attr == "zero_grad":
            return event(ZERO_GRAD, receiver)
        if attr == "zero_" and receiver and (receiver.endswith(".grad") or ".grad." in receiver):
            return event(ZERO_GRAD, None)
        if attr in ("add_", "sub_") and receiver and any(reads_grad(arg.value) for arg in call.args):
            return event(STEP, receiver.removesuffix(".data"))  # ``p.data.add_(p.grad, alpha=-lr)``
        if attr == "step":
            if is_scheduler(facts, func.value, site):
                return event(SCHEDULER_STEP, receiver)
            if is_grad_scaler(facts, func.value, site):
                stepped = call_argument(call, 0, "optimizer")
                return event(STEP, dotted_name(stepped) if stepped is not None else None)
            if is_optimizer(facts, func.value, site):
                closure = call_argument(call, 0, "closure")
                before = expand(facts, closure, site) if closure is not None else []
                return before + event(STEP, receiver)
        if attr == "eval" and not call.args:
            return event(EVAL, receiver)
        if _sets_a_mode(attr) and receiver and facts.qualified_name(func) is None:
            # ``policy.set_training_mode(False)``, ``agent.eval_mode()``: a switch of some kind
            return event(UNKNOWN, receiver)
        if attr == "train":
            mode = call_argument(call, 0, "mode")
            if mode is None or is_constant(mode, "True"):
                return event(TRAIN, receiver)
            if is_constant(mode, "False"):
                return event(EVAL, receiver)
            return []
    qualified = facts.qualified_name(func)
    if qualified == "torch.autograd.backward":
        return event(BACKWARD, None)
    if qualified in torch_api.GRAD_CLIPPING:
        return event(CLIP, None)
    return expand(facts, func, site)


def _sets_a_mode(method: str) -> bool:
    words = set(name_words(method))
    return "mode" in words and bool(words & {"train", "training", "eval", "evaluation", "set", "inference"})


def expand(facts: "FileFacts", callee: cst.BaseExpression, site: CallSite) -> list[Event]:
    """The events of a local function called (or handed over as a closure) at ``site``.

    ``facts.events_of`` is memoised with an empty provisional answer, which ends recursion.
    """
    function = facts.local_function(callee, site.scope)
    if function is None:
        events = _events_of_imported_function(facts, callee, site)
    elif function is site.scope:
        return []
    else:
        events = facts.events_of(function)
    if _grad_disabled_at(facts, site) and any(event.kind == BACKWARD for event in events):
        # no backward can run under no_grad: a shared ``loss_batch(model, ..., opt=None)``
        # helper called from evaluation code trains nothing there (while an ``sgd(params)``
        # helper, with no backward of its own, does its update there as it should)
        events = [event for event in events if event.kind not in (BACKWARD, STEP, ZERO_GRAD)]
    return [replace(event, anchor=site.node, index=site.index) for event in events]


def _events_of_imported_function(facts: "FileFacts", callee: cst.BaseExpression, site: CallSite) -> list[Event]:
    """``from eval import eval_net``: the events of a function of another file of the project."""
    qualified = facts.qualified_name(callee)
    kinds = _event_kinds_of_project_function(facts, qualified)
    if kinds is not None:
        # the helper's receivers are its own names; here only what happens, and where, is known
        return [Event(kind, None, site.node, site.node, site.index) for kind in kinds]
    if qualified and not qualified.startswith("torch.") and _hands_over_model_or_optimizer(site.node):
        return [Event(UNKNOWN, None, site.node, site.node, site.index)]
    return []


def _event_kinds_of_project_function(facts: "FileFacts", qualified: Optional[str]) -> Optional[tuple[str, ...]]:
    """The kinds of the training events of the project function an imported name refers to, in
    order; None if it names none. Asked by every file that imports the function, and answered
    once: the answer holds none of the other file's tree."""

    def kinds() -> Optional[tuple[str, ...]]:
        function = facts.project_function(qualified)
        return None if function is None else tuple(event.kind for event in function.facts.events_of(function.scope))

    return facts.about_project("event kinds", qualified, kinds)


def _hands_over_model_or_optimizer(call: cst.Call) -> bool:
    names = [dotted_name(arg.value) for arg in call.args]
    return any(name and (named_like_model(name) or named_like_optimizer(name)) for name in names)


def _grad_disabled_at(facts: "FileFacts", site: CallSite) -> bool:
    return any(
        isinstance(block, cst.With) and any(disables_grad(facts, item.item) for item in block.items)
        for block in site.blocks
    ) or grad_disabled_by_decorator(facts, site.scope)


def grad_disabled_by_decorator(facts: "FileFacts", scope: Scope) -> bool:
    for decorator in scope.decorators:
        target = decorator.decorator.func if isinstance(decorator.decorator, cst.Call) else decorator.decorator
        if facts.qualified_name(target) in torch_api.GRAD_DISABLING:
            return True
    return False


def disables_grad(facts: "FileFacts", expr: cst.BaseExpression) -> bool:
    """``torch.no_grad()``, ``torch.inference_mode()``, ``torch.set_grad_enabled(False)``."""
    if not isinstance(expr, cst.Call):
        return False
    qualified = facts.qualified_name(expr.func)
    if qualified in torch_api.GRAD_DISABLING:
        return True
    if qualified in torch_api.GRAD_MODE_SETTER:
        mode = call_argument(expr, 0, "mode")
        return is_constant(mode, "False")
    return False


def is_grad_scaler(facts: "FileFacts", receiver: cst.BaseExpression, site: CallSite) -> bool:
    built, _ = constructor(facts, Value(receiver, site.scope, site.index))
    if built is not None:
        return built in torch_api.GRAD_SCALERS
    name = dotted_name(receiver)
    return bool(name) and "scaler" in name.rsplit(".", 1)[-1].lower()


def is_scheduler(facts: "FileFacts", receiver: cst.BaseExpression, site: CallSite) -> bool:
    """A learning-rate scheduler built in view (``StepLR(optimizer, 30)``, ``get_linear_schedule_with_warmup``)."""
    built, _ = constructor(facts, Value(receiver, site.scope, site.index))
    return torch_api.is_scheduler_class(built)


def is_optimizer(facts: "FileFacts", receiver: cst.BaseExpression, site: CallSite) -> bool:
    resolved = resolve(Value(receiver, site.scope, site.index))
    if isinstance(resolved.expr, cst.Call):
        built = facts.qualified_name(resolved.expr.func)
        if built is not None:
            return torch_api.is_optimizer_class(built)
        if last_name(resolved.expr.func) in OPTIMIZER_FACTORIES:
            return True
    name = dotted_name(resolved.expr) or dotted_name(receiver)
    return bool(name) and named_like_optimizer(name)


def handover_source_model(facts: "FileFacts", write: Event, scope: Scope) -> Optional[str]:
    """For ``shared._grad = local.grad`` inside ``for local, shared in zip(lnet.parameters(),
    gnet.parameters())``: ``lnet``, the model whose own gradients are handed over (A3C)."""
    if write.kind != GRAD_WRITE or not write.receiver:
        return None
    for loop in scope.loops:
        node = loop.node
        if not (isinstance(node, cst.For) and loop.index <= write.index <= loop.end and isinstance(node.target, cst.Tuple)):
            continue
        names = [dotted_name(element.value) for element in node.target.elements]
        if write.receiver not in names or not isinstance(node.iter, cst.Call) or dotted_name(node.iter.func) != "zip":
            continue
        position = names.index(write.receiver)
        owners = _parameter_owners(node.iter.args[position].value) if position < len(node.iter.args) else set()
        return owners.pop() if len(owners) == 1 else None
    return None


def optimizer_model(facts: "FileFacts", optimizer: str, scope: Scope) -> Optional[str]:
    """The model whose parameters an optimizer was built over (``SGD(model.parameters())``)."""
    if optimizer.startswith("self.") and optimizer.count(".") == 1:
        bound = self_attribute_binding(scope, optimizer[5:])
    elif "." not in optimizer:
        bound = binding_before(scope, optimizer, scope.end + 1)
    else:
        bound = None
    if bound is None:
        return None
    bound = resolve(bound)
    if not isinstance(bound.expr, cst.Call) or not torch_api.is_optimizer_class(facts.qualified_name(bound.expr.func)):
        return None
    params = call_argument(bound.expr, 0, "params")
    owners = _parameter_owners(params) if params is not None else set()
    return owners.pop() if len(owners) == 1 else None


def _parameter_owners(expr: cst.CSTNode) -> set[str]:
    """``model`` in ``model.parameters()``, searched within one (small) argument expression."""
    owners: set[str] = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value in ("parameters", "named_parameters"):
            owner = dotted_name(node.func.value)
            if owner:
                owners.add(owner)
        stack.extend(node.children)
    return owners


def training_loops(facts: "FileFacts") -> list[TrainingLoop]:
    """Loops that run backward() and step, and the per-batch hooks a framework calls in a loop
    of its own but leaves the optimisation to (Lightning's manual optimisation)."""
    loops = []
    for scope in facts.walk.scopes:
        for site in scope.loops:
            events = facts.events_in_loop(site)
            kinds = {event.kind for event in events}
            if BACKWARD in kinds and STEP in kinds:
                loops.append(TrainingLoop(site, events))
        if _is_manually_optimised_step(facts, scope):
            events = facts.events_of(scope)
            if {BACKWARD, STEP} <= {event.kind for event in events}:
                body = BlockSite(scope.node, scope.start, scope.end, scope, ())
                loops.append(TrainingLoop(body, events))
    return loops


def _is_manually_optimised_step(facts: "FileFacts", scope: Scope) -> bool:
    """``training_step`` of a LightningModule that sets ``automatic_optimization = False``:
    Lightning runs it once per batch and leaves backward, step and clearing to it."""
    owner = scope.class_info
    if scope.name != "training_step" or owner is None or not facts.is_framework_driven(owner):
        return False
    assigned = [value for _, value, _ in owner.self_bindings.get("automatic_optimization", [])]
    for statement in owner.node.body.body:  # ``automatic_optimization = False`` in the class body
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                if isinstance(small, cst.Assign) and any(
                    isinstance(target.target, cst.Name) and target.target.value == "automatic_optimization" for target in small.targets
                ):
                    assigned.append(small.value)
    return any(is_constant(value, "False") for value in assigned)
