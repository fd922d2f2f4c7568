"""Calls of a function and the values they pass to its parameters.

A model evaluated in ``evaluate(model, loader)`` is whatever the callers hand over: following
the argument back to each call site tells which class it is (is it mode-sensitive at all?) and
which mode the caller left it in. Callers are looked for in the same file and, for module-level
functions, in the other files of the project.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import libcst as cst

from torchlint.analysis.facts import CallSite, Scope, function_called
from torchlint.analysis.flows import constructor
from torchlint.analysis.modules import local_class
from torchlint.analysis.project import FunctionRef
from torchlint.analysis.values import Value

if TYPE_CHECKING:
    from torchlint.analysis import FileFacts


def callers(facts: "FileFacts", function: Scope, other_files: bool = True) -> list[tuple["FileFacts", CallSite]]:
    """The calls of ``function``: those of this file (see ``calls_by_target``), and from other
    files of the project for module-level functions."""
    if not isinstance(function.node, cst.FunctionDef):
        return []
    found = [(facts, site) for site in facts.calls_by_target.get(function, [])]
    if other_files and function.parent is facts.module_scope and facts.project is not None:
        found.extend(facts.project.callers_of(FunctionRef(facts, function)))
    return found


def argument_for(site: CallSite, function: Scope, parameter: str) -> Optional[cst.BaseExpression]:
    """The expression a call passes for one of ``function``'s parameters, if it can be told."""
    if not isinstance(function.node, cst.FunctionDef):
        return None
    params = function.node.params
    positional = [param.name.value for param in (*params.posonly_params, *params.params)]
    passed = [arg for arg in site.node.args if arg.keyword is None]
    if function_called(site.node) is not site.node.func:
        passed = passed[1:]  # ``partial(embed, encoder=model)``: the function comes first
    if function.class_info is not None and positional and not _is_static(function):
        positional = positional[1:]  # ``self`` is bound by the call, not passed
    for arg in site.node.args:
        if arg.keyword is not None and arg.keyword.value == parameter:
            return arg.value
    if parameter not in positional:
        return None
    position = positional.index(parameter)
    if any(arg.star for arg in passed[: position + 1]):
        return None  # ``f(*args)``: the position cannot be told
    return passed[position].value if position < len(passed) else None


def parameter_of(value: Value) -> Optional[tuple[Scope, str]]:
    """(function, parameter name) when ``value`` is a function's parameter, not rebound before."""
    if not isinstance(value.expr, cst.Name):
        return None
    name = value.expr.value
    scope: Optional[Scope] = value.scope
    while scope is not None:
        entries = scope.bindings.get(name)
        if entries:
            if not isinstance(scope.node, cst.FunctionDef) or name not in _parameter_names(scope):
                return None
            earlier = [entry for entry in entries if entry[0] < value.index] if scope is value.scope else entries
            return (scope, name) if len(earlier) == 1 else None
        scope = scope.parent
    return None


def calls_by_target(facts: "FileFacts") -> dict[Scope, list[CallSite]]:
    """Every call of the file under the function of the file it runs, found in one pass."""
    targets: dict[Scope, list[CallSite]] = {}
    for site in facts.walk.calls:
        target = _target(facts, site)
        if target is not None:
            targets.setdefault(target, []).append(site)
    return targets


def _target(facts: "FileFacts", site: CallSite) -> Optional[Scope]:
    """The function of this file a call runs: by name, as ``self.method()`` or
    ``Class.method()``, through ``functools.partial``, as a class's ``__init__``, or as the
    method of an object the file builds from one of its classes (``sampler.sample()``)."""
    called = function_called(site.node)
    function = facts.local_function(called, site.scope)
    if function is not None:
        return function
    built = local_class(facts, called)
    if built is not None:
        return built.methods.get("__init__")
    if isinstance(called, cst.Attribute) and isinstance(called.value, cst.Name) and called.value.value != "self":
        _, call = constructor(facts, Value(called.value, site.scope, site.index))
        owner = local_class(facts, call.func) if call is not None else None
        if owner is not None:
            return owner.methods.get(called.attr.value)
    return None


def annotation_of(function: Scope, parameter: str) -> Optional[cst.BaseExpression]:
    """The annotation of one of a function's parameters (``nn.Module`` for ``model: nn.Module``)."""
    params = function.node.params
    for param in (*params.posonly_params, *params.params, *params.kwonly_params):
        if param.name.value == parameter and param.annotation is not None:
            return param.annotation.annotation
    return None


def _parameter_names(scope: Scope) -> set[str]:
    params = scope.node.params
    names = {param.name.value for param in (*params.posonly_params, *params.params, *params.kwonly_params)}
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            names.add(star.name.value)
    return names


def _is_static(function: Scope) -> bool:
    return any(
        isinstance(decorator.decorator, cst.Name) and decorator.decorator.value == "staticmethod"
        for decorator in function.decorators
    )
