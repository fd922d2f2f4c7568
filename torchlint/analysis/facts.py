"""The one walk over a file's tree and the raw facts it records.

The walk is read-only and hand-rolled rather than a libcst visitor: a libcst visitor rebuilds
every node it passes, which costs as much as the parse itself, while this walk only reads the
fields that can hold code (whitespace and punctuation are skipped). It records what the semantic
queries need (imports, classes, functions, bindings, calls, loops and ``with`` blocks, each with
its enclosing scope and blocks) and the nodes the selected rules subscribed to. Derived facts
(training loops, evaluation scopes, ...) are computed lazily from these records, never by
walking the tree again.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Iterable, Optional, Union

import libcst as cst

from torchlint.analysis.names import ImportTable, dotted_name, last_name

Block = Union[cst.For, cst.While, cst.With, cst.If, cst.Try, cst.ExceptHandler]


@dataclass(eq=False)
class ClassInfo:
    node: cst.ClassDef
    name: str
    scope: "Scope"  # where the class is defined
    index: int = 0  # position in program order
    methods: dict[str, "Scope"] = field(default_factory=dict)
    # ``self.<attr> = value`` anywhere in the class's methods, in program order
    self_bindings: dict[str, list[tuple[int, cst.BaseExpression, "Scope"]]] = field(default_factory=dict)


@dataclass(eq=False)
class Scope:
    """A function, or the module itself (name ``<module>``)."""

    node: Union[cst.Module, cst.FunctionDef]
    name: str
    parent: Optional["Scope"]
    class_info: Optional[ClassInfo]  # set for methods defined directly in a class body
    start: int = 0
    end: int = 0
    bindings: dict[str, list[tuple[int, Optional[cst.BaseExpression]]]] = field(default_factory=dict)
    calls: list["CallSite"] = field(default_factory=list)
    grad_assignments: list["GradAssignment"] = field(default_factory=list)
    returns: list[tuple[int, Optional[cst.BaseExpression]]] = field(default_factory=list)
    functions: dict[str, "Scope"] = field(default_factory=dict)
    loops: list["BlockSite"] = field(default_factory=list)
    withs: list["BlockSite"] = field(default_factory=list)
    self_attributes: set[str] = field(default_factory=set)  # ``x`` for each ``self.x`` read or written here
    # ``for p in model.parameters()``: p -> [(index of the binding, the iterable, position in a tuple target)]
    iterations: dict[str, list[tuple[int, cst.BaseExpression, Optional[int]]]] = field(default_factory=dict)

    @property
    def enclosing_class(self) -> Optional[ClassInfo]:
        scope: Optional[Scope] = self
        while scope is not None:
            if scope.class_info is not None:
                return scope.class_info
            scope = scope.parent
        return None

    @property
    def decorators(self) -> tuple[cst.Decorator, ...]:
        return tuple(self.node.decorators) if isinstance(self.node, cst.FunctionDef) else ()


@dataclass(eq=False)
class CallSite:
    node: cst.Call
    index: int  # position in program order
    scope: Scope
    blocks: tuple[cst.CSTNode, ...]  # enclosing loops, with, if and try blocks inside the scope, outermost first
    assigned_to_self: Optional[str] = None  # "x" for the value of ``self.x = <call>`` (possibly ``.to(device)``-wrapped)
    discarded: bool = False  # a statement of its own, or assigned to ``_``: called for its side effects


@dataclass(eq=False)
class GradAssignment:
    """An assignment that touches gradients without a call: ``p.grad = None`` clears them
    ("clear"); ``p.grad = g`` writes them ("write"), as gradient surgery (PCGrad) does between
    clearing and stepping; ``w -= lr * w.grad`` is a hand-written optimizer step ("update")."""

    node: cst.CSTNode
    index: int
    scope: Scope
    blocks: tuple[cst.CSTNode, ...]
    kind: str
    target: Optional[str] = None  # the parameter updated (``w`` for ``w.data -= lr * w.grad``), or
    # for a write, the tensor whose gradient is handed over (``local`` for ``shared._grad = local.grad``)


@dataclass(eq=False)
class BlockSite:
    node: Union[cst.For, cst.While, cst.With]
    index: int
    end: int
    scope: Scope
    blocks: tuple[cst.CSTNode, ...]  # the blocks enclosing this one


# nn.Module methods that return the module itself: ``nn.Linear(2, 2).to(device)`` is still the layer.
MODULE_RETURNING_METHODS = frozenset({"to", "cuda", "cpu", "double", "float", "half", "bfloat16", "train", "eval", "requires_grad_"})


def unwrap_module_methods(expr: cst.BaseExpression) -> list[cst.BaseExpression]:
    """``Net().to(device).eval()`` -> [that whole call, ``Net().to(device)``, ``Net()``]."""
    chain = [expr]
    while isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value in MODULE_RETURNING_METHODS:
        expr = expr.func.value
        chain.append(expr)
    return chain


def call_argument(call: cst.Call, position: int, keyword: str) -> Optional[cst.BaseExpression]:
    positional = [arg for arg in call.args if arg.keyword is None and not arg.star]
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == keyword:
            return arg.value
    return positional[position].value if len(positional) > position else None


def is_constant(expr: Optional[cst.CSTNode], name: str) -> bool:
    """``True``, ``False`` or ``None`` written as such."""
    return isinstance(expr, cst.Name) and expr.value == name


def is_literal(expr: Optional[cst.CSTNode]) -> bool:
    """A number, string, ``True``/``False``/``None``, a negated number, or a tuple of them:
    a value that means the same wherever it is written."""
    if isinstance(expr, (cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString, cst.ConcatenatedString)):
        return True
    if isinstance(expr, cst.Name):
        return expr.value in ("True", "False", "None")
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, (cst.Minus, cst.Plus)):
        return isinstance(expr.expression, (cst.Integer, cst.Float))
    if isinstance(expr, cst.Tuple):
        return all(not isinstance(element, cst.StarredElement) and is_literal(element.value) for element in expr.elements)
    return False


def is_self_attribute(expr: Optional[cst.CSTNode], attr: str) -> bool:
    """``self.<attr>``."""
    return isinstance(expr, cst.Attribute) and expr.attr.value == attr and isinstance(expr.value, cst.Name) and expr.value.value == "self"


def is_number(expr: Optional[cst.CSTNode], value: float) -> bool:
    """A numeric literal equal to ``value`` (``0``, ``0.0``)."""
    if isinstance(expr, (cst.Integer, cst.Float)):
        try:
            return float(expr.value) == value
        except ValueError:
            return False
    return False


def function_called(call: cst.Call) -> cst.BaseExpression:
    """The function a call runs: its callee, or the one ``functools.partial`` binds."""
    if last_name(call.func) == "partial" and call.args and call.args[0].keyword is None:
        return call.args[0].value
    return call.func


def reads_grad(expr: cst.CSTNode) -> bool:
    """The expression reads some ``.grad`` (``lr * w.grad``), searched within it alone."""
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Attribute) and node.attr.value == "grad":
            return True
        stack.extend(node.children)
    return False


# Fields that never hold code. Skipping them is what makes the walk cheap.
_NOT_CODE = {
    "lpar", "rpar", "comma", "semicolon", "colon", "header", "footer", "leading_lines",
    "lines_after_decorators", "equal", "dot", "lbracket", "rbracket", "lbrace", "rbrace",
    "newline", "first_colon", "second_colon", "star", "asynchronous", "default_indent",
    "default_newline", "encoding", "has_trailing_newline", "indent", "trailing_whitespace",
    "empty_lines", "comment", "relative", "operator", "arrow", "separator",
}
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def _child_fields(node_type: type) -> tuple[str, ...]:
    fields = _CHILD_FIELDS.get(node_type)
    if fields is None:
        fields = tuple(
            f.name for f in dataclasses.fields(node_type)
            if f.name not in _NOT_CODE and not f.name.startswith("whitespace") and _may_hold_node(f.type)
        )
        _CHILD_FIELDS[node_type] = fields
    return fields


def _may_hold_node(annotation) -> bool:
    """False for a field typed ``str``, ``bool`` or ``Literal[...]`` (a Name's text, a string's quote)."""
    if isinstance(annotation, type):
        return issubclass(annotation, cst.CSTNode)
    arguments = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return False
    return not arguments or any(_may_hold_node(argument) for argument in arguments)  # a forward reference: maybe


class _NodeTypes(dict):
    """type -> whether it is a libcst node: ``isinstance(x, cst.CSTNode)`` is an ABC check, ten
    times slower than this lookup, and the walk asks it for every field of every node."""

    def __missing__(self, value_type: type) -> bool:
        self[value_type] = answer = issubclass(value_type, cst.CSTNode)
        return answer


_IS_NODE_TYPE = _NodeTypes()


def holds_any(root: cst.CSTNode, nodes: frozenset) -> bool:
    """Whether ``root`` or a node under it, in the fields the walk reads (no punctuation, no
    whitespace), is one of ``nodes``."""
    pending = [root]
    while pending:
        node = pending.pop()
        if node in nodes:
            return True
        for name in _child_fields(type(node)):
            value = getattr(node, name)
            value_type = type(value)
            if value_type is tuple or value_type is list:
                pending.extend(item for item in value if _IS_NODE_TYPE[type(item)])
            elif _IS_NODE_TYPE[value_type]:
                pending.append(value)
    return False


class FileWalk:
    """Walks a module once and fills in the records above."""

    def __init__(self, module: cst.Module, wanted_types: Iterable[type] = ()) -> None:
        self.module = module
        self.imports = ImportTable()
        self.classes: list[ClassInfo] = []
        self.class_by_node: dict[cst.ClassDef, ClassInfo] = {}
        self.scopes: list[Scope] = []
        self.calls: list[CallSite] = []
        self.call_by_node: dict[cst.Call, CallSite] = {}
        self.block_by_node: dict[cst.CSTNode, BlockSite] = {}
        self.scope_by_node: dict[cst.CSTNode, Scope] = {}
        self.nodes_by_type: dict[type, list[cst.CSTNode]] = {t: [] for t in wanted_types}
        self.place_by_node: dict[cst.CSTNode, tuple["Scope", int]] = {}  # for those nodes: (scope, index)
        self._index = 0
        self._values_assigned_to_self: dict[cst.CSTNode, str] = {}
        self._discarded_values: set[cst.CSTNode] = set()
        # ``if`` statements: (start of the body, end of the body, end of the else branch)
        self.if_branches: dict[cst.If, tuple[int, int, int]] = {}
        self._blocks: list[cst.CSTNode] = []
        self._class_stack: list[Optional[ClassInfo]] = [None]
        self.module_scope = self._new_scope(module, "<module>", None, None)
        self._scope = self.module_scope
        if cst.Module in self.nodes_by_type:
            self.nodes_by_type[cst.Module].append(module)
        self._walk_children(module)
        self.module_scope.end = self._index

    # -- the walk --------------------------------------------------------------------------

    def _walk(self, node: cst.CSTNode) -> None:
        self._index += 1
        node_type = type(node)
        subscribed = self.nodes_by_type.get(node_type)
        if subscribed is not None:
            subscribed.append(node)
            self.place_by_node[node] = (self._scope, self._index)
        handler = _HANDLERS.get(node_type)
        if handler is None:
            self._walk_children(node)
        else:
            handler(self, node)

    def _walk_children(self, node: cst.CSTNode, skipped: str = "") -> None:
        walk, is_node_type = self._walk, _IS_NODE_TYPE
        for name in _child_fields(type(node)):
            if name == skipped:
                continue
            value = getattr(node, name)
            value_type = type(value)
            if value_type is tuple or value_type is list:
                for item in value:
                    if is_node_type[type(item)]:
                        walk(item)
            elif is_node_type[value_type]:
                walk(value)

    def release(self) -> None:
        """Break the records' references to one another (a scope and its calls, a method and its
        class), so that reference counting frees them and the tree at once rather than a full
        garbage collection later. Only for a walk nothing else holds (``ProjectIndex``)."""
        for scope in self.scopes:  # every cycle among the records passes through a scope
            vars(scope).clear()
        vars(self).clear()

    def _new_scope(self, node, name, parent, class_info) -> Scope:
        scope = Scope(node=node, name=name, parent=parent, class_info=class_info, start=self._index)
        self.scopes.append(scope)
        self.scope_by_node[node] = scope
        return scope

    # -- handlers ----------------------------------------------------------------------------

    def _on_import(self, node: cst.Import) -> None:
        self.imports.add_import(node)

    def _on_import_from(self, node: cst.ImportFrom) -> None:
        self.imports.add_import_from(node)

    def _on_class(self, node: cst.ClassDef) -> None:
        info = ClassInfo(node=node, name=node.name.value, scope=self._scope, index=self._index)
        self.classes.append(info)
        self.class_by_node[node] = info
        for decorator in node.decorators:
            self._walk(decorator)
        for base in node.bases:
            self._walk(base)
        self._class_stack.append(info)
        saved_blocks, self._blocks = self._blocks, []
        self._walk(node.body)
        self._blocks = saved_blocks
        self._class_stack.pop()

    def _on_function(self, node: cst.FunctionDef) -> None:
        class_info = self._class_stack[-1]
        for decorator in node.decorators:
            self._walk(decorator)
        self._walk(node.params)
        scope = self._new_scope(node, node.name.value, self._scope, class_info)
        if class_info is not None:
            class_info.methods[scope.name] = scope
        else:
            self._scope.functions[scope.name] = scope
        self._bind(node.name.value, None)
        saved = self._scope, self._blocks
        self._scope, self._blocks = scope, []
        # parameters are local names of unknown value: they hide module-level names alike
        parameters = node.params
        for param in (*parameters.posonly_params, *parameters.params, *parameters.kwonly_params):
            self._bind(param.name.value, None)
        for star in (parameters.star_arg, parameters.star_kwarg):
            if isinstance(star, cst.Param):
                self._bind(star.name.value, None)
        self._class_stack.append(None)
        self._walk(node.body)
        self._class_stack.pop()
        scope.end = self._index
        self._scope, self._blocks = saved

    def _on_lambda(self, node: cst.Lambda) -> None:
        # A lambda's body does not run where it is written; its calls are not events here.
        return

    def _on_call(self, node: cst.Call) -> None:
        site = CallSite(node=node, index=self._index, scope=self._scope, blocks=tuple(self._blocks),
                        assigned_to_self=self._values_assigned_to_self.get(node),
                        discarded=node in self._discarded_values)
        self.calls.append(site)
        self.call_by_node[node] = site
        self._scope.calls.append(site)
        self._walk_children(node)

    def _on_block(self, node) -> None:
        site = BlockSite(node=node, index=self._index, end=0, scope=self._scope, blocks=tuple(self._blocks))
        self.block_by_node[node] = site
        if isinstance(node, (cst.For, cst.While)):
            self._scope.loops.append(site)
        elif isinstance(node, cst.With):
            self._scope.withs.append(site)
        if isinstance(node, cst.For):
            # the iterable is evaluated once, outside the loop
            self._walk(node.iter)
            self._bind_target(node.target)
            self._record_iteration(node.target, node.iter)
        self._blocks.append(node)
        self._walk_children(node, skipped="iter" if isinstance(node, cst.For) else "")
        self._blocks.pop()
        site.end = self._index

    def _on_if_or_try(self, node) -> None:
        self._blocks.append(node)
        if isinstance(node, cst.If):
            self._walk(node.test)
            body_start = self._index
            self._walk(node.body)
            body_end = self._index
            if node.orelse is not None:
                self._walk(node.orelse)
            self.if_branches[node] = (body_start, body_end, self._index)
        else:
            self._walk_children(node)
        self._blocks.pop()

    def _on_except_handler(self, node: cst.ExceptHandler) -> None:
        # an ``except`` clause runs only when its ``try`` failed: code in it is conditional
        self._blocks.append(node)
        self._walk_children(node)
        self._blocks.pop()

    def _on_expression_statement(self, node: cst.Expr) -> None:
        self._discarded_values.add(node.value)
        self._walk_children(node)

    def _on_assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._record_target(target.target, node.value)
        self._walk_children(node)

    def _on_ann_assign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._record_target(node.target, node.value)
        self._walk_children(node)

    def _on_aug_assign(self, node: cst.AugAssign) -> None:
        self._bind_target(node.target)
        if isinstance(node.operator, (cst.SubtractAssign, cst.AddAssign)) and reads_grad(node.value):
            parameter = dotted_name(node.target)
            if parameter is not None:
                self._scope.grad_assignments.append(GradAssignment(
                    node, self._index, self._scope, tuple(self._blocks), "update", parameter.removesuffix(".data"),
                ))
        self._walk_children(node)

    def _on_named_expr(self, node: cst.NamedExpr) -> None:
        self._record_target(node.target, node.value)
        self._walk_children(node)

    def _on_comprehension(self, node) -> None:
        # ``[f(x) for x in xs]``: x is bound before f(x) runs, though written after it
        comprehension = node.for_in
        while comprehension is not None:
            self._bind_target(comprehension.target)
            comprehension = comprehension.inner_for_in
        self._walk_children(node)

    def _on_with_item(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._bind_target(node.asname.name)
        self._walk_children(node)

    def _on_attribute(self, node: cst.Attribute) -> None:
        if isinstance(node.value, cst.Name) and node.value.value == "self":
            self._scope.self_attributes.add(node.attr.value)
        self._walk_children(node)

    def _on_return(self, node: cst.Return) -> None:
        self._scope.returns.append((self._index, node.value))
        self._walk_children(node)

    # -- bindings ----------------------------------------------------------------------------

    def _bind(self, name: str, value: Optional[cst.BaseExpression]) -> None:
        self._scope.bindings.setdefault(name, []).append((self._index, value))

    def _bind_target(self, target: cst.CSTNode) -> None:
        """A binding whose value we do not follow (loop variables, unpacking, ``+=``)."""
        if isinstance(target, cst.Name):
            self._bind(target.value, None)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._bind_target(element.value)
        elif isinstance(target, cst.StarredElement):
            self._bind_target(target.value)

    def _record_iteration(self, target: cst.CSTNode, iterable: cst.BaseExpression) -> None:
        if isinstance(target, cst.Name):
            self._scope.iterations.setdefault(target.value, []).append((self._index, iterable, None))
        elif isinstance(target, (cst.Tuple, cst.List)):
            for position, element in enumerate(target.elements):
                if isinstance(element.value, cst.Name):
                    self._scope.iterations.setdefault(element.value.value, []).append((self._index, iterable, position))

    def _record_target(self, target: cst.CSTNode, value: cst.BaseExpression) -> None:
        if isinstance(target, cst.Name):
            self._bind(target.value, value)
            if target.value == "_":
                self._discarded_values.add(value)
        elif isinstance(target, cst.Attribute):
            if target.attr.value in ("grad", "_grad"):
                kind = "clear" if isinstance(value, cst.Name) and value.value == "None" else "write"
                # ``shared._grad = local.grad``: gradients handed over from another tensor
                source = dotted_name(value.value) if isinstance(value, cst.Attribute) and value.attr.value == "grad" else None
                self._scope.grad_assignments.append(GradAssignment(target, self._index, self._scope, tuple(self._blocks), kind, source))
            elif isinstance(target.value, cst.Name) and target.value.value == "self":
                owner = self._scope.enclosing_class
                if owner is not None:
                    owner.self_bindings.setdefault(target.attr.value, []).append((self._index, value, self._scope))
                    self._values_assigned_to_self.update(dict.fromkeys(unwrap_module_methods(value), target.attr.value))
            elif isinstance(target.value, cst.Name):
                # ``model.fc = nn.Linear(...)``: a submodule replaced on a local model
                self._bind(f"{target.value.value}.{target.attr.value}", value)
        elif isinstance(target, (cst.Tuple, cst.List)) and not any(isinstance(e, cst.StarredElement) for e in target.elements):
            # ``data, model = make()``: each name is bound to its element of the value
            for position, element in enumerate(target.elements):
                if isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == len(target.elements):
                    part = value.elements[position].value
                else:
                    part = cst.Subscript(value, [cst.SubscriptElement(cst.Index(cst.Integer(str(position))))])
                self._record_target(element.value, part)
        elif isinstance(target, cst.Subscript) and isinstance(target.value, cst.Attribute) and isinstance(target.value.value, cst.Name) and target.value.value.value == "self":
            # ``self.layers[key] = nn.Linear(...)``: registered in a ModuleDict or ModuleList
            self._values_assigned_to_self.update(dict.fromkeys(unwrap_module_methods(value), f"{target.value.attr.value}[]"))
        else:
            self._bind_target(target)


_HANDLERS = {
    cst.Import: FileWalk._on_import,
    cst.ImportFrom: FileWalk._on_import_from,
    cst.ClassDef: FileWalk._on_class,
    cst.FunctionDef: FileWalk._on_function,
    cst.Lambda: FileWalk._on_lambda,
    cst.Call: FileWalk._on_call,
    cst.For: FileWalk._on_block,
    cst.While: FileWalk._on_block,
    cst.With: FileWalk._on_block,
    cst.If: FileWalk._on_if_or_try,
    cst.Try: FileWalk._on_if_or_try,
    cst.ExceptHandler: FileWalk._on_except_handler,
    cst.Expr: FileWalk._on_expression_statement,
    cst.Assign: FileWalk._on_assign,
    cst.AnnAssign: FileWalk._on_ann_assign,
    cst.AugAssign: FileWalk._on_aug_assign,
    cst.NamedExpr: FileWalk._on_named_expr,
    cst.Return: FileWalk._on_return,
    cst.Attribute: FileWalk._on_attribute,
    cst.ListComp: FileWalk._on_comprehension,
    cst.SetComp: FileWalk._on_comprehension,
    cst.DictComp: FileWalk._on_comprehension,
    cst.GeneratorExp: FileWalk._on_comprehension,
    cst.WithItem: FileWalk._on_with_item,
}
