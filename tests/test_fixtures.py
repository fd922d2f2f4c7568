"""Every fixture's findings equal its ``# expect: CODE`` annotations, both ways, for every rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from torchlint import lint_source, registry
from torchlint.config import Config
from torchlint.expectations import expected_findings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FIXTURE_FILES = sorted(FIXTURES.glob("*/*.py"))
ALL_RULES = Config(select=("TL",))


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_findings_equal_expect_annotations(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    found = {(finding.line, finding.code) for finding in lint_source(source, str(path), ALL_RULES)}
    expected = expected_findings(source)
    assert found - expected == set(), "findings without an # expect: annotation"
    assert expected - found == set(), "# expect: annotations without a finding"


@pytest.mark.parametrize("rule", registry.all_rules(), ids=lambda rule: rule.CODE)
def test_every_rule_has_its_fixture_folder(rule) -> None:
    folder = FIXTURES / rule.module_name()
    for name in ("bad.py", "good.py", "edge_cases.py"):
        assert (folder / name).is_file(), f"{rule.CODE} lacks fixtures/{rule.module_name()}/{name}"
    bad = expected_findings((folder / "bad.py").read_text(encoding="utf-8"))
    assert any(code == rule.CODE for _, code in bad), f"bad.py must expect at least one {rule.CODE}"
    assert expected_findings((folder / "good.py").read_text(encoding="utf-8")) == set(), "good.py must be clean"
    edge = expected_findings((folder / "edge_cases.py").read_text(encoding="utf-8"))
    assert edge, "edge_cases.py should hold at least one tricky true positive as well as its exemptions"


def test_expect_parser_reads_several_codes() -> None:
    assert expected_findings("x = 1\ny = 2  # expect: TL201, TL301\n") == {(2, "TL201"), (2, "TL301")}
