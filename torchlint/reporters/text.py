from __future__ import annotations

from typing import Sequence

from torchlint.findings import Finding


def render(findings: Sequence[Finding]) -> str:
    """``path:line:col: CODE message`` (``path:cell N:line:col: ...`` in a notebook), one per
    line, in the order given (sorted by the engine)."""
    return "".join(f"{f.path}:{f.position()}: {f.code} {f.message}\n" for f in findings)
