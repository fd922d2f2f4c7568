"""No rule ships without executed evidence: every rule has runnable fixtures and a runtime claim.

These checks read the fixtures' source (they do not run them; tests/test_verify.py does).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from torchlint import registry
from torchlint.rule import Rule
from torchlint.verifier.runner import default_fixtures_dir, no_runtime_symptom, overrides_runtime_claim

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

# Rules that declare ``NO_RUNTIME_SYMPTOM = "reason"`` instead of a runtime claim. Adding one to
# this set is a deliberate decision, reviewed like any other: none of the current rules qualify.
RULES_WITHOUT_RUNTIME_SYMPTOM: set[str] = set()

ALL_RULES = registry.all_rules()


def _module(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def test_the_verifier_finds_the_shipped_fixtures() -> None:
    assert default_fixtures_dir() == FIXTURES


def test_rules_without_runtime_symptom_are_listed() -> None:
    declared = {rule.CODE for rule in ALL_RULES if no_runtime_symptom(rule)}
    assert declared == RULES_WITHOUT_RUNTIME_SYMPTOM


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda rule: rule.CODE)
def test_rule_declares_a_runtime_claim(rule: type[Rule]) -> None:
    if rule.CODE in RULES_WITHOUT_RUNTIME_SYMPTOM:
        pytest.skip(f"{rule.CODE} declares no runtime symptom: {no_runtime_symptom(rule)}")
    assert overrides_runtime_claim(rule), f"{rule.CODE} does not override Rule.runtime_claim"
    assert "## Runtime evidence" in rule.documentation(), f"{rule.CODE}'s docstring lacks its 'Runtime evidence' section"


@pytest.mark.parametrize("variant", ["bad", "good"])
@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda rule: rule.CODE)
def test_fixture_defines_observe_and_has_no_side_effects(rule: type[Rule], variant: str) -> None:
    if rule.CODE in RULES_WITHOUT_RUNTIME_SYMPTOM:
        pytest.skip(f"{rule.CODE} declares no runtime symptom")
    path = FIXTURES / rule.module_name() / f"{variant}.py"
    assert path.is_file(), f"{rule.CODE} lacks fixtures/{rule.module_name()}/{variant}.py"
    module = _module(path)

    observe = [node for node in module.body if isinstance(node, ast.FunctionDef) and node.name == "observe"]
    assert observe, f"{path.name} defines no top-level observe(device)"
    arguments = observe[-1].args
    assert [arg.arg for arg in arguments.posonlyargs + arguments.args] == ["device"], "observe takes one argument, device"

    # importable without side effects: only imports, definitions, constants and a docstring
    for index, node in enumerate(module.body):
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)):
            continue
        if index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("__name__ == '__main__'", '__name__ == "__main__"'):
            continue  # a script's entry point does not run on import (TL901's fixtures need one)
        raise AssertionError(f"{path.name}:{node.lineno}: module-level code runs on import ({type(node).__name__})")


def test_fixtures_are_torch_only_and_seeded() -> None:
    allowed = {"torch", "numpy", "math", "copy", "random", "typing", "__future__", "collections", "dataclasses", "functools", "itertools", "warnings", "weakref",
               "os", "tempfile"}  # os and tempfile only inside observe()'s own temporary directory (TL601, TL602)
    for rule in ALL_RULES:
        for variant in ("bad", "good"):
            path = FIXTURES / rule.module_name() / f"{variant}.py"
            module = _module(path)
            imported = set()
            for node in ast.walk(module):
                if isinstance(node, ast.Import):
                    imported |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module:
                    imported.add(node.module.split(".")[0])
            assert imported <= allowed, f"{path}: imports {sorted(imported - allowed)}"
            assert "manual_seed" in path.read_text(encoding="utf-8"), f"{path}: observe() must seed torch"
