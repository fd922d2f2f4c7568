"""Cross-file facts: a cheap first pass over every file of a run, with Python's own parser.

The common layout puts the model in ``model.py`` and the loop in ``train.py``. From ``train.py``
alone, ``from model import Net`` is opaque: is ``Net`` an nn.Module, does it hold dropout or
batch norm? The index answers from a summary of the classes of the run's files.

It is lazy, because most files never ask: the first question scans the files' text once for
``class <Name>`` lines, and only the files defining a class that was asked about are parsed
(with Python's ``ast``, several times faster than libcst) and summarised. Each worker process
keeps its own index and caches, built from the list of paths it was started with.

Without an index (the flake8 plugin sees one file) every question answers "unknown": a class or
function that cannot be found is reported as such, never as empty.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass
from typing import Iterable, Optional, Protocol

from torchlint.analysis import torch_api
from torchlint.source import MAX_FILE_BYTES, decode
from torchlint.analysis.names import named_like_optimizer



@dataclass(frozen=True)
class ClassSummary:
    name: str
    path: str
    module: str  # dotted module path guessed from the file path: ``src.models.net``
    bases: tuple[str, ...]  # each base's qualified name through the file's imports, "" if unknown
    # what the class's methods construct: qualified names through the file's imports, or the
    # bare name of a class of the same file
    constructs: tuple[str, ...]
    constructs_on_self: tuple[str, ...]  # the subset stored on self: ``self.backbone = resnet50()``
    # every value ``forward`` returns is a softmax (read here for other files' classes only: the
    # linted file's classes are followed in full by ``analysis/flows.py``)
    forward_returns_softmax: bool = False


@dataclass(frozen=True)
class FunctionSummary:
    """A module-level function's training events, in order: "eval", "train", "backward",
    "step", "zero_grad" (what ``analysis/events.py`` finds in a function of the linted file)."""

    name: str
    path: str
    module: str
    events: tuple[str, ...]


class ProjectIndex:
    def __init__(self, paths: Iterable[str]) -> None:
        self.paths = tuple(paths)
        self._defined_in: Optional[dict[str, list[str]]] = None  # class or function name -> files
        self._summaries: dict[str, list] = {}  # file -> its class and function summaries

    def __getstate__(self) -> dict:
        return {"paths": self.paths}  # caches are rebuilt where needed

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["paths"])

    def find(self, qualified: str) -> Optional[ClassSummary]:
        """The class an import names (``model.Net``, ``.models.Net``); None when not unique."""
        return self._find(qualified, ClassSummary)

    def find_function(self, qualified: str) -> Optional[FunctionSummary]:
        """The module-level function an import names (``eval.eval_net``); None when not unique."""
        return self._find(qualified, FunctionSummary)

    def _find(self, qualified: str, kind: type):
        module, _, name = qualified.lstrip(".").rpartition(".")
        candidates = [
            c for path in self._files_defining(name) for c in self._file_summaries(path)
            if c.name == name and isinstance(c, kind)
        ]
        if module:
            candidates = [c for c in candidates if c.module == module or c.module.endswith("." + module)]
        return candidates[0] if len(candidates) == 1 else None

    def _files_defining(self, name: str) -> list[str]:
        if self._defined_in is None:
            self._defined_in = {}
            for path in self.paths:
                source = _read(path)
                for defined in _DEFINITION.findall(source) if source else ():
                    self._defined_in.setdefault(defined, []).append(path)
        return self._defined_in.get(name, [])

    def _file_summaries(self, path: str) -> list:
        if path not in self._summaries:
            source = _read(path)
            self._summaries[path] = summarize_file(path, source) if source else []
        return self._summaries[path]

    def same_file_class(self, summary: ClassSummary, name: str) -> Optional[ClassSummary]:
        same_file = [c for c in self._file_summaries(summary.path) if c.name == name and isinstance(c, ClassSummary)]
        return same_file[0] if len(same_file) == 1 else None


class ClassLookup(Protocol):
    """Where the classes a summary names are found: the ProjectIndex for the other files of the
    run, the FileFacts of the linted file for its own classes (then the index for the rest)."""

    def same_file_class(self, summary: ClassSummary, name: str) -> Optional[ClassSummary]: ...

    def find(self, qualified: str) -> Optional[ClassSummary]: ...


def resolve(lookup: ClassLookup, summary: ClassSummary, name: str) -> Optional[ClassSummary]:
    """A class named in ``summary``'s file: its own (a bare name) or an imported one."""
    if not name or name.startswith("torch."):
        return None
    return lookup.find(name) if "." in name else lookup.same_file_class(summary, name)


def is_module_class(summary: ClassSummary, lookup: ClassLookup, _seen: frozenset = frozenset()) -> bool:
    """Derives from torch.nn (or a framework's module class), directly or through known classes."""
    if summary in _seen:
        return False
    for base in summary.bases:
        if base.startswith(torch_api.MODULE_BASE_PREFIXES) or base in torch_api.FRAMEWORK_MODULE_BASES:
            return True
        found = resolve(lookup, summary, base)
        if found is not None and is_module_class(found, lookup, _seen | {summary}):
            return True
    return False


def mode_sensitivity(summary: ClassSummary, lookup: ClassLookup, _seen: frozenset = frozenset()) -> Optional[bool]:
    """Whether train()/eval() changes what the module computes: True, False, or None when unknown."""
    if summary in _seen:
        return None
    # a submodule imported from a library we cannot see into may hold dropout or batch norm
    unknown = any(not built.startswith("torch.") and resolve(lookup, summary, built) is None for built in summary.constructs_on_self)
    for built in summary.constructs:
        layer = torch_api.torch_nn_class(built)
        if layer in torch_api.MODE_SENSITIVE_LAYERS or built in torch_api.MODE_SENSITIVE_FUNCTIONS:
            return True
        found = resolve(lookup, summary, built)
        if found is not None and is_module_class(found, lookup):
            inner = mode_sensitivity(found, lookup, _seen | {summary})
            if inner:
                return True
            unknown = unknown or inner is None
    for base in summary.bases:
        if base.startswith("torch.nn.Module") or base == "torch.nn.modules.module.Module" or base in torch_api.FRAMEWORK_MODULE_BASES:
            continue
        found = resolve(lookup, summary, base)
        inherited = mode_sensitivity(found, lookup, _seen | {summary}) if found is not None else None
        if inherited:
            return True
        unknown = unknown or inherited is None
    return None if unknown else False


_DEFINITION = re.compile(r"^[ \t]*(?:class|def|async[ \t]+def)[ \t]+(\w+)", re.MULTILINE)


def _read(path: str) -> str:
    try:
        if os.path.getsize(path) > MAX_FILE_BYTES:
            return ""
        with open(path, "rb") as handle:
            return decode(handle.read())
    except (OSError, SyntaxError, UnicodeDecodeError, LookupError):
        return ""  # the main pass reports the file


def module_path(path: str) -> str:
    stem = os.path.splitext(os.path.normpath(path))[0].replace(os.sep, ".").replace("/", ".").lstrip(".")
    return stem[: -len(".__init__")] if stem.endswith(".__init__") else stem


def summarize_file(path: str, source: str) -> list:
    """The classes and module-level functions of one file; a file that does not parse
    contributes nothing."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    aliases = _import_aliases(tree)
    local_classes = {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}

    def qualified(expr: ast.expr) -> str:
        parts = []
        while isinstance(expr, ast.Attribute):
            parts.append(expr.attr)
            expr = expr.value
        if not isinstance(expr, ast.Name):
            return ""
        head = aliases.get(expr.id) or (expr.id if expr.id in local_classes else "")
        return ".".join([head, *reversed(parts)]) if head else ""

    module = module_path(path)
    summaries: list = [
        FunctionSummary(node.name, path, module, _training_events(node))
        for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        constructs, on_self = [], []
        for inner in ast.walk(node):
            if isinstance(inner, ast.Call):
                name = qualified(inner.func)
                if name:
                    constructs.append(name)
            elif isinstance(inner, ast.Assign) and isinstance(inner.value, ast.Call) and any(
                isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self" for t in inner.targets
            ):
                name = qualified(inner.value.func)
                if name:
                    on_self.append(name)
        summaries.append(ClassSummary(
            name=node.name,
            path=path,
            module=module,
            bases=tuple(qualified(base) for base in node.bases),
            constructs=tuple(dict.fromkeys(constructs)),
            constructs_on_self=tuple(dict.fromkeys(on_self)),
            forward_returns_softmax=_forward_returns_softmax(node, qualified),
        ))
    return summaries


def _forward_returns_softmax(cls: ast.ClassDef, qualified) -> bool:
    forward = next((n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == "forward"), None)
    if forward is None:
        return False

    def is_softmax_module(value: ast.expr) -> bool:
        if not isinstance(value, ast.Call):
            return False
        built = qualified(value.func)
        if built in torch_api.SEQUENTIAL and value.args:
            return is_softmax_module(value.args[-1])
        return built in torch_api.SOFTMAX_MODULES

    softmax_attributes = {
        target.attr
        for node in ast.walk(cls) if isinstance(node, ast.Assign) and is_softmax_module(node.value)
        for target in node.targets
        if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self"
    }
    body = [node for node in _own_nodes(forward)]
    bindings = {  # name -> the last value bound to it in forward, by position
        target.id: node.value
        for node in sorted((n for n in body if isinstance(n, ast.Assign)), key=lambda n: (n.lineno, n.col_offset))
        for target in node.targets if isinstance(target, ast.Name)
    }

    def is_softmax(expr: ast.expr, depth: int = 0) -> bool:
        if isinstance(expr, ast.Name) and expr.id in bindings and depth < 5:
            return is_softmax(bindings[expr.id], depth + 1)
        if not isinstance(expr, ast.Call):
            return False
        func = expr.func
        if qualified(func) in torch_api.SOFTMAX_FUNCTIONS:
            return True
        if isinstance(func, ast.Attribute):
            on_self = isinstance(func.value, ast.Name) and func.value.id == "self"
            if on_self:
                return func.attr in softmax_attributes
            return func.attr == "softmax" and not qualified(func.value)  # ``logits.softmax(-1)``
        return False

    returns = [node.value for node in body if isinstance(node, ast.Return)]
    return bool(returns) and all(value is not None and is_softmax(value) for value in returns)


def _own_nodes(function: ast.AST) -> list[ast.AST]:
    """The nodes of a function's body, without those of the functions and classes defined in it,
    which do not run where they are written."""
    nodes, pending = [], list(ast.iter_child_nodes(function))
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        nodes.append(node)
        pending.extend(ast.iter_child_nodes(node))
    return nodes


def _training_events(function: ast.AST) -> tuple[str, ...]:
    nodes = sorted(
        (node for node in _own_nodes(function) if isinstance(node, (ast.Call, ast.Assign))),
        key=lambda node: (node.lineno, node.col_offset),
    )
    events = []
    for call in nodes:
        if isinstance(call, ast.Assign):
            if isinstance(call.value, ast.Constant) and call.value.value is None and any(
                isinstance(target, ast.Attribute) and target.attr == "grad" for target in call.targets
            ):
                events.append("zero_grad")  # ``p.grad = None``
            continue
        if not isinstance(call.func, ast.Attribute):
            continue
        if call.func.attr == "zero_" and isinstance(call.func.value, ast.Attribute) and call.func.value.attr == "grad":
            events.append("zero_grad")  # ``p.grad.zero_()``
            continue
        attribute, arguments = call.func.attr, [*call.args, *(k.value for k in call.keywords)]
        if attribute == "eval" and not arguments:
            events.append("eval")
        elif attribute == "train" and len(arguments) <= 1:
            mode = arguments[0] if arguments else None
            if mode is None or (isinstance(mode, ast.Constant) and mode.value is True):
                events.append("train")
            elif isinstance(mode, ast.Constant) and mode.value is False:
                events.append("eval")
        elif attribute in ("backward", "manual_backward"):
            events.append("backward")
        elif attribute == "zero_grad":
            events.append("zero_grad")
        elif attribute == "step" and _named_like_optimizer_or_scaler(call.func.value):
            events.append("step")
    return tuple(events)


def _named_like_optimizer_or_scaler(receiver: ast.expr) -> bool:
    name = receiver.attr if isinstance(receiver, ast.Attribute) else receiver.id if isinstance(receiver, ast.Name) else ""
    return bool(name) and ("scaler" in name.lower() or named_like_optimizer(name))


def _import_aliases(tree: ast.Module) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom):
            prefix = "." * node.level + (node.module or "")
            for alias in node.names:
                if alias.name == "*":
                    continue
                joined = f"{prefix}.{alias.name}" if prefix and not prefix.endswith(".") else f"{prefix}{alias.name}"
                aliases[alias.asname or alias.name] = joined
    return aliases
