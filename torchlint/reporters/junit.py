"""JUnit XML, which CI systems show as test results: one test suite per file, one failing test
case per finding."""

from __future__ import annotations

from itertools import groupby
from typing import Sequence
from xml.etree import ElementTree

from torchlint.findings import Finding


def render(findings: Sequence[Finding]) -> str:
    root = ElementTree.Element("testsuites", name="torchlint", tests=str(len(findings)), failures=str(len(findings)))
    for path, group in groupby(findings, key=lambda finding: finding.path):
        group = list(group)
        suite = ElementTree.SubElement(root, "testsuite", name=path, tests=str(len(group)), failures=str(len(group)))
        for finding in group:
            case = ElementTree.SubElement(suite, "testcase", name=f"{finding.code} {finding.name} at {finding.position()}", classname=path)
            failure = ElementTree.SubElement(case, "failure", message=finding.message, type=finding.code)
            failure.text = f"{path}:{finding.position()}: {finding.code} {finding.message}"
    return ElementTree.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
