"""Inline suppressions, read exactly as flake8 reads them so the CLI and the plugin agree.

``# noqa`` on the reported line silences every finding there; ``# noqa: TL301,TL2`` silences
the listed codes and any code they prefix (flake8's own behaviour).
"""

from __future__ import annotations

import re
from typing import Sequence

# flake8.defaults.NOQA_INLINE_REGEXP
NOQA_INLINE = re.compile(r"# noqa(?::[\s]?(?P<codes>([A-Z]+[0-9]+(?:[,\s]+)?)+))?", re.IGNORECASE)
_SEPARATOR = re.compile(r"[,\s]+")


def is_suppressed(code: str, line_text: str) -> bool:
    if "#" not in line_text:
        return False
    match = NOQA_INLINE.search(line_text)
    if match is None:
        return False
    codes = match.group("codes")
    if codes is None:
        return True
    listed = tuple(part.strip().upper() for part in _SEPARATOR.split(codes) if part.strip())
    return code in listed or code.startswith(listed)


def line_at(lines: Sequence[str], line_number: int) -> str:
    return lines[line_number - 1] if 0 < line_number <= len(lines) else ""
