"""Reporters turn findings into text for people or tools: each is a function findings -> str.

Each lives in its own module, imported only when its format is asked for.
"""

from __future__ import annotations

import importlib
from typing import Callable, Sequence

from torchlint.findings import Finding

Reporter = Callable[[Sequence[Finding]], str]
FORMATS = ("github", "json", "sarif", "text")


def reporter(name: str) -> Reporter:
    if name not in FORMATS:
        raise KeyError(name)
    return importlib.import_module(f"torchlint.reporters.{name}").render
