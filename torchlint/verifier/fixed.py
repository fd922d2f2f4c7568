"""``bad.fixed.py``: what ``torchlint --fix`` makes of a fixable rule's ``bad.py``.

It is produced with that rule alone selected and its unsafe fixes allowed, so that the verifier
can run it as a third program and show it behaving like ``good.py``. Regenerate it after changing
a rule's fix or its ``bad.py`` with ``torchlint verify --write-fixed`` (``--select`` narrows it);
the verifier and the tests fail while it is stale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from torchlint.config import Config
from torchlint.rule import Rule

FIXED_NAME = "bad.fixed.py"


def is_fixable(rule: type[Rule]) -> bool:
    return rule.FIX_TITLE is not None


def fixed_bad(rule: type[Rule], fixtures: Path) -> Optional[bytes]:
    """``bad.py`` after ``--fix --unsafe-fixes --select <rule>``, or None without a bad.py."""
    bad = fixtures / rule.module_name() / "bad.py"
    if not bad.is_file():
        return None
    from torchlint.engine import fix_contents  # the engine imports libcst; verify's parser need not

    config = Config(select=(rule.CODE,), unsafe_fixes=True)
    new, _, _ = fix_contents(bad.read_bytes(), str(bad), config)
    return new
