"""torchlint: a static linter for the silent mistakes of PyTorch training code.

The public API: ``lint_source`` and ``lint_paths`` run the linter; ``Finding`` is what they
return; ``Rule`` is the base class of every rule. They are imported when first used, so that
``torchlint --version`` and the flake8 plugin's loading do not pay for libcst.
"""

from torchlint.findings import Edit, Finding, Fix, FixSafety

__version__ = "0.1.0"
__all__ = ["lint_source", "lint_paths", "LintResult", "Finding", "Edit", "Fix", "FixSafety", "Rule", "__version__"]

_LAZY = {"lint_source": "torchlint.engine", "lint_paths": "torchlint.run", "LintResult": "torchlint.run", "Rule": "torchlint.rule"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'torchlint' has no attribute {name!r}")
