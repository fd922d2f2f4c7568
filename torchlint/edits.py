"""What a rule proposes as a fix, in terms of the nodes it already holds.

A rule never computes offsets or indentation: it says "replace this node with that code",
"insert this statement before that one", "move this statement before that one", and the engine
turns the proposal into text edits (``findings.Edit``) once positions are known. A proposal the
text does not allow (a statement sharing its line with another, an indented block on one line)
is dropped, and the finding is reported without a fix: no fix is better than a wrong one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

import libcst as cst

from torchlint.findings import FixSafety

# New code: text, or a node of the file standing for its own text, or a sequence of both
# (``(receiver, " = ", call)``). A node is copied from the file as written, never re-rendered:
# libcst would lose the indentation of its continuation lines outside its block.
Code = Union[str, cst.CSTNode, Sequence[Union[str, cst.CSTNode]]]


@dataclass(frozen=True)
class Replace:
    """The node's text becomes ``code``."""

    node: cst.CSTNode
    code: Code


@dataclass(frozen=True)
class InsertBefore:
    """A new statement line, indented as ``statement``, just above it."""

    statement: cst.CSTNode
    code: Code


@dataclass(frozen=True)
class InsertAfter:
    """A new statement line, indented as ``statement``, just below its last line."""

    statement: cst.CSTNode
    code: Code


@dataclass(frozen=True)
class Move:
    """The line(s) of ``statement``, comment included, taken out and put just above ``before``."""

    statement: cst.CSTNode
    before: cst.CSTNode


NodeEdit = Union[Replace, InsertBefore, InsertAfter, Move]


@dataclass(frozen=True)
class ProposedFix:
    title: str
    safety: FixSafety
    edits: tuple[NodeEdit, ...]

    def nodes(self) -> list[cst.CSTNode]:
        """The nodes whose positions the edits need."""
        found: list[cst.CSTNode] = []
        for edit in self.edits:
            if isinstance(edit, Replace):
                found.append(edit.node)
            elif isinstance(edit, (InsertBefore, InsertAfter)):
                found.append(edit.statement)
            else:
                found.extend((edit.statement, edit.before))
            found.extend(piece for piece in pieces(getattr(edit, "code", "")) if isinstance(piece, cst.CSTNode))
        return found


def pieces(code: Code) -> list[Union[str, cst.CSTNode]]:
    return [code] if isinstance(code, (str, cst.CSTNode)) else list(code)


def append_argument(call: cst.Call, argument: str) -> list[NodeEdit]:
    """Edits that add ``argument`` (``"dim=-1"``) after a call's last argument, leaving the
    others' text as it is."""
    if not call.args:
        return [Replace(call, (call.func, f"({argument})"))]
    last = call.args[-1]
    if last.star == "**":
        return []  # a keyword argument may not follow ``**kwargs`` in every Python we lint
    return [Replace(last.value, (last.value, f", {argument}"))]


def first_statement(owner: cst.CSTNode) -> Optional[cst.CSTNode]:
    """The first statement of a function's, loop's or ``with``'s indented body, after a
    docstring; None for a body written on the header's line (``for x in y: f(x)``)."""
    body = getattr(owner, "body", None)
    if not isinstance(body, cst.IndentedBlock) or not body.body:
        return None
    statements: Sequence[cst.BaseStatement] = body.body
    if isinstance(owner, (cst.FunctionDef, cst.ClassDef)) and _is_docstring(statements[0]) and len(statements) > 1:
        return statements[1]
    return statements[0] if not _is_docstring(statements[0]) or not isinstance(owner, (cst.FunctionDef, cst.ClassDef)) else None


def _is_docstring(statement: cst.CSTNode) -> bool:
    return (
        isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Expr) and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )
