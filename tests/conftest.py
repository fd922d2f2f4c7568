"""Shared helpers for the tests: run torchlint as a real subprocess, write small source files."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def write(root: Path, relative: str, text: str | bytes) -> Path:
    """Write ``text`` (dedented, when it is a str) to ``root/relative``, creating folders."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture
def run_torchlint(tmp_path):
    """``run_torchlint(*args, cwd=tmp_path, timeout=60)``: ``python -m torchlint ARGS`` in a subprocess."""

    def run(*args: str, cwd: Path | None = None, timeout: float = 60, program: list[str] | None = None):
        command = (program or [sys.executable, "-m", "torchlint"]) + list(args)
        return subprocess.run(command, cwd=cwd or tmp_path, capture_output=True, text=True, timeout=timeout)

    return run
