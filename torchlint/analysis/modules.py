"""nn.Module classes: which classes are modules, what ``forward`` reaches, what they contain."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import libcst as cst

from torchlint.analysis import torch_api
from torchlint.analysis.facts import ClassInfo, Scope
from torchlint.analysis.project import ClassSummary, module_path

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


def class_summary(facts: "FileFacts", info: ClassInfo) -> ClassSummary:
    """What the project index records for a class, here read off the libcst facts: bases and
    constructed callees by qualified name, or by bare name for classes of this file."""

    def name_of(expr: cst.BaseExpression) -> str:
        local = local_class(facts, expr)
        return local.name if local is not None else facts.qualified_name(expr) or ""

    calls = [site for method in info.methods.values() for site in facts.calls_within(method)]
    return ClassSummary(
        name=info.name,
        path=facts.path,
        module=module_path(facts.path),
        bases=tuple(name_of(base.value) for base in info.node.bases if base.keyword is None),
        constructs=tuple(dict.fromkeys(name for site in calls if (name := name_of(site.node.func)))),
        constructs_on_self=tuple(dict.fromkeys(
            name for site in calls if site.assigned_to_self and (name := name_of(site.node.func))
        )),
    )


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
