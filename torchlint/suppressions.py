"""Inline suppressions, read exactly as flake8 reads them so the CLI and the plugin agree.

``# noqa`` on the reported line silences every finding there; ``# noqa: TL301,TL2`` silences
the listed codes and any code they prefix (flake8's own behaviour).
"""

from __future__ import annotations

import io
import re
import tokenize
from typing import Callable

# flake8.defaults.NOQA_INLINE_REGEXP
NOQA_INLINE = re.compile(r"# noqa(?::[\s]?(?P<codes>([A-Z]+[0-9]+(?:[,\s]+)?)+))?", re.IGNORECASE)
_SEPARATOR = re.compile(r"[,\s]+")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def is_suppressed(code: str, line_text: str) -> bool:
    if "#" not in line_text:
        return False
    match = NOQA_INLINE.search(line_text)
    if match is None:
        return False
    codes = match.group("codes")
    if codes is None:
        return True
    listed = tuple(part.strip() for part in _SEPARATOR.split(codes) if part.strip())  # case-sensitive, as flake8
    return code in listed or code.startswith(listed)


def noqa_lines(text: str) -> Callable[[int], str]:
    """For each line number, the text to search for ``# noqa`` in, as flake8 builds it: lines
    joined by one token (a triple-quoted string) or by a backslash continuation count as one,
    so a ``# noqa`` after a multi-line string covers a finding on any of its lines."""
    # Python's own line breaks only: str.splitlines also breaks on form feeds and \u2028,
    # which would shift every later line number
    lines = _LINE.findall(text)
    mapping: dict[int, str] = {}
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
