"""JSON Lines: one finding per line, each the object of the JSON format (for streaming tools)."""

from __future__ import annotations

import json
from typing import Sequence

from torchlint.findings import Finding
from torchlint.reporters import as_json


def render(findings: Sequence[Finding]) -> str:
    return "".join(json.dumps(as_json(finding)) + "\n" for finding in findings)
