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


def notebook(*cells, language: str = "python", **metadata) -> dict:
    """A notebook as Jupyter writes it, validated by nbformat against the official schema:
    strings become code cells, ("md", text) markdown cells, (source, outputs) code cells with
    outputs."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    built = []
    for count, cell in enumerate(cells, start=1):
        if isinstance(cell, tuple) and cell[0] == "md":
            built.append(new_markdown_cell(cell[1]))
        elif isinstance(cell, tuple):
            built.append(new_code_cell(cell[0], outputs=cell[1], execution_count=count))
        else:
            built.append(new_code_cell(cell, execution_count=count))
    document = new_notebook(cells=built)
    document.metadata.update(
        kernelspec={"name": "python3" if language == "python" else language, "display_name": language, "language": language},
        language_info={"name": language},
        **metadata,
    )
    nbformat.validate(document)
    return document


def save(root: Path, relative: str, document) -> Path:
    import nbformat

    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(document, str(path))  # Jupyter's own layout: one JSON string per source line
    return path


@pytest.fixture
def run_torchlint(tmp_path):
    """``run_torchlint(*args, cwd=tmp_path, timeout=600)``: ``python -m torchlint ARGS`` in a subprocess."""

    def run(*args: str, cwd: Path | None = None, timeout: float = 600, program: list[str] | None = None):
        command = (program or [sys.executable, "-m", "torchlint"]) + list(args)
        return subprocess.run(command, cwd=cwd or tmp_path, capture_output=True, text=True, timeout=timeout)

    return run
