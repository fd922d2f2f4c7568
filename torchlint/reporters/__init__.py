"""Reporters turn findings into text for people or tools: each is a function findings -> str.

Each lives in its own module, imported only when its format is asked for.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from collections import Counter
from functools import lru_cache
from pathlib import Path, PurePath
from typing import Callable, Optional, Sequence

from torchlint import registry
from torchlint.findings import Finding

Reporter = Callable[[Sequence[Finding]], str]
# ruff's names; "concise" is torchlint's one-line text, "text" its older name
FORMATS = ("concise", "full", "json", "json-lines", "sarif", "github", "gitlab", "junit", "pylint", "text")
_MODULES = {"concise": "text", "json-lines": "json_lines"}


def reporter(name: str) -> Reporter:
    if name not in FORMATS:
        raise KeyError(name)
    return importlib.import_module(f"torchlint.reporters.{_MODULES.get(name, name)}").render

# ANSI styles for a terminal, as ruff colours its output
BOLD, RED, CYAN, BLUE = "1", "31", "36", "34"


def paint(text: str, *styles: str, colour: bool = True) -> str:
    return f"\x1b[{';'.join(styles)}m{text}\x1b[0m" if colour and styles else text


def as_json(finding: Finding) -> dict:
    """A finding as the JSON and JSON Lines formats show it: its fields and its rule's page."""
    return {**finding.to_json(), "url": registry.rule_url(finding.code)}


def source_line(path: str, cell: Optional[int], number: int) -> Optional[str]:
    """The text of a finding's line as the file holds it now (within its cell in a notebook), or
    None when the file cannot be read back: a reporter then shows the finding alone."""
    lines = _lines(path, cell)
    return lines[number - 1] if lines is not None and 0 < number <= len(lines) else None


@lru_cache(maxsize=64)
def _lines(path: str, cell: Optional[int]) -> Optional[tuple[str, ...]]:
    from torchlint.notebook import code_cell_sources, is_notebook_path
    from torchlint.source import LINE_BREAK, decode

    try:
        with open(path, "rb") as handle:
            data = handle.read()
        text = code_cell_sources(data.decode("utf-8-sig")).get(cell, "") if is_notebook_path(path) else decode(data)
    except (OSError, ValueError, SyntaxError, LookupError):
        return None
    return tuple(LINE_BREAK.split(text))


@lru_cache(maxsize=1)
def source_root() -> str:
    """The repository holding the working directory (the nearest folder at or above it with a
    ``.git``), or the working directory outside one: what CI services resolve paths against."""
    here = os.path.abspath(os.curdir)
    for folder in (here, *Path(here).parents):
        if os.path.exists(os.path.join(folder, ".git")):
            return str(folder)
    return here


def relative_to_root(path: str) -> Optional[str]:
    """The path as a POSIX path relative to ``source_root()``, or None when it lies outside."""
    absolute = os.path.abspath(path)
    try:
        relative = os.path.relpath(absolute, source_root())
    except ValueError:  # another drive on Windows
        return None
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return None
    return PurePath(relative).as_posix()


def repository_path(path: str) -> str:
    """Relative to the repository when inside it, absolute otherwise; POSIX separators."""
    return relative_to_root(path) or Path(os.path.abspath(path)).as_posix()


def fingerprints(findings: Sequence[Finding]) -> list[str]:
    """One hash per finding of its file, code, message and the text of its line (blanks
    removed), numbered among identical ones: an alert stays the same alert when lines above it
    move, and becomes another when its own line is edited."""
    seen: Counter = Counter()
    digests = []
    for finding in findings:
        line = source_line(finding.path, finding.cell, finding.line)
        key = (repository_path(finding.path), finding.cell, finding.code, finding.message, "".join((line or "").split()))
        seen[key] += 1
        digests.append(hashlib.sha256(repr((*key, seen[key])).encode("utf-8", "surrogateescape")).hexdigest())
    return digests
