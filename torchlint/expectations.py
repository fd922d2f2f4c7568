"""The ``# expect: TL301`` annotations of fixture files: which line must carry which finding.

Read by the fixture tests and by ``torchlint verify``, so both hold fixtures to the same lines.
"""

from __future__ import annotations

import re

EXPECT = re.compile(r"#\s*expect:\s*(?P<codes>[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*)")


def expected_findings(source: str) -> set[tuple[int, str]]:
    """(line, code) for every code annotated on every line; several codes are comma-separated."""
    expected = set()
    for number, line in enumerate(source.splitlines(), start=1):
        match = EXPECT.search(line)
        if match:
            expected |= {(number, code.strip()) for code in match.group("codes").split(",")}
    return expected
