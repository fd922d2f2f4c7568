"""SARIF 2.1.0, the format code-scanning services read (GitHub's upload-sarif among them).

One run, whose ``tool.driver.rules`` describes every rule (and the engine's own codes), each with
its documentation as ``help``, its page as ``helpUri`` and GitHub code scanning's ``tags`` and
``precision``; one result per finding, pointing into ``rules`` by ``ruleIndex``.

Paths are URIs relative to ``%SRCROOT%``, the repository holding the working directory (the
nearest folder above it with a ``.git``, else the working directory itself), so a run from a
subfolder names files as a run from the root does; ``originalUriBaseIds`` says where that is.
Each result has a ``partialFingerprints`` entry made of its code, its file and the text of its
line rather than the line's number, so an alert stays the same alert when lines above it move.
Paths that could not be read are ``invocations[0].toolExecutionNotifications``.

A finding in a notebook points at the line of the ``.ipynb`` file that holds the reported source
line; its cell, line and column are in the message and in the result's ``properties``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence
from urllib.parse import quote

from torchlint import __version__, registry
from torchlint.findings import Finding
from torchlint.reporters import fingerprints, relative_to_root, source_root

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/torchlint/"
FINGERPRINT = "torchlint/v1"


def render(findings: Sequence[Finding], errors: Sequence[str] = ()) -> str:
    """``errors`` are the run's error and warning lines (``error: PATH: why``)."""
    rules = rule_descriptors()
    index = {rule["id"]: position for position, rule in enumerate(rules)}
    results = [_result(finding, index) for finding in findings]
    for result, fingerprint in zip(results, fingerprints(findings)):
        result["partialFingerprints"] = {FINGERPRINT: fingerprint}
    root = source_root()
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
                "invocations": [_invocation(errors)],
                "originalUriBaseIds": {"%SRCROOT%": {"uri": Path(root).as_uri().rstrip("/") + "/"}},
                # libcst counts columns in code points, not in SARIF's default UTF-16 code units.
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def rule_descriptors() -> list[dict]:
    descriptors = []
    for code, (name, description) in sorted(registry.ENGINE_CODES.items()):
        descriptors.append({
            "id": code,
            "name": name,
            "shortDescription": {"text": description},
            "fullDescription": {"text": description},
            "helpUri": registry.rule_url(code),
            "defaultConfiguration": {"level": registry.severity(code)},
            "properties": {"tags": ["torchlint-engine"], "precision": "very-high", "problem.severity": registry.severity(code)},
        })
    for rule in registry.all_rules():
        documentation = rule.documentation()
        info = registry.info(rule.CODE)
        descriptors.append({
            "id": rule.CODE,
            "name": rule.NAME,
            "shortDescription": {"text": rule.summary()},
            "fullDescription": {"text": _what_it_does(documentation) or rule.summary()},
            "help": {"text": documentation, "markdown": documentation},
            "helpUri": registry.rule_url(rule.CODE),
            "defaultConfiguration": {"level": registry.severity(rule.CODE), "enabled": rule.DEFAULT_ENABLED},
            "properties": {"tags": list(info.tags), "precision": info.precision, "problem.severity": registry.severity(rule.CODE)},
        })
    return descriptors


def _invocation(errors: Sequence[str]) -> dict:
    """Whether the run could look at everything it was given; each path it could not read is a
    notification (a finding's TL001 is a result; these are the paths that are not even files)."""
    notifications = []
    for line in errors:
        kind, _, text = line.partition(": ")
        notifications.append({"level": "warning" if kind == "warning" else "error", "message": {"text": text or line}})
    invocation: dict = {"executionSuccessful": not any(item["level"] == "error" for item in notifications)}
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    return invocation


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
        "level": registry.severity(finding.code),
        "message": {"text": message},
        "locations": [{"physicalLocation": {"artifactLocation": _artifact(finding.path), "region": region}}],
    })
    if finding.fix is not None and finding.cell is None:
        # a notebook's edits are in cell coordinates, which no region of the raw JSON can express
        result["fixes"] = [{
            "description": {"text": f"{finding.fix.title} ({finding.fix.safety.value} fix)"},
            "artifactChanges": [{
                "artifactLocation": _artifact(finding.path),
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


def _artifact(path: str) -> dict:
    # the file name's own bytes, percent-encoded: a name that is not UTF-8 stays exact and printable
    relative = relative_to_root(path)
    if relative is not None:
        return {"uri": quote(os.fsencode(relative)), "uriBaseId": "%SRCROOT%"}
    posix = Path(os.path.abspath(path)).as_posix()
    if len(posix) > 1 and posix[1] == ":":  # C:/... on Windows
        return {"uri": "file:///" + quote(os.fsencode(posix), safe="/:")}
    return {"uri": "file://" + quote(os.fsencode(posix))}


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
