"""The finding, then the source line it is on with carets under the reported range, as ruff
prints by default; the fix's title follows when the finding has one."""

from __future__ import annotations

from typing import Optional, Sequence

from torchlint.findings import Finding
from torchlint.reporters import BLUE, BOLD, CYAN, RED, paint, source_line


def render(findings: Sequence[Finding], colour: bool = False) -> str:
    blocks = []
    for finding in findings:
        where = paint(finding.path, BOLD, colour=colour) + paint(":", CYAN, colour=colour) + finding.position() + paint(":", CYAN, colour=colour)
        block = [f"{where} {paint(finding.code, BOLD, RED, colour=colour)} {finding.message}"]
        source = _line(finding.path, finding.cell, finding.line)
        if source is not None:
            number = str(finding.line)
            gutter = " " * len(number)
            start = finding.column - 1
            end = finding.end_column - 1 if finding.end_line == finding.line else len(source)
            carets = "^" * max(1, min(end, len(source)) - start)
            bar = paint("|", BLUE, BOLD, colour=colour)
            block += [f"{gutter} {bar}", f"{paint(number, BLUE, BOLD, colour=colour)} {bar} {source}",
                      f"{gutter} {bar} {' ' * start}{paint(carets + ' ' + finding.code, RED, BOLD, colour=colour)}", f"{gutter} {bar}"]
            if finding.fix is not None:
                block.append(f"{gutter} = fix ({finding.fix.safety.value}): {finding.fix.title}")
        blocks.append("\n".join(block) + "\n")
    return "\n".join(blocks)


def _line(path: str, cell: Optional[int], number: int) -> Optional[str]:
    line = source_line(path, cell, number)
    return line.expandtabs(1) if line is not None else None
