from __future__ import annotations

from typing import Callable, Optional, Sequence

from torchlint.findings import Finding
from torchlint.reporters import BOLD, CYAN, RED, paint


def render(findings: Sequence[Finding], fixable: Optional[Callable[[Finding], bool]] = None, colour: bool = False) -> str:
    """``path:line:col: CODE message`` (``path:cell N:line:col: ...`` in a notebook), one per
    line, in the order given (sorted by the engine); ``CODE [*]`` when ``fixable`` says --fix
    would repair it, as ruff marks it. ``colour`` adds ruff's terminal colours."""
    def line(finding: Finding) -> str:
        marker = " " + paint("[*]", CYAN, colour=colour) if fixable is not None and fixable(finding) else ""
        where = paint(finding.path, BOLD, colour=colour) + paint(":", CYAN, colour=colour) + finding.position() + paint(":", CYAN, colour=colour)
        return f"{where} {paint(finding.code, BOLD, RED, colour=colour)}{marker} {finding.message}\n"

    return "".join(line(finding) for finding in findings)
