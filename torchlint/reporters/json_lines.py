"""JSON Lines: one finding per line, each the object of the JSON format (for streaming tools)."""

from __future__ import annotations

import json
from typing import Sequence

from torchlint.findings import Finding


def render(findings: Sequence[Finding]) -> str:
    return "".join(json.dumps(finding.to_json()) + "\n" for finding in findings)
