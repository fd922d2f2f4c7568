"""The shared semantic layer: facts about one file, computed once and shared by every rule.

Rules ask questions here ("is this call torch.nn.functional.softmax?", "which loops train a
model and in what order do their events happen?") and never re-derive the answers themselves.
"""

from __future__ import annotations

import ast
import os
import warnings
from bisect import bisect_left, bisect_right
from functools import cached_property
from typing import Callable, Iterable, Optional, TypeVar

import libcst as cst

from torchlint.analysis import arguments, evaluation, events, flows, modules, order, torch_api
from torchlint.analysis.events import Event
from torchlint.analysis.evaluation import EvalScope
from torchlint.analysis.facts import BlockSite, CallSite, ClassInfo, FileWalk, Scope, reads_grad, unwrap_module_methods
from torchlint.analysis.names import dotted_name
from torchlint.analysis.project import ClassRef, FunctionRef, ProjectIndex
from torchlint.analysis.values import Value, resolve

Answer = TypeVar("Answer")

__all__ = ["FileFacts", "cannot_be_pytorch", "Event", "EvalScope", "CallSite", "BlockSite", "ClassInfo", "ClassRef", "FunctionRef", "Scope", "Value"]


def cannot_be_pytorch(text: str, path: str, project: Optional[ProjectIndex]) -> bool:
    """True only where ``FileFacts(...).is_pytorch`` would certainly be False, decided without
    libcst so the engine can skip that parse: the file names no torch package (so it neither
    imports one nor uses the name ``torch``), it imports something (a file that imports nothing
    may be a helper handed its model), and none of the project files any of its imports could
    name (as ``_project_imports`` finds them) names a torch package either. Every import
    counts, so which one libcst's alias table keeps for a rebound name does not matter.
    The engine asks only about files Python's compiler has accepted."""
    lowered = text.lower()
    if project is None or any(package in lowered for package in torch_api.TORCH_PACKAGES):
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False  # the parse reports it
    imported = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if any(alias.name == "*" for alias in node.names):
                return False
            base = "." * node.level + (node.module or "")
            imported.extend(f"{base}.{alias.name}" if node.module else base + alias.name for alias in node.names)
    if not imported:
        return False
    for qualified in imported:
        for module in (qualified, qualified.rpartition(".")[0]):
            other = project.module_file(module, path) if module else None
            if other is not None and any(package in project.text_of(other).lower() for package in torch_api.TORCH_PACKAGES):
                return False
    return True


class FileFacts:
    def __init__(self, module: cst.Module, wanted_types: Iterable[type] = (), path: str = "<unknown>",
                 project: Optional[ProjectIndex] = None) -> None:
        self.module = module
        self.path = path
        self.project = project  # cross-file facts; None when linting one file alone
        self.walk = FileWalk(module, wanted_types)
        self._memo: dict = {}

    def release(self) -> None:
        """Let go of everything at once (see ``FileWalk.release``): the facts are unusable after."""
        self.walk.release()
        vars(self).clear()  # the memo may hold this object itself (a ClassRef to its own class)

    # -- names -------------------------------------------------------------------------------

    def qualified_name(self, expr: cst.CSTNode) -> Optional[str]:
        return self.walk.imports.qualified_name(expr)

    def spelling(self, qualified: str) -> Optional[str]:
        """How this file's imports let code name ``qualified`` (``nn.ModuleList``), or None."""
        return self.walk.imports.spelling(qualified)

    def call_site(self, node: cst.CSTNode) -> Optional[CallSite]:
        """The call site of a call node (None for anything else, such as ``p.grad = None``)."""
        return self.walk.call_by_node.get(node)

    def class_info(self, node: cst.ClassDef) -> ClassInfo:
        return self.walk.class_by_node[node]

    @property
    def module_scope(self) -> Scope:
        return self.walk.module_scope

    def place_of(self, node: cst.CSTNode) -> tuple[Optional[Scope], int]:
        """(scope, index in program order) of a node of a type some rule subscribed to."""
        return self.walk.place_by_node.get(node, (None, 0))

    def scope_of(self, node: cst.CSTNode) -> Optional[Scope]:
        return self.walk.scope_by_node.get(node)

    def calls_within(self, scope: Scope) -> list[CallSite]:
        """Calls in ``scope`` and in the functions nested in it (calls are kept in program order,
        so this is a slice, not a scan)."""
        first = bisect_left(self._call_indices, scope.start)
        last = bisect_right(self._call_indices, scope.end)
        return self.walk.calls[first:last]

    @cached_property
    def _call_indices(self) -> list[int]:
        return [site.index for site in self.walk.calls]

    def iterable_of(self, name: cst.Name, scope: Scope, index: int) -> Optional[tuple[cst.BaseExpression, Optional[int]]]:
        """(the iterable, the position in a tuple target) when ``name`` at ``index`` is the
        variable of a ``for`` loop of this scope (``p`` in ``for p in model.parameters()``,
        position 1 for ``for n, p in model.named_parameters()``), not rebound since."""
        bindings = [entry for entry in scope.bindings.get(name.value, []) if entry[0] < index]
        loops = [entry for entry in scope.iterations.get(name.value, []) if entry[0] < index]
        if not bindings or not loops or bindings[-1][0] != loops[-1][0]:
            return None
        return loops[-1][1], loops[-1][2]

    def resolve(self, expr: cst.BaseExpression, scope: Scope, index: int) -> Value:
        return resolve(Value(expr, scope, index))

    def local_function(self, func: cst.BaseExpression, scope: Scope) -> Optional[Scope]:
        """The function defined in this file that a call's callee names (``helper``, ``self.step``,
        ``Trainer.step``)."""
        if isinstance(func, cst.Name):
            current: Optional[Scope] = scope
            while current is not None:
                found = current.functions.get(func.value)
                if found is not None:
                    return found
                current = current.parent
            return None
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
            if func.value.value == "self":
                owner = scope.enclosing_class
            else:  # ``Trainer.run_epoch(...)``: a static or class method of a class of this file
                classes = self.classes_named(func.value.value)
                owner = classes[-1] if classes else None
            if owner is not None:
                return owner.methods.get(func.attr.value)
        return None

    def callers(self, function: Scope, other_files: bool = True) -> list[tuple["FileFacts", CallSite]]:
        """Where ``function`` is called: in this file and, for module-level functions, in the
        other files of the project (``other_files``)."""
        return self._cached(("callers", function, other_files), lambda: arguments.callers(self, function, other_files), [])

    @cached_property
    def calls_by_target(self) -> dict[Scope, list[CallSite]]:
        """This file's calls of its own functions, by the function they run."""
        return arguments.calls_by_target(self)

    def about_project(self, question: str, qualified: Optional[str], compute: Callable[[], "Answer"]) -> "Answer":
        """``compute()``, an answer to ``question`` about what the imported name ``qualified``
        refers to in another file of the project, holding no part of that file's tree. Every
        file of this folder that asks it next gets it from the index, without that file being
        parsed again (see ``ProjectIndex.remembered``)."""
        if self.project is None or not qualified:
            return compute()
        # the name is resolved from the importer's folder (relative imports, the project root)
        return self.project.remembered((question, qualified, os.path.dirname(os.path.abspath(self.path))), compute)

    def project_function(self, qualified: Optional[str]) -> Optional[FunctionRef]:
        """The module-level function of another file of the project that an imported name refers to."""
        if self.project is None or not qualified or qualified.startswith("torch."):
            return None
        return self.project.find_function(qualified, self.path)

    # -- classes -----------------------------------------------------------------------------

    def project_class(self, qualified: Optional[str]) -> Optional[ClassRef]:
        """The class of another file of the project that an imported name refers to, if known."""
        if self.project is None or not qualified or qualified.startswith("torch."):
            return None
        return self.project.find_class(qualified, self.path)

    def class_of(self, expr: cst.BaseExpression, index: Optional[int] = None) -> Optional[ClassRef]:
        """The class an expression names, in this file or (through an import) in the project."""
        return modules.class_of(self, expr, index)

    def classes_named(self, name: str) -> list[ClassInfo]:
        """This file's classes of that name, in the order they are defined."""
        return self._classes_by_name.get(name, [])

    def top_level_class(self, name: str) -> Optional[ClassInfo]:
        """The class of that name an import of this file gets: the last one defined at the top level."""
        top = [info for info in self.classes_named(name) if info.scope is self.module_scope]
        return top[-1] if top else None

    @cached_property
    def _classes_by_name(self) -> dict[str, list[ClassInfo]]:
        by_name: dict[str, list[ClassInfo]] = {}
        for info in self.walk.classes:
            by_name.setdefault(info.name, []).append(info)
        return by_name

    @cached_property
    def module_classes(self) -> list[ClassInfo]:
        return [info for info in self.walk.classes if self.is_module_class(info)]

    def is_module_class(self, info: ClassInfo) -> bool:
        return self._cached(("module", info), lambda: modules.is_module_class(self, info), False)

    def is_framework_driven(self, info: Optional[ClassInfo]) -> bool:
        return info is not None and self._cached(("framework", info), lambda: modules.is_framework_driven(self, info), False)

    def is_test_case(self, info: Optional[ClassInfo]) -> bool:
        return info is not None and self._cached(("test-case", info), lambda: modules.is_test_case(self, info), False)

    def forward_reach(self, info: ClassInfo) -> list[Scope]:
        return self._cached(("forward", info), lambda: modules.forward_reach(self, info))

    def mode_sensitivity(self, info: ClassInfo) -> Optional[bool]:
        """Does train()/eval() change what this module computes? None when it cannot be told."""
        return self._cached(("sensitive", info), lambda: modules.mode_sensitivity(self, info))

    def constructed_sensitivity(self, call: cst.Call, index: Optional[int] = None) -> Optional[bool]:
        """For a constructor call: does the module it builds depend on train/eval mode?"""
        return modules.constructed_sensitivity(self, call, index)

    def ancestors(self, info: ClassInfo) -> list[ClassRef]:
        """The base classes that can be seen into, in this file or the project."""
        return self._cached(("ancestors", info), lambda: modules.ancestors(self, info), [])

    # -- the file as a whole -------------------------------------------------------------------

    @cached_property
    def is_pytorch(self) -> bool:
        """Could PyTorch rules apply here? Not in a file that imports another deep-learning
        framework and not torch, nor in one whose imports show no sign of torch: none of a
        torch package, none of a project module that imports one, and no use of the name
        ``torch`` (a notebook exported without its import cell). A file that imports nothing at
        all (a helper handed its model) may be PyTorch code."""
        if self.imports_torch:
            return True
        if self._imported_packages & torch_api.OTHER_FRAMEWORKS:
            return False
        if not self._imported_packages or self.project is None:
            return True  # nothing to look into: do not guess the file away
        return any(
            (other := self.project.facts_of(path)) is not None and other.imports_torch
            for path in self._project_imports
        )

    @cached_property
    def torch_requirement(self) -> Optional[tuple[int, int]]:
        """The lowest torch (major, minor) the file's project declares it needs; None if none."""
        return self.project.torch_requirement(self.path) if self.project is not None else None

    @cached_property
    def is_test_file(self) -> bool:
        """A pytest file (``test_*.py``, ``*_test.py``, ``conftest.py``): code that exercises
        models on purpose (calls ``forward`` to test it, computes dummy losses), not training code."""
        return evaluation.is_test_file(self.path)

    @cached_property
    def imports_torch(self) -> bool:
        return bool(self._imported_packages & torch_api.TORCH_PACKAGES) or self.uses_torch_name

    @cached_property
    def _imported_packages(self) -> set[str]:
        """The top-level packages the file imports from (``torch``, ``mxnet``, a project package)."""
        return {alias.lstrip(".").split(".")[0] for alias in self.walk.imports.aliases.values()}

    @cached_property
    def uses_torch_name(self) -> bool:
        """``torch.no_grad()`` called with ``torch`` never imported: a notebook cell exported alone."""
        if "torch" in self.walk.imports.aliases or "torch" in self.module_scope.bindings:
            return False
        return any((dotted_name(site.node.func) or "").startswith("torch.") for site in self.walk.calls)

    @cached_property
    def _project_imports(self) -> list[str]:
        """The files of the project this file imports from."""
        if self.project is None:
            return []
        found = []
        for qualified in self.walk.imports.aliases.values():
            for module in (qualified, qualified.rpartition(".")[0]):
                path = self.project.module_file(module, self.path) if module else None
                if path is not None:
                    found.append(path)
                    break
        return list(dict.fromkeys(found))

    # -- values ------------------------------------------------------------------------------

    def output_kind(self, expr: cst.BaseExpression, scope: Scope, index: int) -> Optional[str]:
        """``torch_api.SOFTMAX``, ``SIGMOID``, ``LOG_PROBABILITIES`` or ``LOGITS``: what this
        tensor expression is known to hold; None when it cannot be told."""
        return flows.output_kind(self, Value(expr, scope, index))

    def activation_input(self, expr: cst.BaseExpression, scope: Scope, index: int, kind: str) -> Optional[tuple[cst.BaseExpression, cst.BaseExpression]]:
        """(the expression to replace, the activation's input that can replace it) when this is
        directly the output of an activation of ``kind`` whose input can stand in for it; see flows."""
        return flows.activation_input(self, Value(expr, scope, index), kind)

    def assigned_name(self, site: CallSite) -> Optional[str]:
        """``loader`` for ``loader = DataLoader(...)`` (also ``head = nn.Linear(...).to(device)``):
        the local name the call's value is bound to, or None."""
        for name, entries in site.scope.bindings.items():
            if any(value is not None and site.node in unwrap_module_methods(value) for _, value in entries):
                return name
        return None

    def reads_gradients(self, scope: Scope) -> bool:
        """Does the function's code touch some ``.grad`` (``p.grad.norm()``, ``p.grad = None``)?"""
        return self._cached(("reads-grad", scope), lambda: reads_grad(scope.node))

    def reads_of(self, scope: Scope, name: str) -> int:
        """How many times ``name`` is read in a function (closures included), counted with
        care to err high: a name written as an attribute or keyword counts as a read."""
        return self._cached(("reads", scope, name), lambda: _occurrences(scope.node, name) - len(scope.bindings.get(name, ())))

    def loss_input(self, site: CallSite) -> Optional[tuple[str, cst.BaseExpression]]:
        """(``torch_api.CROSS_ENTROPY``/``BCE_WITH_LOGITS``/``BCE``/``NLL``, the input argument)
        for a call that computes one of those losses."""
        return flows.loss_input(self, site)

    def is_module_instance(self, expr: cst.BaseExpression, scope: Scope, index: int) -> bool:
        """Is this expression known to hold an nn.Module instance (not a class, not unknown)?"""
        return bool(flows.is_module_instance(self, Value(expr, scope, index)))

    def is_unreduced_loss(self, expr: cst.BaseExpression, scope: Scope, index: int) -> bool:
        """Is this known to be a per-element loss (``reduction="none"``, ``(pred - y) ** 2``)?"""
        return flows.is_unreduced_loss(self, Value(expr, scope, index))

    def builds_parameters(self, call: cst.Call) -> bool:
        """Does the module this constructor call builds own parameters?"""
        return flows.builds_parameters(self, call)

    def forward_output_kind(self, info: ClassInfo) -> Optional[str]:
        return self._cached(("forward-kind", info), lambda: flows.forward_output_kind(self, info))

    # -- training events ---------------------------------------------------------------------

    def events_of(self, scope: Scope) -> list[Event]:
        """The training events of a function, in program order, with local helpers expanded."""
        return self._cached(("events", scope), lambda: events.scope_events(self, scope), [])

    def events_in_loop(self, loop: BlockSite) -> list[Event]:
        return [event for event in self.events_of(loop.scope) if loop.index <= event.index <= loop.end]

    def handover_source_model(self, write: Event, scope: Scope) -> Optional[str]:
        return events.handover_source_model(self, write, scope)

    def optimizer_model(self, optimizer: str, scope: Scope) -> Optional[str]:
        return events.optimizer_model(self, optimizer, scope)

    @cached_property
    def training_loops(self) -> list[events.TrainingLoop]:
        return events.training_loops(self)

    def is_innermost_training_loop(self, loop: events.TrainingLoop) -> bool:
        """No other training loop runs inside it: its body is one training step."""
        return not any(other is not loop and loop.site.node in other.site.blocks for other in self.training_loops)

    def grad_disabled_at(self, site: CallSite) -> bool:
        """Does this call run under ``no_grad``/``inference_mode`` (a block or a decorator of its function)?"""
        return events._grad_disabled_at(self, site)

    def runs_whenever(self, event: Event, other: Event) -> bool:
        """Does ``event`` run on every iteration on which ``other`` runs (see ``order``)?"""
        return order.runs_whenever(self, event, other)

    def in_exclusive_branches(self, event: Event, other: Event) -> bool:
        """Are the two events in opposite branches of one ``if``, never in one iteration?"""
        return order.in_exclusive_branches(self, event, other)

    def constructor_of(self, expr: cst.BaseExpression, scope: Scope, index: int) -> tuple[Optional[str], Optional[cst.Call]]:
        """(qualified name, call) of the constructor call ``expr`` holds (``StepLR(opt, 30)``
        for ``scheduler``), followed through names, ``self.x`` and factories; (None, None)."""
        return flows.constructor(self, Value(expr, scope, index))

    def branch_of(self, if_node: cst.If, index: int) -> Optional[str]:
        """"body" or "orelse": which branch of an ``if`` the code at ``index`` is in."""
        body_start, body_end, end = self.walk.if_branches[if_node]
        if body_start <= index <= body_end:
            return "body"
        if body_end < index <= end:
            return "orelse"
        return None

    # -- evaluation --------------------------------------------------------------------------

    @cached_property
    def eval_scopes(self) -> list[EvalScope]:
        return evaluation.eval_scopes(self)

    def model_calls(self, scope: EvalScope) -> list[CallSite]:
        return evaluation.model_calls(self, scope)

    def model_call_sensitivity(self, site: CallSite) -> Optional[bool]:
        """Does this call run a model that depends on train/eval mode (see ``model_sensitivity``)?"""
        return self._cached(("call-sensitivity", site), lambda: evaluation.model_sensitivity(self, site))

    def model_sensitivity(self, model: cst.BaseExpression, scope: Scope, index: int) -> Optional[bool]:
        """Does the model this expression holds depend on train/eval mode? True when known to,
        False when known not to (or not a model at all), None when it cannot be told."""
        name = dotted_name(model)
        return evaluation.value_sensitivity(self, Value(model, scope, index), name) if name else None

    def mode_before(self, site: CallSite, eval_scope: EvalScope) -> str:
        return evaluation.mode_before(self, site, eval_scope)

    def _cached(self, key, compute, provisional=None):
        # The provisional answer ends cycles (a forward that returns ``self(x)``, a helper
        # that calls itself) instead of recursing without end.
        if key not in self._memo:
            self._memo[key] = provisional
            self._memo[key] = compute()
        return self._memo[key]


def _occurrences(node: cst.CSTNode, name: str) -> int:
    class Counter(cst.CSTVisitor):
        def __init__(self) -> None:
            super().__init__()
            self.found = 0

        def visit_Name(self, candidate: cst.Name) -> None:
            self.found += candidate.value == name

    counter = Counter()
    node.visit(counter)
    return counter.found
