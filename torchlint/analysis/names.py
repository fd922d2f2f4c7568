"""Name resolution through imports and aliases, from a table built during the one walk.

``import torch.nn as nn`` makes ``nn.Linear`` resolve to ``torch.nn.Linear``; ``from torch.nn
import functional as F`` makes ``F.softmax`` resolve to ``torch.nn.functional.softmax``. Names
that were not imported resolve to None: a rule never matches on the text of a call.
"""

from __future__ import annotations

import re
from typing import Optional

import libcst as cst


def dotted_name(expr: cst.CSTNode) -> Optional[str]:
    """``self.model.encoder`` for an Attribute chain of plain names, else None."""
    parts = []
    while isinstance(expr, cst.Attribute):
        parts.append(expr.attr.value)
        expr = expr.value
    if not isinstance(expr, cst.Name):
        return None
    parts.append(expr.value)
    return ".".join(reversed(parts))


def last_name(expr: cst.CSTNode) -> Optional[str]:
    """``step`` for ``optimizer.step`` or ``step``; None for anything but a name or an attribute."""
    if isinstance(expr, cst.Attribute):
        return expr.attr.value
    return expr.value if isinstance(expr, cst.Name) else None


def _import_path(expr: cst.BaseExpression) -> str:
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        return f"{_import_path(expr.value)}.{expr.attr.value}"
    return ""


class ImportTable:
    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}

    def add_import(self, node: cst.Import) -> None:
        for alias in node.names:
            full = _import_path(alias.name)
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self.aliases[alias.asname.name.value] = full
            else:
                # ``import torch.nn`` binds ``torch``
                top = full.split(".")[0]
                self.aliases[top] = top

    def add_import_from(self, node: cst.ImportFrom) -> None:
        if isinstance(node.names, cst.ImportStar):
            return
        module = _import_path(node.module) if node.module is not None else ""
        # A relative import names a project module: keep the dots so it never looks like torch.
        prefix = "." * len(node.relative) + module
        for alias in node.names:
            name = _import_path(alias.name)
            local = alias.asname.name.value if alias.asname is not None and isinstance(alias.asname.name, cst.Name) else name
            self.aliases[local] = f"{prefix}.{name}" if prefix and not prefix.endswith(".") else f"{prefix}{name}"

    def qualified_name(self, expr: cst.CSTNode) -> Optional[str]:
        """The imported thing an expression names (``torch.nn.functional.softmax``), or None."""
        dotted = dotted_name(expr)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        resolved = self.aliases.get(head)
        if resolved is None and head == "torch":
            # a notebook cell exported without the cell that imported torch
            resolved = "torch"
        if resolved is None:
            return None
        return f"{resolved}.{rest}" if rest else resolved


    def spelling(self, qualified: str) -> Optional[str]:
        """The shortest expression the file's imports give for an imported thing (``nn.ModuleList``
        for ``torch.nn.ModuleList`` after ``import torch.nn as nn``), or None when none names it."""
        found = []
        for local, resolved in self.aliases.items():
            if qualified == resolved:
                found.append(local)
            elif qualified.startswith(resolved + "."):
                found.append(local + qualified[len(resolved):])
        return min(found, key=lambda spelled: (len(spelled), spelled)) if found else None


_WORD_BOUNDARY = re.compile(r"[_\W]+|(?<=[a-z0-9])(?=[A-Z])")


def name_words(name: str) -> list[str]:
    """``val_loader`` -> [val, loader]; ``validateModel`` -> [validate, model]."""
    return [word.lower() for word in _WORD_BOUNDARY.split(name) if word]


def named_like_optimizer(name: str) -> bool:
    """``optimizer``, ``opt``, ``self.optG``, ``g_optim``; never a scheduler, an environment or a trainer."""
    words = name_words(name.rsplit(".", 1)[-1])
    return any(word == "opt" or word.startswith("optim") for word in words) and not any("sched" in word for word in words)


MODEL_WORDS = frozenset({
    "model", "net", "network", "classifier", "encoder", "decoder", "backbone", "generator",
    "discriminator", "teacher", "student", "critic", "actor", "policy",
})
# A name ending in one of these names a function about a model, not a model.
NOT_A_MODEL_WORDS = frozenset({
    "fn", "func", "function", "factory", "builder", "creator", "getter", "loader", "cls", "class",
    "type", "config", "cfg", "hook", "callback", "path", "name",
})


def named_like_model(name: str) -> bool:
    """``model``, ``self.net``, ``netG``, ``resnet``, ``target_net``, ``lm_models``; not ``model_fn``."""
    words = name_words(name.rsplit(".", 1)[-1])
    if words and words[-1] in NOT_A_MODEL_WORDS:
        return False  # ``model_fn``, ``model_factory``, ``build_model_fn``: functions about models
    return any(word in MODEL_WORDS or word.endswith("net") or (word.endswith("s") and word[:-1] in MODEL_WORDS) for word in words)
