"""pylint's parseable format, which many editors and CI log parsers read: ``path:line: [CODE] message``."""

from __future__ import annotations

from typing import Sequence

from torchlint.findings import Finding


def render(findings: Sequence[Finding]) -> str:
    return "".join(f"{f.path}:{f.position().rsplit(':', 1)[0]}: [{f.code}] {f.message}\n" for f in findings)
