"""The values that flow out of the engine: findings and their fixes. Data only, no logic."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Optional


class FixSafety(Enum):
    SAFE = "safe"  # behaviour is kept; applied by --fix
    UNSAFE = "unsafe"  # behaviour may change; applied only when asked for explicitly


@dataclass(frozen=True)
class Edit:
    """Replace the text from (line, column) up to (end_line, end_column) with ``content``.
    1-based like a finding's position; an insertion has start == end. In a notebook the
    position is within ``cell``, as for a finding."""

    line: int
    column: int
    end_line: int
    end_column: int
    content: str
    cell: Optional[int] = None

    def to_json(self) -> dict:
        located = {"cell": self.cell} if self.cell is not None else {}
        return {**located, "line": self.line, "column": self.column, "end_line": self.end_line,
                "end_column": self.end_column, "content": self.content}


@dataclass(frozen=True)
class Fix:
    title: str
    safety: FixSafety
    edits: tuple[Edit, ...]

    def to_json(self) -> dict:
        return {"title": self.title, "applicability": self.safety.value, "edits": [edit.to_json() for edit in self.edits]}


@dataclass(frozen=True)
class Finding:
    """One reported problem. Lines and columns are 1-based, as people and editors count.

    In a notebook, ``cell`` is the 1-based index of the code cell, lines and columns count
    within that cell, and ``file_line`` is the line of the ``.ipynb`` file that holds the
    reported line (for tools that show the raw file); both are None for a Python file.
    """

    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    code: str
    name: str
    message: str
    fix: Optional[Fix] = None
    cell: Optional[int] = None
    file_line: Optional[int] = None

    def sort_key(self) -> tuple:
        return (self.path, self.cell or 0, self.line, self.column, self.end_line, self.end_column, self.code, self.message)

    def __lt__(self, other: "Finding") -> bool:
        return self.sort_key() < other.sort_key()

    def position(self) -> str:
        """``line:column``, or ``cell N:line:column`` in a notebook (ruff's form)."""
        where = f"{self.line}:{self.column}"
        return f"cell {self.cell}:{where}" if self.cell is not None else where

    def to_json(self) -> dict:
        located = {"cell": self.cell} if self.cell is not None else {}
        return {
            "path": self.path,
            **located,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "code": self.code,
            "name": self.name,
            "message": self.message,
            "fix": self.fix.to_json() if self.fix is not None else None,
        }
