"""nn.Module classes: which classes are modules, what ``forward`` reaches, what they contain."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import libcst as cst

from torchlint.analysis import torch_api
from torchlint.analysis.facts import ClassInfo, Scope

if TYPE_CHECKING:
    from torchlint.analysis import FileFacts


def local_class(facts: "FileFacts", expr: cst.BaseExpression) -> Optional[ClassInfo]:
    """The class defined in this file that ``expr`` names, if any."""
    if isinstance(expr, cst.Name):
        return facts.classes_by_name.get(expr.value)
    return None


def base_names(facts: "FileFacts", info: ClassInfo) -> list[tuple[Optional[str], Optional[ClassInfo]]]:
    """Each base as (qualified name, local class): one of the two, or neither when unknown."""
    result = []
    for base in info.node.bases:
        if base.keyword is not None:
            continue
        result.append((facts.qualified_name(base.value), local_class(facts, base.value)))
    return result


def is_module_class(facts: "FileFacts", info: ClassInfo, _seen: frozenset = frozenset()) -> bool:
    if info in _seen:
        return False
    for qualified, local in base_names(facts, info):
        if qualified and (qualified.startswith(torch_api.MODULE_BASE_PREFIXES) or qualified in torch_api.FRAMEWORK_MODULE_BASES):
            return True
        if local is not None and is_module_class(facts, local, _seen | {info}):
            return True
        elsewhere = facts.project_class(qualified)
        if elsewhere is not None and facts.project.is_module_class(elsewhere):
            return True
    return False


def is_framework_driven(facts: "FileFacts", info: ClassInfo, _seen: frozenset = frozenset()) -> bool:
    if info in _seen:
        return False
    for qualified, local in base_names(facts, info):
        if qualified in torch_api.FRAMEWORK_DRIVEN_BASES:
            return True
        if local is not None and is_framework_driven(facts, local, _seen | {info}):
            return True
    return False


def self_method_calls(facts: "FileFacts", scope: Scope) -> list[str]:
    """Names of the methods ``scope`` calls on ``self``, including from its nested functions."""
    names = []
    for site in facts.calls_within(scope):
        func = site.node.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self":
            names.append(func.attr.value)
    return names


def forward_reach(facts: "FileFacts", info: ClassInfo) -> list[Scope]:
    """``forward`` and the methods that only ``forward`` (directly or through each other) calls."""
    forward = info.methods.get("forward")
    if forward is None:
        return []
    callers: dict[str, set[str]] = {}
    for name, method in info.methods.items():
        for called in self_method_calls(facts, method):
            if called in info.methods and called != name:
                callers.setdefault(called, set()).add(name)
    reached = {"forward"}
    changed = True
    while changed:
        changed = False
        for name, calling in callers.items():
            if name not in reached and calling <= reached:
                reached.add(name)
                changed = True
    return [info.methods[name] for name in sorted(reached)]


def mode_sensitivity(facts: "FileFacts", info: ClassInfo, _seen: frozenset = frozenset()) -> Optional[bool]:
    """Whether train()/eval() changes what the module computes: True, False, or None when unknown."""
    if info in _seen:
        return None
    unknown = False
    for qualified, local in base_names(facts, info):
        if local is not None:
            inherited = mode_sensitivity(facts, local, _seen | {info})
            if inherited:
                return True
            unknown = unknown or inherited is None
        elif facts.project_class(qualified) is not None:
            inherited = facts.project.mode_sensitivity(facts.project_class(qualified))
            if inherited:
                return True
            unknown = unknown or inherited is None
        elif qualified is None or not (qualified.startswith("torch.nn.Module") or qualified == "torch.nn.modules.module.Module"):
            unknown = True  # a base we cannot see into may hold dropout or batch norm
    for method in info.methods.values():
        for site in facts.calls_within(method):
            sensitivity = facts.constructed_sensitivity(site.node.func)
            if sensitivity:
                return True
            unknown = unknown or sensitivity is None and _looks_like_submodule(site)
    return None if unknown else False


def _looks_like_submodule(site) -> bool:
    """A call of something we cannot see into, stored on self (``self.backbone = resnet50()``)."""
    return site.assigned_to_self
