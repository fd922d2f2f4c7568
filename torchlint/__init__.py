"""torchlint: a static linter for the silent mistakes of PyTorch training code.

The public API: ``lint_source`` and ``lint_paths`` run the linter; ``Finding`` is what they
return; ``Rule`` is the base class of every rule.
"""

from torchlint.engine import LintResult, lint_paths, lint_source
from torchlint.findings import Finding, Fix, FixSafety
from torchlint.rule import Rule

__version__ = "0.1.0"
__all__ = ["lint_source", "lint_paths", "LintResult", "Finding", "Fix", "FixSafety", "Rule", "__version__"]
