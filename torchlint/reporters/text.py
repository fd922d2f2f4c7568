from __future__ import annotations

from typing import Callable, Optional, Sequence

from torchlint.findings import Finding


def render(findings: Sequence[Finding], fixable: Optional[Callable[[Finding], bool]] = None) -> str:
    """``path:line:col: CODE message`` (``path:cell N:line:col: ...`` in a notebook), one per
    line, in the order given (sorted by the engine); ``CODE [*]`` when ``fixable`` says --fix
    would repair it, as ruff marks it."""
    def marker(finding: Finding) -> str:
        return " [*]" if fixable is not None and fixable(finding) else ""

    return "".join(f"{f.path}:{f.position()}: {f.code}{marker(f)} {f.message}\n" for f in findings)
