"""The finding, then the source line it is on with carets under the reported range, as ruff
prints by default; the fix's title follows when the finding has one."""

from __future__ import annotations

from functools import lru_cache
from typing import Optional, Sequence

from torchlint.findings import Finding
from torchlint.notebook import code_cell_sources, is_notebook_path
from torchlint.source import LINE_BREAK, decode



def render(findings: Sequence[Finding]) -> str:
    blocks = []
    for finding in findings:
        block = [f"{finding.path}:{finding.position()}: {finding.code} {finding.message}"]
        source = _line(finding.path, finding.cell, finding.line)
        if source is not None:
            number = str(finding.line)
            gutter = " " * len(number)
            start = finding.column - 1
            end = finding.end_column - 1 if finding.end_line == finding.line else len(source)
            carets = "^" * max(1, min(end, len(source)) - start)
            block += [f"{gutter} |", f"{number} | {source}", f"{gutter} | {' ' * start}{carets} {finding.code}", f"{gutter} |"]
            if finding.fix is not None:
                block.append(f"{gutter} = fix ({finding.fix.safety.value}): {finding.fix.title}")
        blocks.append("\n".join(block) + "\n")
    return "\n".join(blocks)


def _line(path: str, cell: Optional[int], number: int) -> Optional[str]:
    lines = _lines(path, cell)
    return lines[number - 1].expandtabs(1) if lines is not None and 0 < number <= len(lines) else None


@lru_cache(maxsize=64)
def _lines(path: str, cell: Optional[int]) -> Optional[tuple[str, ...]]:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        text = code_cell_sources(data.decode("utf-8-sig")).get(cell, "") if is_notebook_path(path) else decode(data)
    except (OSError, ValueError, SyntaxError, LookupError):
        return None  # the file is gone or unreadable: the finding alone
    return tuple(LINE_BREAK.split(text))
