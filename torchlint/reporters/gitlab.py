"""GitLab Code Quality: a JSON array of issues with a fingerprint that survives line shifts
(the path, the code, the message and the text of the reported line, not its number)."""

from __future__ import annotations

import json
from typing import Sequence

from torchlint import registry
from torchlint.findings import Finding
from torchlint.reporters import fingerprints, repository_path


def render(findings: Sequence[Finding]) -> str:
    issues = []
    for finding, fingerprint in zip(findings, fingerprints(findings)):
        issues.append({
            "description": f"{finding.code} {finding.message}",
            "check_name": finding.code,
            "fingerprint": fingerprint,
            "severity": "major" if registry.severity(finding.code) == "error" else "minor",
            "location": {"path": repository_path(finding.path),
                         "lines": {"begin": finding.file_line or finding.line, "end": finding.file_line or finding.end_line}},
        })
    return json.dumps(issues, indent=2) + "\n"
