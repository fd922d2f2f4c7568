"""The values that flow out of the engine: findings and their fixes. Data only, no logic."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Optional


class FixSafety(Enum):
    SAFE = "safe"  # behaviour is kept; applied by --fix
    UNSAFE = "unsafe"  # behaviour may change; applied only when asked for explicitly


@dataclass(frozen=True)
class Fix:
    title: str
    safety: FixSafety
    start_offset: int
    end_offset: int
    replacement: str


@dataclass(frozen=True, order=True)
class Finding:
    """One reported problem. Lines and columns are 1-based, as people and editors count."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    code: str
    name: str
    message: str
    fix: Optional[Fix] = None

    def to_json(self) -> dict:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "code": self.code,
            "name": self.name,
            "message": self.message,
        }
