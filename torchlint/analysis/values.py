"""A small intra-procedural def-use: what a name or ``self.<attr>`` was last bound to.

Only straight-line bindings are followed (``x = f(...)``, ``self.x = f(...)``); loop variables,
unpacking and augmented assignments end the chain, so an answer is either the value that was
really bound or "unknown", never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import libcst as cst

from torchlint.analysis.facts import Scope

MAX_CHAIN = 8


@dataclass(frozen=True)
class Value:
    """An expression together with where it is evaluated, so it can be resolved further."""

    expr: cst.BaseExpression
    scope: Scope
    index: int


def binding_before(scope: Scope, name: str, index: int) -> Optional[Value]:
    """The value ``name`` was last bound to before ``index``, looking out through enclosing scopes."""
    current: Optional[Scope] = scope
    while current is not None:
        entries = current.bindings.get(name)
        if entries:
            if current is scope:
                earlier = [entry for entry in entries if entry[0] < index]
                if not earlier:
                    return None  # local, but bound only later (a previous iteration): unknown
                bound_at, value = earlier[-1]
            else:
                bound_at, value = entries[-1]
            return Value(value, current, bound_at) if value is not None else None
        current = current.parent
    return None


def self_attribute_binding(scope: Scope, attr: str) -> Optional[Value]:
    owner = scope.enclosing_class
    if owner is None:
        return None
    entries = owner.self_bindings.get(attr)
    if not entries:
        return None
    bound_at, value, where = entries[-1]
    return Value(value, where, bound_at)


def resolve(value: Value) -> Value:
    """Follow names and ``self.<attr>`` to the expression they were bound to, as far as known."""
    for _ in range(MAX_CHAIN):
        expr = value.expr
        if isinstance(expr, cst.Name):
            bound = binding_before(value.scope, expr.value, value.index)
        elif isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) and expr.value.value == "self":
            bound = self_attribute_binding(value.scope, expr.attr.value)
        else:
            return value
        if bound is None:
            return value
        value = bound
    return value
