"""The shared semantic layer: facts about one file, computed once and shared by every rule.

Rules ask questions here ("is this call torch.nn.functional.softmax?", "which loops train a
model and in what order do their events happen?") and never re-derive the answers themselves.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from functools import cached_property
from typing import Iterable, Optional

import libcst as cst

from torchlint.analysis import evaluation, events, flows, modules, torch_api
from torchlint.analysis.events import Event
from torchlint.analysis.evaluation import EvalScope
from torchlint.analysis.facts import BlockSite, CallSite, ClassInfo, FileWalk, Scope
from torchlint.analysis.project import ClassSummary, FunctionSummary, ProjectIndex, is_module_class, mode_sensitivity
from torchlint.analysis.values import Value, resolve

__all__ = ["FileFacts", "Event", "EvalScope", "CallSite", "BlockSite", "ClassInfo", "Scope", "Value"]


class FileFacts:
    def __init__(self, module: cst.Module, wanted_types: Iterable[type] = (), path: str = "<unknown>",
                 project: Optional[ProjectIndex] = None) -> None:
        self.module = module
        self.path = path
        self.project = project  # cross-file facts; None when linting one file alone
        self.walk = FileWalk(module, wanted_types)
        self._memo: dict = {}

    # -- names -------------------------------------------------------------------------------

    def qualified_name(self, expr: cst.CSTNode) -> Optional[str]:
        return self.walk.imports.qualified_name(expr)

    def call_site(self, node: cst.CSTNode) -> Optional[CallSite]:
        """The call site of a call node (None for anything else, such as ``p.grad = None``)."""
        return self.walk.call_by_node.get(node)

    def class_info(self, node: cst.ClassDef) -> ClassInfo:
        return self.walk.class_by_node[node]

    @property
    def module_scope(self) -> Scope:
        return self.walk.module_scope

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

    def resolve(self, expr: cst.BaseExpression, scope: Scope, index: int) -> Value:
        return resolve(Value(expr, scope, index))

    def local_function(self, func: cst.BaseExpression, scope: Scope) -> Optional[Scope]:
        """The function defined in this file that a call's callee names (``helper``, ``self.step``)."""
        if isinstance(func, cst.Name):
            current: Optional[Scope] = scope
            while current is not None:
                found = current.functions.get(func.value)
                if found is not None:
                    return found
                current = current.parent
            return None
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self":
            owner = scope.enclosing_class
            if owner is not None:
                return owner.methods.get(func.attr.value)
        return None

    def project_function(self, qualified: Optional[str]) -> Optional[FunctionSummary]:
        """The module-level function of another file of the run that an imported name refers to."""
        if self.project is None or not qualified or qualified.startswith("torch."):
            return None
        return self.project.find_function(qualified)

    # -- classes -----------------------------------------------------------------------------

    def project_class(self, qualified: Optional[str]) -> Optional[ClassSummary]:
        """The class of another file of the run that an imported name refers to, if known."""
        if self.project is None or not qualified or qualified.startswith("torch."):
            return None
        return self.project.find(qualified)

    @cached_property
    def classes_by_name(self) -> dict[str, ClassInfo]:
        return {info.name: info for info in self.walk.classes}

    @cached_property
    def module_classes(self) -> list[ClassInfo]:
        return [info for info in self.walk.classes if self.is_module_class(info)]

    def is_module_class(self, info: ClassInfo) -> bool:
        return self._cached(("module", info), lambda: is_module_class(self.class_summary(info), self), False)

    def is_framework_driven(self, info: Optional[ClassInfo]) -> bool:
        return info is not None and self._cached(("framework", info), lambda: modules.is_framework_driven(self, info))

    def forward_reach(self, info: ClassInfo) -> list[Scope]:
        return self._cached(("forward", info), lambda: modules.forward_reach(self, info))

    def mode_sensitivity(self, info: ClassInfo) -> Optional[bool]:
        """Does train()/eval() change what this module computes? None when it cannot be told."""
        return self._cached(("sensitive", info), lambda: mode_sensitivity(self.class_summary(info), self))

    def class_summary(self, info: ClassInfo) -> ClassSummary:
        """This file's class in the form the project index keeps for other files' classes, so
        one implementation answers the questions about both."""
        return self._cached(("summary", info), lambda: modules.class_summary(self, info))

    # ClassLookup, for the summaries of this file's classes
    def same_file_class(self, summary: ClassSummary, name: str) -> Optional[ClassSummary]:
        if summary.path != self.path:
            return self.project.same_file_class(summary, name) if self.project is not None else None
        local = self.classes_by_name.get(name)
        return self.class_summary(local) if local is not None else None

    def find(self, qualified: str) -> Optional[ClassSummary]:
        return self.project_class(qualified)

    def constructed_sensitivity(self, func: cst.BaseExpression) -> Optional[bool]:
        """For a constructor call's callee: does the module built depend on train/eval mode?"""
        qualified = self.qualified_name(func)
        layer = torch_api.torch_nn_class(qualified)
        if layer is not None:
            # containers are not sensitive themselves; the layers passed to them are calls of their own
            return layer in torch_api.MODE_SENSITIVE_LAYERS
        if qualified in torch_api.MODE_SENSITIVE_FUNCTIONS:
            return True
        local = modules.local_class(self, func)
        summary = self.class_summary(local) if local is not None else self.project_class(qualified)
        if summary is not None:
            return mode_sensitivity(summary, self) if is_module_class(summary, self) else False
        if qualified is not None:
            return None  # something imported that we cannot see into
        return False

    # -- values ------------------------------------------------------------------------------

    def is_softmax_output(self, expr: cst.BaseExpression, scope: Scope, index: int) -> bool:
        return flows.is_softmax_output(self, Value(expr, scope, index))

    def cross_entropy_input(self, site: CallSite) -> Optional[cst.BaseExpression]:
        return flows.cross_entropy_input(self, site)

    def forward_returns_softmax(self, info: ClassInfo) -> bool:
        return self._cached(("softmax-forward", info), lambda: flows.forward_returns_softmax(self, info), False)

    # -- training events ---------------------------------------------------------------------

    def events_of(self, scope: Scope) -> list[Event]:
        """The training events of a function, in program order, with local helpers expanded."""
        return self._cached(("events", scope), lambda: events.scope_events(self, scope), [])

    def events_in_loop(self, loop: BlockSite) -> list[Event]:
        return [event for event in self.events_of(loop.scope) if loop.index <= event.index <= loop.end]

    def optimizer_model(self, optimizer: str, scope: Scope) -> Optional[str]:
        return events.optimizer_model(self, optimizer, scope)

    @cached_property
    def training_loops(self) -> list[events.TrainingLoop]:
        return events.training_loops(self)

    def is_innermost_training_loop(self, loop: events.TrainingLoop) -> bool:
        """No other training loop runs inside it: its body is one training step."""
        return not any(other is not loop and loop.site.node in other.site.blocks for other in self.training_loops)

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

    def mode_before(self, site: CallSite, eval_scope: EvalScope) -> str:
        return evaluation.mode_before(self, site, eval_scope)

    def _cached(self, key, compute, provisional=None):
        # The provisional answer ends cycles (a forward that returns ``self(x)``, a helper
        # that calls itself) instead of recursing without end.
        if key not in self._memo:
            self._memo[key] = provisional
            self._memo[key] = compute()
        return self._memo[key]
