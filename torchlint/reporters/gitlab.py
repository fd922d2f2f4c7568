"""GitLab Code Quality: a JSON array of issues with a fingerprint that survives line shifts
(the path, the code, the message and the text of the reported line, not its number)."""

from __future__ import annotations

import hashlib
import json
from typing import Sequence

from torchlint.findings import Finding
from torchlint.reporters.full import _line
from torchlint.reporters.sarif import relative_path


def render(findings: Sequence[Finding]) -> str:
    issues, seen = [], {}
    for finding in findings:
        path = relative_path(finding.path)
        text = (_line(finding.path, finding.cell, finding.line) or "").strip()
        key = f"{path}\0{finding.code}\0{finding.message}\0{text}"
        seen[key] = seen.get(key, 0) + 1  # the same line twice in a file gets two fingerprints
        issues.append({
            "description": f"{finding.code} {finding.message}",
            "check_name": finding.code,
            "fingerprint": hashlib.sha256(f"{key}\0{seen[key]}".encode("utf-8", "surrogateescape")).hexdigest(),
            "severity": "major",
            "location": {"path": path, "lines": {"begin": finding.file_line or finding.line, "end": finding.file_line or finding.end_line}},
        })
    return json.dumps(issues, indent=2) + "\n"
