"""SARIF 2.1.0, the format code-scanning services read (GitHub's upload-sarif among them).

One run, whose ``tool.driver.rules`` describes every rule (and the engine's own codes), each with
its documentation as ``help``; one result per finding, pointing into ``rules`` by ``ruleIndex``.
Paths are relative POSIX URIs when the file lies under the working directory, which is what
GitHub expects when torchlint runs from the repository root. A finding in a notebook points at
the line of the ``.ipynb`` file that holds the reported source line; its cell, line and column
are in the message and in the result's ``properties``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePath
from typing import Sequence
from urllib.parse import quote

from torchlint import __version__, registry
from torchlint.findings import Finding

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/torchlint/"


def render(findings: Sequence[Finding]) -> str:
    rules = rule_descriptors()
    index = {rule["id"]: position for position, rule in enumerate(rules)}
    results = [_result(finding, index) for finding in findings]
    log = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "torchlint",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": rules,
                    }
                },
                # libcst counts columns in code points, not in SARIF's default UTF-16 code units.
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def level(code: str) -> str:
    """``error`` for what the linter reports by default, ``warning`` for the opt-in hygiene rules."""
    rule = registry.rule_by_code_or_name(code)
    return "warning" if rule is not None and not rule.DEFAULT_ENABLED else "error"


def relative_path(path: str) -> str:
    """The path as a POSIX path relative to the working directory, or absolute when outside it."""
    absolute = os.path.abspath(path)
    try:
        relative = os.path.relpath(absolute)
    except ValueError:  # another drive on Windows
        return Path(absolute).as_posix()
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return Path(absolute).as_posix()
    return PurePath(relative).as_posix()


def rule_descriptors() -> list[dict]:
    descriptors = []
    for code, (name, description) in sorted(registry.ENGINE_CODES.items()):
        descriptors.append({
            "id": code,
            "name": name,
            "shortDescription": {"text": description},
            "fullDescription": {"text": description},
            "defaultConfiguration": {"level": "error"},
        })
    for rule in registry.all_rules():
        documentation = rule.documentation()
        descriptors.append({
            "id": rule.CODE,
            "name": rule.NAME,
            "shortDescription": {"text": rule.summary()},
            "fullDescription": {"text": _what_it_does(documentation) or rule.summary()},
            "help": {"text": documentation, "markdown": documentation},
            "defaultConfiguration": {"level": level(rule.CODE), "enabled": rule.DEFAULT_ENABLED},
        })
    return descriptors


def _result(finding: Finding, index: dict[str, int]) -> dict:
    result: dict = {"ruleId": finding.code}
    if finding.code in index:
        result["ruleIndex"] = index[finding.code]
    if finding.cell is None:
        region = {"startLine": finding.line, "startColumn": finding.column, "endLine": finding.end_line, "endColumn": finding.end_column}
        message = finding.message
    else:
        # A viewer shows the notebook's raw JSON: point at the line that holds the source line,
        # and say where in the cell, in the message and in the property bag.
        region = {"startLine": finding.file_line or 1}
        message = f"cell {finding.cell}, line {finding.line}, column {finding.column}: {finding.message}"
    result.update({
        "level": level(finding.code),
        "message": {"text": message},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(finding.path)}, "region": region}}],
    })
    if finding.fix is not None and finding.cell is None:
        # a notebook's edits are in cell coordinates, which no region of the raw JSON can express
        result["fixes"] = [{
            "description": {"text": f"{finding.fix.title} ({finding.fix.safety.value} fix)"},
            "artifactChanges": [{
                "artifactLocation": {"uri": _uri(finding.path)},
                "replacements": [{
                    "deletedRegion": {"startLine": edit.line, "startColumn": edit.column, "endLine": edit.end_line, "endColumn": edit.end_column},
                    "insertedContent": {"text": edit.content},
                } for edit in finding.fix.edits],
            }],
        }]
    if finding.cell is not None:
        result["properties"] = {
            "cell": finding.cell, "cellLine": finding.line, "cellColumn": finding.column,
            "cellEndLine": finding.end_line, "cellEndColumn": finding.end_column,
        }
    return result


def _uri(path: str) -> str:
    # the file name's own bytes, percent-encoded: a name that is not UTF-8 stays exact and printable
    posix = relative_path(path)
    if posix.startswith("/"):
        return "file://" + quote(os.fsencode(posix))
    if len(posix) > 1 and posix[1] == ":":  # C:/... on Windows
        return "file:///" + quote(os.fsencode(posix), safe="/:")
    return quote(os.fsencode(posix))


def _what_it_does(documentation: str) -> str:
    """The text of the ``## What it does`` section, on one line."""
    lines = documentation.splitlines()
    try:
        start = lines.index("## What it does") + 1
    except ValueError:
        return ""
    body = []
    for line in lines[start:]:
        if line.startswith("## "):
            break
        body.append(line.strip())
    return " ".join(part for part in body if part)
