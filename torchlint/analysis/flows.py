"""Where softmax outputs flow: into a cross-entropy loss, out of a model's ``forward``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import libcst as cst

from torchlint.analysis import torch_api
from torchlint.analysis.facts import CallSite, ClassInfo, call_argument, unwrap_module_methods
from torchlint.analysis.modules import class_of
from torchlint.analysis.values import MAX_CHAIN, Value, binding_before, resolve

if TYPE_CHECKING:
    from torchlint.analysis import FileFacts

# Tensor methods that reshape or move a tensor without changing what its values mean.
VALUE_PRESERVING_METHODS = frozenset({
    "view", "reshape", "flatten", "squeeze", "unsqueeze", "float", "double", "half", "bfloat16",
    "to", "contiguous", "permute", "transpose", "cpu", "cuda", "clone",
})


# The attributes that hold the output layer of torchvision and timm models.
HEAD_ATTRIBUTES = ("fc", "classifier", "head", "heads")


def constructor(facts: "FileFacts", value: Value, depth: int = 0) -> tuple[Optional[str], Optional[cst.Call]]:
    """If ``value`` resolves to a constructor call, its qualified name and the call.

    ``Net().to(device)`` resolves to ``Net()``: those methods return the module itself.
    """
    resolved = resolve(value)
    expr = unwrap_module_methods(resolved.expr)[-1]
    if expr is not resolved.expr and isinstance(expr, (cst.Name, cst.Attribute)):
        if depth >= MAX_CHAIN:
            return None, None  # ``self.x = self.x.to(device)`` leads back to itself
        return constructor(facts, Value(expr, resolved.scope, resolved.index), depth + 1)
    position = _constant_index(expr)
    if position is not None:
        expr = expr.value
    if isinstance(expr, cst.Call):
        function = facts.local_function(expr.func, resolved.scope)
        if function is not None:
            return _returned_constructor(facts, function, position, depth)
        if position is None:
            return facts.qualified_name(expr.func), expr
    return None, None


def _returned_constructor(facts: "FileFacts", function, position: Optional[int], depth: int) -> tuple[Optional[str], Optional[cst.Call]]:
    """What a factory of this file builds (``def make(): return data, Net()``): the constructor
    every return statement agrees on, element ``position`` of a returned tuple."""
    if depth >= MAX_CHAIN or not function.returns:
        return None, None
    found = []
    for index, returned in function.returns:
        if position is not None:
            if not isinstance(returned, (cst.Tuple, cst.List)) or position >= len(returned.elements):
                return None, None
            returned = returned.elements[position].value
        if returned is None:
            return None, None
        found.append(constructor(facts, Value(returned, function, index), depth + 1))
    if any(call is None for _, call in found):
        return None, None
    code = cst.Module([]).code_for_node
    return found[0] if len({code(call.func) for _, call in found}) == 1 else (None, None)


def _constant_index(expr: cst.BaseExpression) -> Optional[int]:
    """``i`` for ``value[i]`` with a literal integer ``i``."""
    if isinstance(expr, cst.Subscript) and len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Index):
        index = expr.slice[0].slice.value
        if isinstance(index, cst.Integer):
            return int(index.value)
    return None


def cross_entropy_input(facts: "FileFacts", site: CallSite) -> Optional[cst.BaseExpression]:
    """The ``input`` argument when ``site`` computes a cross-entropy loss, else None."""
    call = site.node
    if facts.qualified_name(call.func) in torch_api.CROSS_ENTROPY_FUNCTIONS:
        return call_argument(call, 0, "input")
    if isinstance(call.func, cst.Call):
        built = facts.qualified_name(call.func.func)
    else:
        built, _ = constructor(facts, Value(call.func, site.scope, site.index))
    if built in torch_api.CROSS_ENTROPY_MODULES:
        return call_argument(call, 0, "input")
    return None


def is_softmax_output(facts: "FileFacts", value: Value, depth: int = 0) -> bool:
    if depth > 12:
        return False
    value = resolve(value)
    expr = value.expr
    if isinstance(expr, cst.Subscript):
        return is_softmax_output(facts, Value(expr.value, value.scope, value.index), depth + 1)
    if not isinstance(expr, cst.Call):
        return False
    func = expr.func
    qualified = facts.qualified_name(func)
    if qualified in torch_api.SOFTMAX_FUNCTIONS:
        return True
    if qualified is None and isinstance(func, cst.Attribute):
        receiver = Value(func.value, value.scope, value.index)
        if func.attr.value == "softmax" and not _is_self_attribute(func):
            return True  # the tensor method ``logits.softmax(dim=-1)``
        if func.attr.value in VALUE_PRESERVING_METHODS:
            return is_softmax_output(facts, receiver, depth + 1)
    return produces_softmax(facts, Value(func, value.scope, value.index), depth + 1)


def produces_softmax(facts: "FileFacts", callee: Value, depth: int = 0) -> bool:
    """Whether calling ``callee`` returns a softmax: an nn.Softmax, a Sequential ending in one,
    an instance of a local model whose ``forward`` returns one (``self`` included), or a model
    whose output head was replaced by one of those."""
    if isinstance(callee.expr, cst.Name) and callee.expr.value == "self":
        owner = callee.scope.enclosing_class
        return owner is not None and facts.forward_returns_softmax(owner)
    if isinstance(callee.expr, cst.Call):  # ``nn.Softmax(dim=1)(x)``
        built, call = facts.qualified_name(callee.expr.func), callee.expr
    else:
        built, call = constructor(facts, callee)
    if call is None:
        return False
    if built in torch_api.SOFTMAX_MODULES:
        return True
    if built in torch_api.SEQUENTIAL:
        layers = [arg.value for arg in call.args if arg.keyword is None and not arg.star]
        return bool(layers) and isinstance(layers[-1], cst.Call) and facts.qualified_name(layers[-1].func) in torch_api.SOFTMAX_MODULES
    model_class = class_of(facts, call.func, callee.index if callee.scope is facts.module_scope else None)
    if model_class is not None:
        return model_class.facts.forward_returns_softmax(model_class.info)
    return _head_produces_softmax(facts, callee, depth)


def _head_produces_softmax(facts: "FileFacts", model: Value, depth: int) -> bool:
    """A library model whose output head was replaced: ``model.fc = nn.Sequential(..., nn.Softmax())``."""
    if not isinstance(model.expr, cst.Name) or depth > 12:
        return False
    for head in HEAD_ATTRIBUTES:
        bound = binding_before(model.scope, f"{model.expr.value}.{head}", model.index)
        if bound is not None:
            return produces_softmax(facts, bound, depth + 1)
    return False


def forward_returns_softmax(facts: "FileFacts", info: ClassInfo) -> bool:
    """Every value ``forward`` returns is a softmax (a model that returns probabilities only in
    eval mode, say, is not this)."""
    if not facts.is_module_class(info) or "forward" not in info.methods:
        return False
    forward = info.methods["forward"]
    returns = forward.returns
    return bool(returns) and all(
        value is not None and is_softmax_output(facts, Value(value, forward, index)) for index, value in returns
    )


def _is_self_attribute(func: cst.Attribute) -> bool:
    # ``self.softmax(x)`` is whatever was stored there; produces_softmax decides
    return isinstance(func.value, cst.Name) and func.value.value == "self"
