"""GitHub Actions workflow commands: each finding becomes an annotation on the pull request.

``::error file=PATH,line=L,col=C,endLine=L2,endColumn=C2,title=TL201 softmax-into-cross-entropy::message``

Escaping follows the Actions toolkit (``@actions/core`` ``command.ts``): in the message ``%``,
``\\r`` and ``\\n`` are percent-encoded; in property values ``:`` and ``,`` are as well, since
they separate the properties.
"""

from __future__ import annotations

from typing import Sequence

from torchlint.findings import Finding
from torchlint import registry
from torchlint.reporters import repository_path


def render(findings: Sequence[Finding]) -> str:
    return "".join(_annotation(finding) + "\n" for finding in findings)


def escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def _annotation(finding: Finding) -> str:
    if finding.cell is not None:
        # GitHub shows a notebook's raw JSON: annotate the line that holds the source line
        properties = [("file", repository_path(finding.path)), ("line", finding.file_line or 1)]
        properties.append(("title", f"{finding.code} {finding.name}"))
        message = f"cell {finding.cell}:{finding.line}:{finding.column}: {finding.message}"
        joined = ",".join(f"{key}={escape_property(str(value))}" for key, value in properties)
        return f"::{registry.severity(finding.code)} {joined}::{escape_data(message)}"
    properties = [("file", repository_path(finding.path)), ("line", finding.line)]
    # GitHub accepts columns only for an annotation that starts and ends on the same line.
    if finding.end_line == finding.line:
        properties += [("col", finding.column), ("endLine", finding.end_line), ("endColumn", finding.end_column)]
    else:
        properties += [("endLine", finding.end_line)]
    properties.append(("title", f"{finding.code} {finding.name}"))
    joined = ",".join(f"{key}={escape_property(str(value))}" for key, value in properties)
    return f"::{registry.severity(finding.code)} {joined}::{escape_data(finding.message)}"
