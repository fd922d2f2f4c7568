"""Finds the rules: every module in ``torchlint/rules/`` that defines a Rule subclass.

There is no central list; adding a rule means adding its module. ``torchlint/rule_index.py`` is
generated from the rules (``python -m torchlint.docs``) so that listing, selecting and linking
codes (``torchlint rules``, configuration checks, the flake8 plugin's loading) need not import
the rules and libcst; ``python -m torchlint.docs --check`` fails when it is out of date.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache
from typing import TYPE_CHECKING, Iterable, NamedTuple, Optional, Sequence

from torchlint import __version__

if TYPE_CHECKING:  # importing the rules (and libcst) waits until a rule is needed
    from torchlint.rule import Rule

# Codes the engine itself reports; they are not rules but they can be selected and ignored.
SYNTAX_ERROR, UNREADABLE, UNSUPPORTED, INTERNAL_ERROR, UNUSED_NOQA = "TL000", "TL001", "TL002", "TL003", "TL004"
ENGINE_CODES = {
    "TL000": ("syntax-error", "The file could not be parsed as Python."),
    "TL001": ("unreadable-file", "The file could not be read or decoded."),
    "TL002": ("unsupported-syntax", "The file is valid Python that libcst's parser cannot read, so no rule could analyse it."),
    "TL003": ("internal-error", "torchlint itself failed on this file (a bug, to be reported): the findings of the rule named may be missing. Reported where there is no error channel: the public lint_source API, the flake8 plugin."),
    "TL004": ("unused-noqa", "A `# noqa` comment lists a torchlint code that reports nothing on its line (off by default: --extend-select TL004)."),
}


# Where each code's documentation lives: the rule pages of the released version.
REPOSITORY_URL = "https://github.com/torchlint/torchlint"
DOCS_URL = f"{REPOSITORY_URL}/blob/v{__version__}/docs/rules"
ENGINE_CODES_URL = f"{REPOSITORY_URL}/blob/v{__version__}/README.md#what-torchlint-finds"


class UnknownCodeError(ValueError):
    pass


class RuleInfo(NamedTuple):
    """What is known about a rule without importing it (one row of ``rule_index.py``)."""

    code: str
    name: str
    summary: str
    default_enabled: bool
    fix_safety: Optional[str]  # "safe", "unsafe", or None for a rule without a fix
    precision: str  # measured on the real-code corpus, in GitHub code scanning's words
    tags: tuple[str, ...]


@lru_cache(maxsize=None)
def all_rules() -> tuple[type[Rule], ...]:
    import torchlint.rules as package
    from torchlint.rule import Rule

    found = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Rule) and value is not Rule and value.__module__ == module.__name__:
                found.append(value)
    codes = [rule.CODE for rule in found]
    duplicates = {code for code in codes if codes.count(code) > 1}
    if duplicates:
        raise RuntimeError(f"rule codes defined twice: {sorted(duplicates)}")
    return tuple(sorted(found, key=lambda rule: rule.CODE))


@lru_cache(maxsize=None)
def rule_index() -> tuple[RuleInfo, ...]:
    from torchlint.rule_index import RULES

    return tuple(RuleInfo(*row) for row in RULES)


def info(code: str) -> Optional[RuleInfo]:
    for entry in rule_index():
        if entry.code == code:
            return entry
    return None


def rule_url(code: str) -> Optional[str]:
    """The documentation page of a rule or engine code, None for a code that is not ours."""
    entry = info(code)
    if entry is not None:
        return f"{DOCS_URL}/{entry.name}.md"
    return ENGINE_CODES_URL if code in ENGINE_CODES else None


def severity(code: str) -> str:
    """``error`` for the engine's codes (the file was not analysed) and the rules on by default,
    ``warning`` for the opt-in hygiene rules."""
    entry = info(code)
    return "warning" if entry is not None and not entry.default_enabled else "error"


def rule_by_code_or_name(key: str) -> type[Rule] | None:
    for rule in all_rules():
        if key.upper() == rule.CODE or key == rule.NAME:
            return rule
    return None


def all_codes() -> list[str]:
    return sorted([*ENGINE_CODES, *(entry.code for entry in rule_index())])


def check_selectors(selectors: Iterable[str]) -> None:
    """Reject a selector that matches no code: a typo must not silently select nothing."""
    codes = all_codes()
    names = {entry.name for entry in rule_index()} | {name for name, _ in ENGINE_CODES.values()}
    for selector in selectors:
        if selector.upper() == "ALL" or selector in names:
            continue
        if not any(code.startswith(selector.upper()) for code in codes):
            raise UnknownCodeError(f"unknown rule code or prefix: {selector!r}")


def _matches(code: str, name: str, selectors: Sequence[str]) -> int:
    """The length of the longest selector matching this code (0 when none does)."""
    best = 0
    for selector in selectors:
        if selector.upper() == "ALL":
            best = max(best, 1)
        elif selector == name:
            best = max(best, 99)
        elif code.startswith(selector.upper()):
            best = max(best, len(selector))
    return best


def is_selected(rule_code: str, rule_name: str, default_enabled: bool, select: Sequence[str] | None,
                extend_select: Sequence[str], ignore: Sequence[str]) -> bool:
    """ruff's precedence: the more specific of a matching select and ignore wins; ties go to ignore."""
    if select is not None:
        chosen = _matches(rule_code, rule_name, select)
    else:
        chosen = 1 if default_enabled else 0
    chosen = max(chosen, _matches(rule_code, rule_name, extend_select))
    if not chosen:
        return False
    ignored = _matches(rule_code, rule_name, ignore)
    return ignored == 0 or ignored < chosen
