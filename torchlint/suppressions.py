"""Inline suppressions, read exactly as flake8 reads them so the CLI and the plugin agree.

``# noqa`` on the reported line silences every finding there; ``# noqa: TL301,TL2`` silences
the listed codes and any code they prefix (flake8's own behaviour). ``# noqa: missing-zero-grad``
names a rule by its name (flake8, whose expression reads only codes, takes it as a bare noqa).
A comment line ``# torchlint: noqa`` silences the whole file, ``# torchlint: noqa: TL3`` those
codes in it, as ``# ruff: noqa`` does. ``# flake8: noqa`` does not: on the real-code benchmark
the files that carry it opt out of style checks, and six of its true bugs sat in them.
"""

from __future__ import annotations

import io
import re
import tokenize
from typing import Callable

# flake8.defaults.NOQA_INLINE_REGEXP
NOQA_INLINE = re.compile(r"# noqa(?::[\s]?(?P<codes>([A-Z]+[0-9]+(?:[,\s]+)?)+))?", re.IGNORECASE)
# the same, also taking rule names (``missing-zero-grad``) in the list
_NOQA_WITH_NAMES = re.compile(r"# noqa(?::[\s]?(?P<codes>(?:(?:[A-Z]+[0-9]+|[a-z][a-z0-9]*(?:-[a-z0-9]+)+)(?:[,\s]+)?)+))?", re.IGNORECASE)
_FILE_NOQA = re.compile(r"^[ \t]*#[ \t]*torchlint[ \t]*:[ \t]*noqa(?:[ \t]*:[ \t]*(?P<codes>[A-Za-z0-9, \t-]+?))?[ \t]*$", re.MULTILINE)
_SEPARATOR = re.compile(r"[,\s]+")
_ANY_NOQA = re.compile(r"#\s*noqa", re.IGNORECASE)  # what every noqa pattern above starts with
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def is_suppressed(code: str, line_text: str, name: str = "") -> bool:
    listed = noqa_codes(line_text)
    if listed is None:
        return False
    return not listed or code in listed or code.startswith(listed) or name in listed


def noqa_codes(line_text: str) -> tuple[str, ...] | None:
    """The codes and names a line's ``# noqa`` lists; () for a bare one; None without one."""
    if "#" not in line_text:
        return None
    match = _NOQA_WITH_NAMES.search(line_text)
    if match is None:
        return None
    codes = match.group("codes")
    # case-sensitive, as flake8
    return tuple(part.strip() for part in _SEPARATOR.split(codes) if part.strip()) if codes else ()


def file_noqa(text: str) -> tuple[str, ...] | None:
    """What a file-level comment silences: () for everything, the codes and names listed, or
    None when there is no such comment."""
    if "noqa" not in text:
        return None
    found: list[str] = []
    for match in _FILE_NOQA.finditer(text):
        codes = match.group("codes")
        if not codes:
            return ()
        found.extend(part for part in _SEPARATOR.split(codes.strip()) if part)
    return tuple(found) if found else None


def noqa_lines(text: str) -> Callable[[int], str]:
    """For each line number, the text to search for ``# noqa`` in, as flake8 builds it: lines
    joined by one token (a triple-quoted string) or by a backslash continuation count as one,
    so a ``# noqa`` after a multi-line string covers a finding on any of its lines."""
    # Python's own line breaks only: str.splitlines also breaks on form feeds and \u2028,
    # which would shift every later line number
    lines = _LINE.findall(text)
    mapping: dict[int, str] = {}
    if not _ANY_NOQA.search(text):
        # no line silences anything, so the lines a token joins need not be found
        return lambda number: lines[number - 1] if 0 < number <= len(lines) else ""
    first, last = len(lines) + 2, -1
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type in (tokenize.ENDMARKER, tokenize.DEDENT):
                continue
            first, last = min(first, token.start[0]), max(last, token.end[0])
            if token.type in (tokenize.NL, tokenize.NEWLINE):
                joined = "".join(lines[first - 1:last])
                mapping.update(dict.fromkeys(range(first, last + 1), joined))
                first, last = len(lines) + 2, -1
    except (tokenize.TokenError, SyntaxError):
        pass  # flake8 falls back to the physical line too
    return lambda number: mapping.get(number) or (lines[number - 1] if 0 < number <= len(lines) else "")
