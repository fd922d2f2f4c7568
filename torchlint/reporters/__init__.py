"""Reporters turn findings into text for people or tools: each is a function findings -> str.

Each lives in its own module, imported only when its format is asked for.
"""

from __future__ import annotations

import importlib
from typing import Callable, Sequence

from torchlint.findings import Finding

Reporter = Callable[[Sequence[Finding]], str]
# ruff's names; "concise" is torchlint's one-line text, "text" its older name
FORMATS = ("concise", "full", "json", "json-lines", "sarif", "github", "gitlab", "junit", "pylint", "text")
_MODULES = {"concise": "text", "json-lines": "json_lines"}


def reporter(name: str) -> Reporter:
    if name not in FORMATS:
        raise KeyError(name)
    return importlib.import_module(f"torchlint.reporters.{_MODULES.get(name, name)}").render
