"""The finding, then the source line it is on with carets under the reported range, as ruff
prints by default; the fix's title follows when the finding has one."""

from __future__ import annotations

from typing import Optional, Sequence

from torchlint.findings import Finding
from torchlint.reporters import source_line


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
    line = source_line(path, cell, number)
    return line.expandtabs(1) if line is not None else None
