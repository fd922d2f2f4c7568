"""Reading Python source files: the size limit, PEP 263 decoding and Python's own syntax check,
shared by the engine, the notebook reader and the project index, so all read a file the same way."""

from __future__ import annotations

import ast
import io
import os
import re
import tokenize
import warnings
from typing import Optional

# Python's own line breaks: str.splitlines also breaks at a form feed or \u2028, which would
# shift every later line number
LINE_BREAK = re.compile(r"\r\n|\r|\n")

MAX_FILE_BYTES = 5 * 1024 * 1024  # larger files are almost always generated; parsing them would stall a commit hook
# A notebook's JSON is mostly outputs (images, tables); only its code must fit MAX_FILE_BYTES.
MAX_NOTEBOOK_BYTES = 256 * 1024 * 1024


def file_size(path: str) -> int:
    """The size of a file in bytes; 0 when it cannot be read."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def decode(data: bytes) -> str:
    """Decode per PEP 263: a BOM or coding cookie, else UTF-8."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return data.decode(encoding)


def python_syntax_error(text: str, compiled: bool = False) -> Optional[tuple[str, int, int]]:
    """(message, line, column) of the syntax error Python's parser reports, or None. With
    ``compiled``, also the errors only the compiler reports (a bare ``except:`` that is not the
    last handler, ``return`` outside a function); the code is compiled, never run."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Python's SyntaxWarnings about the user's code are not ours to print
            compile(text, "<file>", "exec", flags=0 if compiled else ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as error:
        return f"syntax error: {error.msg}", error.lineno or 1, max(error.offset or 1, 1)
    except (ValueError, RecursionError, MemoryError) as error:  # null bytes, absurd nesting
        return f"syntax error: {str(error).splitlines()[0] if str(error) else type(error).__name__}", 1, 1
    return None


def keep_ends(text: str) -> list[str]:
    """The lines of a text, each with its line break (``LINE_BREAK``'s breaks only)."""
    return [part for part in re.split(r"(?<=\n)|(?<=\r)(?!\n)", text) if part]
