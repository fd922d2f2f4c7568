from __future__ import annotations

import json
from typing import Sequence

from torchlint.findings import Finding
from torchlint.reporters import as_json


def render(findings: Sequence[Finding]) -> str:
    """A JSON array of findings; the shape is documented in the README and is stable."""
    return json.dumps([as_json(finding) for finding in findings], indent=2) + "\n"
