"""Every fixture's findings equal its ``# expect: CODE`` annotations, both ways, for every rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from torchlint import lint_source, registry
from torchlint.config import Config
from torchlint.engine import fix_contents
from torchlint.expectations import expected_findings
from torchlint.verifier.fixed import FIXED_NAME, fixed_bad, is_fixable

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
# bad.fixed.py keeps bad.py's annotations (it is what --fix makes of it): tested on its own below
FIXTURE_FILES = sorted(path for path in FIXTURES.glob("*/*.py") if not path.name.endswith(".fixed.py"))
FIXABLE = [rule for rule in registry.all_rules() if is_fixable(rule)]
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


@pytest.mark.parametrize("rule", FIXABLE, ids=lambda rule: rule.CODE)
def test_bad_fixed_is_what_fix_makes_of_bad_and_fixing_again_changes_nothing(rule) -> None:
    folder = FIXTURES / rule.module_name()
    fixed_path = folder / FIXED_NAME
    assert fixed_path.is_file(), f"{rule.CODE} has a fix but no {FIXED_NAME} (torchlint verify --write-fixed)"
    fixed = fixed_path.read_bytes()
    assert fixed == fixed_bad(rule, FIXTURES), f"{FIXED_NAME} is stale (torchlint verify --write-fixed)"
    assert fixed != (folder / "bad.py").read_bytes(), "the fix must repair something in bad.py"
    again, _, applied = fix_contents(fixed, str(fixed_path), Config(select=(rule.CODE,), unsafe_fixes=True))
    assert again == fixed and applied == []


@pytest.mark.parametrize("rule", FIXABLE, ids=lambda rule: rule.CODE)
def test_bad_fixed_is_clean_for_its_rule_and_adds_no_other_finding(rule) -> None:
    folder = FIXTURES / rule.module_name()
    fixed = (folder / FIXED_NAME).read_text(encoding="utf-8")
    found = {(finding.line, finding.code) for finding in lint_source(fixed, str(folder / FIXED_NAME), ALL_RULES)}
    assert not [code for _, code in found if code == rule.CODE]
    # other rules' findings may go (a model switched to eval also ends TL401) but none may appear
    assert {code for _, code in found} <= {code for _, code in expected_findings((folder / "bad.py").read_text(encoding="utf-8"))}


@pytest.mark.parametrize("rule", [rule for rule in registry.all_rules() if not is_fixable(rule)], ids=lambda rule: rule.CODE)
def test_rules_without_a_fix_ship_no_fixed_fixture(rule) -> None:
    assert not (FIXTURES / rule.module_name() / FIXED_NAME).exists()
