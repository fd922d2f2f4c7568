"""The rule documentation: generated pages are up to date, and their examples are true."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from torchlint import docs, registry
from torchlint.config import Config
from torchlint.engine import lint_source

ROOT = Path(__file__).resolve().parent.parent
RULES = registry.all_rules()


def _page(rule) -> str:
    path = ROOT / docs.DOCS_DIR / f"{rule.NAME}.md"
    assert path.is_file(), f"{path} is missing: run 'python -m torchlint.docs'"
    return path.read_text(encoding="utf-8")


def _snippets(rule, heading: str) -> list[str]:
    section = docs.sections(_page(rule)).get(heading)
    assert section is not None, f"{rule.CODE}'s page has no '## {heading}' section"
    blocks = docs.python_blocks(section)
    assert blocks, f"{rule.CODE}'s '## {heading}' section has no ```python block"
    return blocks


def test_generated_docs_are_up_to_date():
    outdated = [str(path.relative_to(ROOT)) for path, text in docs.expected_files(ROOT).items()
                if not path.is_file() or path.read_text(encoding="utf-8") != text]
    assert not outdated, f"out of date: {outdated}; run 'python -m torchlint.docs'"


def test_check_mode_agrees():
    result = subprocess.run([sys.executable, "-m", "torchlint.docs", "--check"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_check_mode_fails_on_a_stale_page(tmp_path):
    (tmp_path / "README.md").write_text("# project\n")
    assert docs.main(["--root", str(tmp_path)]) == 0
    page = tmp_path / docs.DOCS_DIR / f"{RULES[0].NAME}.md"
    page.write_text(page.read_text() + "hand edit\n")
    (tmp_path / docs.DOCS_DIR / "renamed-rule.md").write_text(docs.GENERATED + "\n")
    assert docs.main(["--root", str(tmp_path), "--check"]) == 1
    assert docs.main(["--root", str(tmp_path)]) == 0
    assert docs.main(["--root", str(tmp_path), "--check"]) == 0
    assert not (tmp_path / docs.DOCS_DIR / "renamed-rule.md").exists()


def test_readme_rule_table_is_the_generated_one():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert docs.README_START in readme and docs.README_END in readme
    start = readme.index(docs.README_START) + len(docs.README_START)
    table = readme[start:readme.index(docs.README_END)]
    assert table.strip() == docs.render_readme_table().strip(), "run 'python -m torchlint.docs'"


def test_index_links_every_rule_page():
    index = (ROOT / docs.DOCS_DIR / "README.md").read_text(encoding="utf-8")
    for rule in RULES:
        assert f"]({rule.NAME}.md)" in index
        assert (ROOT / docs.DOCS_DIR / f"{rule.NAME}.md").is_file()


@pytest.mark.parametrize("rule", RULES, ids=[rule.CODE for rule in RULES])
def test_page_shows_the_rule_and_its_fixtures(rule):
    page = _page(rule)
    assert f"# {rule.NAME} ({rule.CODE})" in page and rule.summary() in page
    for heading in ("What it does", "Why is this bad?", "Example", "Use instead"):
        assert heading in docs.sections(page), f"{rule.CODE}: no '## {heading}'"
    for name in ("bad.py", "good.py"):
        fixture = ROOT / "fixtures" / rule.module_name() / name
        if fixture.is_file():
            assert fixture.read_text(encoding="utf-8").rstrip() in page


@pytest.mark.parametrize("rule", RULES, ids=[rule.CODE for rule in RULES])
def test_example_is_flagged_by_its_rule(rule):
    config = Config(extend_select=(rule.CODE,))
    for snippet in _snippets(rule, "Example"):
        codes = [finding.code for finding in lint_source(snippet, f"{rule.NAME}-example.py", config)]
        assert rule.CODE in codes, f"{rule.CODE}'s Example is not flagged:\n{snippet}"


@pytest.mark.parametrize("rule", RULES, ids=[rule.CODE for rule in RULES])
def test_use_instead_is_not_flagged(rule):
    config = Config(extend_select=(rule.CODE,))
    for snippet in _snippets(rule, "Use instead"):
        findings = lint_source(snippet, f"{rule.NAME}-use-instead.py", config)
        assert not findings, f"{rule.CODE}'s 'Use instead' is flagged: {findings}\n{snippet}"


def test_rule_subcommand_prints_the_documentation():
    rule = registry.rule_by_code_or_name("TL201")
    for arguments in (["rule", "TL201"], ["rule", rule.NAME], ["--explain", "TL201"], ["rule", "tl201"]):
        result = subprocess.run([sys.executable, "-m", "torchlint", *arguments], capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"{rule.CODE} {rule.NAME}\n")
        assert rule.documentation() in result.stdout


def test_unknown_rule_is_a_usage_error():
    for arguments in (["rule", "TL999"], ["--explain", "no-such-rule"]):
        result = subprocess.run([sys.executable, "-m", "torchlint", *arguments], capture_output=True, text=True, timeout=600)
        assert result.returncode == 2
        assert "unknown rule" in result.stderr and "Traceback" not in result.stderr
