"""Calls of a function and the values they pass to its parameters.

A model evaluated in ``evaluate(model, loader)`` is whatever the callers hand over: following
the argument back to each call site tells which class it is (is it mode-sensitive at all?) and
which mode the caller left it in. Callers are looked for in the same file and, for module-level
functions, in the other files of the project.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import libcst as cst

from torchlint.analysis.facts import CallSite, Scope
from torchlint.analysis.flows import constructor
from torchlint.analysis.project import FunctionRef
from torchlint.analysis.values import Value

if TYPE_CHECKING:
    from torchlint.analysis import FileFacts


def callers(facts: "FileFacts", function: Scope, other_files: bool = True) -> list[tuple["FileFacts", CallSite]]:
    """The calls of ``function``: by name, as ``self.method()``, as the class's constructor
    for ``__init__``, and from other files of the project for module-level functions."""
    return facts._cached(("callers", function, other_files), lambda: _callers(facts, function, other_files), [])


def argument_for(site: CallSite, function: Scope, parameter: str) -> Optional[cst.BaseExpression]:
    """The expression a call passes for one of ``function``'s parameters, if it can be told."""
    if not isinstance(function.node, cst.FunctionDef):
        return None
    params = function.node.params
    positional = [param.name.value for param in (*params.posonly_params, *params.params)]
    passed = [arg for arg in site.node.args if arg.keyword is None]
    if site.node.args and _is_partial(site.node.func):
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


def _callers(facts: "FileFacts", function: Scope, other_files: bool) -> list[tuple["FileFacts", CallSite]]:
    if not isinstance(function.node, cst.FunctionDef):
        return []
    owner = function.class_info
    found = []
    for site in facts.walk.calls:
        if facts.local_function(_called(facts, site.node), site.scope) is function:
            found.append((facts, site))
        elif owner is not None and function.name == "__init__":
            built = facts.class_of(site.node.func)
            if built is not None and built.info is owner:
                found.append((facts, site))
        elif owner is not None and _is_method_of_an_instance(facts, site, owner, function.name):
            found.append((facts, site))
    if other_files and function.parent is facts.module_scope and facts.project is not None:
        found.extend(facts.project.callers_of(FunctionRef(facts, function)))
    return found


def _is_method_of_an_instance(facts: "FileFacts", site: CallSite, owner, method: str) -> bool:
    """``sampler.sample()`` where ``sampler = Sampler(...)``: a call of the method on an object
    the file builds from its class."""
    func = site.node.func
    if not isinstance(func, cst.Attribute) or func.attr.value != method or not isinstance(func.value, cst.Name) or func.value.value == "self":
        return False
    _, call = constructor(facts, Value(func.value, site.scope, site.index))
    built = facts.class_of(call.func) if call is not None else None
    return built is not None and built.info is owner


def _called(facts: "FileFacts", call: cst.Call) -> cst.BaseExpression:
    """The function a call runs: its callee, or the function ``functools.partial`` binds."""
    if _is_partial(call.func) and call.args and call.args[0].keyword is None:
        return call.args[0].value
    return call.func


def _is_partial(func: cst.BaseExpression) -> bool:
    name = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else ""
    return name == "partial"


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
