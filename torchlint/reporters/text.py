from __future__ import annotations

from typing import Sequence

from torchlint.findings import Finding


def render(findings: Sequence[Finding]) -> str:
    """``path:line:col: CODE message``, one per line, in the order given (sorted by the engine)."""
    return "".join(f"{f.path}:{f.line}:{f.column}: {f.code} {f.message}\n" for f in findings)
