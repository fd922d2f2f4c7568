"""nn.Module classes: which classes are modules, what ``forward`` reaches, whether train/eval
mode changes what they compute.

Classes of other files of the project are answered by those files' own facts (a ``ClassRef``
from the project index), through the same functions: there is one implementation of each fact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import libcst as cst

from torchlint.analysis import torch_api
from torchlint.analysis.facts import ClassInfo, Scope, call_argument, is_constant, is_number
from torchlint.analysis.project import ClassRef

if TYPE_CHECKING:
    from torchlint.analysis import FileFacts


def local_class(facts: "FileFacts", expr: cst.BaseExpression, index: Optional[int] = None) -> Optional[ClassInfo]:
    """The class defined in this file that ``expr`` names. Where a script defines two classes of
    one name, code at the top level uses the one defined last before it (``index``); functions,
    which run later, use the last one."""
    if not isinstance(expr, cst.Name):
        return None
    candidates = facts.classes_named(expr.value)
    if index is not None:
        earlier = [info for info in candidates if info.index < index]
        candidates = earlier or candidates
    return candidates[-1] if candidates else None


def class_of(facts: "FileFacts", expr: cst.BaseExpression, index: Optional[int] = None) -> Optional[ClassRef]:
    """The class ``expr`` names: one of this file, or one the project index finds through an import."""
    local = local_class(facts, expr, index)
    if local is not None:
        return ClassRef(facts, local)
    return facts.project_class(facts.qualified_name(expr))


def is_module_class(facts: "FileFacts", info: ClassInfo) -> bool:
    """Derives from torch.nn (or a framework's module class), directly or through known classes."""
    for base in _bases(info):
        qualified = facts.qualified_name(base)
        if qualified is not None and (qualified.startswith(torch_api.MODULE_BASE_PREFIXES) or qualified in torch_api.FRAMEWORK_MODULE_BASES):
            return True
        if _names_module_class(facts, base, info.index):
            return True
    return False


def _names_module_class(facts: "FileFacts", expr: cst.BaseExpression, index: Optional[int]) -> bool:
    """Whether ``expr`` names a module class of this file or of the project. Asked about the
    same base classes by every file of a package, so the index remembers the answer."""
    local = local_class(facts, expr, index)
    if local is not None:
        return facts.is_module_class(local)
    qualified = facts.qualified_name(expr)

    def answer() -> bool:
        found = facts.project_class(qualified)
        return found is not None and found.facts.is_module_class(found.info)

    return facts.about_project("is a module class", qualified, answer)


def is_framework_driven(facts: "FileFacts", info: ClassInfo) -> bool:
    """A class whose hooks a framework calls, setting modes and clearing gradients itself."""
    return _derives_from(facts, info, torch_api.FRAMEWORK_DRIVEN_BASES)


def is_test_case(facts: "FileFacts", info: ClassInfo) -> bool:
    """A ``unittest.TestCase``: its methods test code, they do not evaluate models."""
    return _derives_from(facts, info, torch_api.TEST_CASE_BASES)


def mode_sensitivity(facts: "FileFacts", info: ClassInfo) -> Optional[bool]:
    """Whether train()/eval() changes what the module computes: True, False, or None when unknown
    (a submodule from a library we cannot see into, a module handed in from outside)."""
    unknown = False
    for method in info.methods.values():
        off_by_default = _parameters_off_by_default(method)
        for site in facts.calls_within(method):
            if off_by_default and _guarded_by(facts, site, off_by_default):
                continue  # ``if batch_norm: self.bn = nn.BatchNorm1d(...)`` with ``batch_norm=False``
            sensitive = constructed_sensitivity(facts, site.node, info.index)
            if sensitive:
                return True
            if sensitive is None and site.assigned_to_self:
                unknown = True  # ``self.backbone = timm.create_model(...)``
    for base in _bases(info):
        qualified = facts.qualified_name(base)
        if qualified is not None and (qualified.startswith(("torch.nn.", *torch_api.PLAIN_BASE_MODULES)) or qualified in torch_api.FRAMEWORK_MODULE_BASES):
            continue  # ``nn.Module`` itself, or ``abc.ABC``: no layers come from there
        found = class_of(facts, base, info.index)
        inherited = found.facts.mode_sensitivity(found.info) if found is not None else None
        if inherited:
            return True
        unknown = unknown or inherited is None
    return None if unknown else False


def _parameters_off_by_default(method: Scope) -> set[str]:
    """Parameters whose default turns a feature off: ``batch_norm=False``, ``dropout=None``, ``p=0``."""
    if not isinstance(method.node, cst.FunctionDef):
        return set()
    params = method.node.params
    return {
        param.name.value for param in (*params.params, *params.kwonly_params)
        if param.default is not None and (is_constant(param.default, "False") or is_constant(param.default, "None") or is_number(param.default, 0))
    }


def _guarded_by(facts: "FileFacts", site, flags: set[str]) -> bool:
    """The call runs only when one of these flags is set: in the body of ``if flag:``,
    ``if self.flag:`` or ``if flag is True:``."""
    for block in site.blocks:
        if isinstance(block, cst.If) and _flag_tested(block.test) in flags and facts.branch_of(block, site.index) == "body":
            return True
    return False


def _flag_tested(test: cst.BaseExpression) -> Optional[str]:
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1 and is_constant(test.comparisons[0].comparator, "True"):
        test = test.left
    if isinstance(test, cst.Attribute) and isinstance(test.value, cst.Name) and test.value.value == "self":
        return test.attr.value
    return test.value if isinstance(test, cst.Name) else None


def constructed_sensitivity(facts: "FileFacts", call: cst.Call, index: Optional[int] = None) -> Optional[bool]:
    """For a call that may build a module: does what it builds depend on train/eval mode?
    False for calls that build no module at all; None when the callee cannot be seen into."""
    qualified = facts.qualified_name(call.func)
    layer = torch_api.torch_nn_class(qualified)
    if layer is not None:
        # containers are not sensitive themselves; the layers passed to them are calls of their own
        return layer_is_mode_sensitive(layer, call)
    if qualified in torch_api.MODE_SENSITIVE_FUNCTIONS:
        return functional_is_mode_sensitive(qualified, call)
    if qualified is not None and qualified.startswith(torch_api.MODE_SENSITIVE_MODEL_ZOOS):
        return True  # torchvision's models all hold batch norm or dropout
    found = class_of(facts, call.func, index)
    if found is not None:
        return found.facts.mode_sensitivity(found.info) if found.facts.is_module_class(found.info) else False
    if qualified is not None and not qualified.startswith("torch."):
        return None  # something imported that we cannot see into
    return False


def layer_is_mode_sensitive(layer: str, call: cst.Call) -> bool:
    """Whether a torch.nn layer built by ``call`` computes differently in train and eval mode."""
    if layer in torch_api.RECURRENT_LAYERS:
        layers_at, dropout_at = torch_api.RECURRENT_LAYERS[layer]
        dropout = call_argument(call, dropout_at, "dropout")
        num_layers = call_argument(call, layers_at, "num_layers")
        return dropout is not None and not is_number(dropout, 0) and num_layers is not None and not is_number(num_layers, 1)
    if layer in torch_api.DROPOUT_OFF_BY_DEFAULT:
        dropout = call_argument(call, torch_api.DROPOUT_OFF_BY_DEFAULT[layer], "dropout")
        return dropout is not None and not is_number(dropout, 0)
    if layer in torch_api.DROPOUT_BY_DEFAULT:
        dropout = call_argument(call, torch_api.DROPOUT_BY_DEFAULT[layer], "dropout")
        return dropout is None or not is_number(dropout, 0)
    if layer.startswith("Dropout") or layer.endswith("AlphaDropout"):
        return not is_number(call_argument(call, 0, "p"), 0)
    if "BatchNorm" in layer:
        tracked = call_argument(call, 4, "track_running_stats")
        return not is_constant(tracked, "False")
    if layer.startswith("InstanceNorm"):
        tracked = call_argument(call, 4, "track_running_stats")
        return is_constant(tracked, "True")  # off by default: then instance norm ignores the mode
    return layer in torch_api.MODE_SENSITIVE_LAYERS


def functional_is_mode_sensitive(qualified: str, call: cst.Call) -> bool:
    """``F.dropout(x, p, training=False)`` is off in both modes and, without ``training=``, on in
    both (a bug of its own, not a mode question): only ``training=self.training`` (or another
    expression) ties it to the mode."""
    training = call_argument(call, torch_api.MODE_SENSITIVE_FUNCTIONS[qualified], "training")
    return training is not None and not is_constant(training, "False") and not is_constant(training, "True")


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


def ancestors(facts: "FileFacts", info: ClassInfo, _seen: frozenset = frozenset()) -> list[ClassRef]:
    """The class's base classes that can be seen into (this file or the project), nearest first."""
    found: list[ClassRef] = []
    for base in _bases(info):
        ref = class_of(facts, base, info.index)
        if ref is None or ref.info in _seen:
            continue
        found.append(ref)
        found.extend(ancestors(ref.facts, ref.info, _seen | {info, ref.info}))
    return found


def _derives_from(facts: "FileFacts", info: ClassInfo, bases: frozenset, _seen: frozenset = frozenset()) -> bool:
    if info in _seen:
        return False
    for base in _bases(info):
        if facts.qualified_name(base) in bases:
            return True
        found = class_of(facts, base, info.index)
        if found is not None and _derives_from(found.facts, found.info, bases, _seen | {info}):
            return True
    return False


def _bases(info: ClassInfo) -> list[cst.BaseExpression]:
    """The base classes, generic ones unsubscripted: ``flair.nn.Model[Sentence]`` is ``flair.nn.Model``."""
    bases = []
    for base in info.node.bases:
        if base.keyword is None:
            value = base.value
            while isinstance(value, cst.Subscript):
                value = value.value
            bases.append(value)
    return bases
