"""What kind of values flow into a loss: probabilities from a softmax or a sigmoid,
log-probabilities or raw logits, out of activations, layers and models' ``forward``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import libcst as cst

from torchlint.analysis import arguments, torch_api
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


def loss_input(facts: "FileFacts", site: CallSite) -> Optional[tuple[str, cst.BaseExpression]]:
    """(the loss family, its ``input`` argument) when ``site`` computes one of the losses whose
    input must be of a certain kind (``F.cross_entropy(x, y)``, ``criterion(x, y)`` for a
    criterion built from ``nn.NLLLoss``), else None."""
    call = site.node
    family = torch_api.loss_family(facts.qualified_name(call.func))
    if family is None:
        if isinstance(call.func, cst.Call):
            built = facts.qualified_name(call.func.func)
        else:
            built, _ = constructor(facts, Value(call.func, site.scope, site.index))
        family = torch_api.loss_family(built, module=True)
    if family is None:
        return None
    loss_in = call_argument(call, 0, "input")
    return (family, loss_in) if loss_in is not None else None


def output_kind(facts: "FileFacts", value: Value, depth: int = 0) -> Optional[str]:
    """What a tensor expression holds, when it is known: probabilities from a softmax or a
    sigmoid, log-probabilities, or the raw logits of a linear layer (``torch_api`` names the
    kinds); None when it cannot be told. Followed through names, indexing and reshapes."""
    if depth > 12:
        return None
    value = resolve(value)
    expr = value.expr
    if isinstance(expr, cst.Subscript):
        return output_kind(facts, Value(expr.value, value.scope, value.index), depth + 1)
    if not isinstance(expr, cst.Call):
        return _passed_by_callers(facts, value, output_kind, depth)
    func = expr.func
    qualified = facts.qualified_name(func)
    if qualified in torch_api.ACTIVATION_FUNCTIONS:
        return torch_api.ACTIVATION_FUNCTIONS[qualified]
    if qualified is None and isinstance(func, cst.Attribute) and not _is_self_attribute(func):
        if func.attr.value in torch_api.ACTIVATION_METHODS:
            return torch_api.ACTIVATION_METHODS[func.attr.value]  # ``logits.softmax(dim=-1)``
        if func.attr.value in VALUE_PRESERVING_METHODS:
            return output_kind(facts, Value(func.value, value.scope, value.index), depth + 1)
    return produced_kind(facts, Value(func, value.scope, value.index), depth + 1)


def activation_input(facts: "FileFacts", value: Value, kind: str) -> Optional[tuple[cst.BaseExpression, cst.BaseExpression]]:
    """(the expression to replace, its replacement) that makes ``value``, the direct result of
    an activation function or method of this kind (``F.softmax(z, 1)``, ``z.sigmoid()``), the
    activation's input instead:

    - written right there: the call becomes its input;
    - through a name read nowhere else (``p = F.softmax(model(x), 1)``): the call in the
      binding becomes its input, and the name holds the logits;
    - through a name read elsewhere too, when the input is a name that still holds the same
      value here: that name replaces ``value``, and the probabilities stay for the other use.

    None otherwise (through models, indexing or reshapes, or an input that would be computed twice)."""
    bound = resolve(value)
    call = bound.expr
    if not isinstance(call, cst.Call):
        return None
    qualified = facts.qualified_name(call.func)
    if qualified in torch_api.ACTIVATION_FUNCTIONS:
        found, source = torch_api.ACTIVATION_FUNCTIONS[qualified], call_argument(call, 0, "input")
    elif qualified is None and isinstance(call.func, cst.Attribute) and call.func.attr.value in torch_api.ACTIVATION_METHODS and not _is_self_attribute(call.func):
        found, source = torch_api.ACTIVATION_METHODS[call.func.attr.value], call.func.value
    else:
        return None
    if found != kind or source is None or any(arg.star for arg in call.args):
        return None
    if call is value.expr:
        return call, source
    name = value.expr.value if isinstance(value.expr, cst.Name) else None
    if name is None:
        return None
    direct = binding_before(value.scope, name, value.index)
    if direct is not None and direct.expr is call and bound.scope is value.scope and facts.reads_of(value.scope, name) == 1:
        return call, source
    if isinstance(source, cst.Name) and _same_binding(source.value, bound, value):
        return value.expr, source
    return None


def _same_binding(name: str, first: Value, second: Value) -> bool:
    if first.scope is not second.scope:
        return False
    before, after = binding_before(first.scope, name, first.index), binding_before(second.scope, name, second.index)
    if before is None or after is None:  # a parameter, bound nowhere in the scope
        return before is after and name not in first.scope.bindings
    return before.expr is after.expr and before.index == after.index


def produced_kind(facts: "FileFacts", callee: Value, depth: int = 0) -> Optional[str]:
    """What calling ``callee`` returns: an activation module (``nn.Softmax``, ``nn.Sigmoid``,
    ``nn.LogSoftmax``, ``nn.Linear``), a Sequential ending in one, an instance of a model of
    this file or the project whose ``forward`` always returns one kind (``self`` included), or a
    model whose output head was replaced by one of those."""
    if isinstance(callee.expr, cst.Name) and callee.expr.value == "self":
        owner = callee.scope.enclosing_class
        return facts.forward_output_kind(owner) if owner is not None else None
    if isinstance(callee.expr, cst.Call):  # ``nn.Softmax(dim=1)(x)``, ``Net().to(device)``
        call = unwrap_module_methods(callee.expr)[-1]
        built = facts.qualified_name(call.func) if isinstance(call, cst.Call) else None
        call = call if isinstance(call, cst.Call) else None
    else:
        built, call = constructor(facts, callee)
    if call is None:
        return _passed_by_callers(facts, resolve(callee), produced_kind, depth)
    layer = torch_api.torch_nn_class(built)
    if layer in torch_api.ACTIVATION_MODULES:
        return torch_api.ACTIVATION_MODULES[layer]
    if built in torch_api.SEQUENTIAL:
        layers = [arg.value for arg in call.args if arg.keyword is None and not arg.star]
        last = layers[-1] if layers else None
        return torch_api.ACTIVATION_MODULES.get(torch_api.torch_nn_class(facts.qualified_name(last.func))) if isinstance(last, cst.Call) else None
    model_class = class_of(facts, call.func, callee.index if callee.scope is facts.module_scope else None)
    if model_class is not None:
        return model_class.facts.forward_output_kind(model_class.info)
    return _head_kind(facts, callee, depth)


def _head_kind(facts: "FileFacts", model: Value, depth: int) -> Optional[str]:
    """A library model whose output head was replaced: ``model.fc = nn.Sequential(..., nn.Softmax())``."""
    if not isinstance(model.expr, cst.Name) or depth > 12:
        return None
    for head in HEAD_ATTRIBUTES:
        bound = binding_before(model.scope, f"{model.expr.value}.{head}", model.index)
        if bound is not None:
            return produced_kind(facts, bound, depth + 1)
    return None


def is_module_instance(facts: "FileFacts", value: Value, depth: int = 0) -> Optional[bool]:
    """True when ``value`` is known to hold an nn.Module: built from a torch.nn class, one of
    torchvision's models or a module class of the file or the project, possibly through a
    factory or a parameter every caller fills with one; None when it cannot be told."""
    built, call = constructor(facts, value)
    if call is None:
        parameter = arguments.parameter_of(resolve(value))
        annotation = arguments.annotation_of(*parameter) if parameter is not None else None
        if annotation is not None:  # ``model: nn.Module``
            annotated = facts.qualified_name(annotation)
            found = class_of(facts, annotation)
            if torch_api.torch_nn_class(annotated) is not None or (found is not None and found.facts.is_module_class(found.info)):
                return True
        return _passed_by_callers(facts, resolve(value), is_module_instance, depth)
    if built in torch_api.PARAMETER_CONSTRUCTORS:
        return None  # a tensor, not a module
    if torch_api.torch_nn_class(built) is not None or (built or "").startswith(torch_api.MODE_SENSITIVE_MODEL_ZOOS):
        return True
    found = class_of(facts, call.func, value.index if value.scope is facts.module_scope else None)
    return True if found is not None and found.facts.is_module_class(found.info) else None


def builds_parameters(facts: "FileFacts", call: cst.Call, depth: int = 0) -> bool:
    """Whether the module ``call`` builds owns parameters (or batch norm's running statistics):
    a parameterised torch.nn layer, a container holding one, or a module class of the file or
    the project whose ``__init__`` builds one. Activations and pooling own none."""
    if depth > 6:
        return False
    qualified = facts.qualified_name(call.func)
    layer = torch_api.torch_nn_class(qualified)
    if layer is not None:
        if layer in torch_api.PARAMETERISED_LAYERS:
            return True
        return any(isinstance(arg.value, cst.Call) and builds_parameters(facts, arg.value, depth + 1) for arg in call.args)
    if qualified in torch_api.PARAMETER_CONSTRUCTORS:
        return True
    found = class_of(facts, call.func)
    if found is None or not found.facts.is_module_class(found.info):
        return False
    for entries in found.info.self_bindings.values():
        for _, bound, _ in entries:
            for part in unwrap_module_methods(bound):
                if isinstance(part, cst.Call) and builds_parameters(found.facts, part, depth + 1):
                    return True
    return False


# Reductions: what they return has no more than the dimensions they keep.
REDUCING_METHODS = frozenset({"mean", "sum", "item", "max", "min", "norm", "prod", "logsumexp", "amax", "amin", "std", "var", "median", "nansum", "nanmean", "dot", "trace"})
ELEMENTWISE_METHODS = VALUE_PRESERVING_METHODS | {"abs", "pow", "square", "sqrt", "exp", "log", "clamp", "mul", "add", "sub", "div", "neg"}
ELEMENTWISE_OPERATORS = (cst.Add, cst.Subtract, cst.Multiply, cst.Divide, cst.Power)


def is_unreduced_loss(facts: "FileFacts", value: Value, depth: int = 0) -> bool:
    """Is this value known to be a per-element loss, not a scalar: a loss computed with
    ``reduction="none"`` (a criterion built so, or a functional loss called so), or an
    elementwise expression over one or over a torch.nn layer's output (``(linear(x) - y) ** 2``)
    that no reduction follows?"""
    return _unreduced(facts, value, depth, model_outputs=False)


def _unreduced(facts: "FileFacts", value: Value, depth: int, model_outputs: bool) -> bool:
    if depth > 12:
        return False
    value = resolve(value)
    expr = value.expr
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, ELEMENTWISE_OPERATORS):
        return any(_unreduced(facts, Value(side, value.scope, value.index), depth + 1, True) for side in (expr.left, expr.right))
    if isinstance(expr, cst.UnaryOperation):
        return _unreduced(facts, Value(expr.expression, value.scope, value.index), depth + 1, model_outputs)
    if not isinstance(expr, cst.Call):
        return False
    func = expr.func
    qualified = facts.qualified_name(func)
    if qualified is None and isinstance(func, cst.Attribute):
        if func.attr.value in REDUCING_METHODS:
            return False
        if func.attr.value in ELEMENTWISE_METHODS:
            return _unreduced(facts, Value(func.value, value.scope, value.index), depth + 1, model_outputs)
    if qualified is not None and qualified.startswith("torch.nn.functional."):
        return _reduction_is_none(expr)
    if isinstance(func, cst.Call):  # ``nn.L1Loss(reduction="none")(pred, y)``
        built, criterion = facts.qualified_name(func.func), func
    else:
        built, criterion = constructor(facts, Value(func, value.scope, value.index))
    layer = torch_api.torch_nn_class(built)
    if criterion is not None and layer is not None and layer.endswith("Loss"):
        return _reduction_is_none(criterion)
    # a layer's output is per element, but only arithmetic on it makes it a loss; a model of
    # the project may return a reduced loss itself (a loss module, a wrapper), so only torch.nn
    # layers built in view count
    return model_outputs and criterion is not None and layer is not None and not layer.endswith("Loss")


def _reduction_is_none(call: cst.Call) -> bool:
    reduction = call_argument(call, 99, "reduction")
    return isinstance(reduction, cst.SimpleString) and reduction.evaluated_value == "none"


def _passed_by_callers(facts: "FileFacts", value: Value, kind_of, depth: int) -> Optional[str]:
    """For a function's parameter (``def train(model, ...)``), the kind every caller in view
    passes for it, when they all agree; None when there is none or they differ."""
    parameter = arguments.parameter_of(value)
    if parameter is None or depth > 12:
        return None
    function, name = parameter
    kinds = set()
    for caller_facts, site in facts.callers(function):
        passed = arguments.argument_for(site, function, name)
        kinds.add(kind_of(caller_facts, Value(passed, site.scope, site.index), depth + 1) if passed is not None else None)
        if None in kinds or len(kinds) > 1:
            return None
    return kinds.pop() if kinds else None


def forward_output_kind(facts: "FileFacts", info: ClassInfo) -> Optional[str]:
    """The kind every value ``forward`` returns, when they all agree (a model that returns
    probabilities only in eval mode, say, has none)."""
    if not facts.is_module_class(info) or "forward" not in info.methods:
        return None
    forward = info.methods["forward"]
    kinds = {output_kind(facts, Value(value, forward, index)) if value is not None else None for index, value in forward.returns}
    return kinds.pop() if len(kinds) == 1 else None


def _is_self_attribute(func: cst.Attribute) -> bool:
    # ``self.softmax(x)`` is whatever was stored there; produced_kind decides
    return isinstance(func.value, cst.Name) and func.value.value == "self"
