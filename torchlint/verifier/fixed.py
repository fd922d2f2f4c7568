"""``bad.fixed.py``: what ``torchlint --fix`` makes of a fixable rule's ``bad.py``.

It is produced with that rule alone selected and its unsafe fixes allowed, so that the verifier
can run it as a third program and show it behaving like ``good.py``. Regenerate after changing
a rule's fix or its ``bad.py``::

    python -m torchlint.verifier.fixed            # write every fixable rule's bad.fixed.py
    python -m torchlint.verifier.fixed --check    # exit 1 when one is missing or stale
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from torchlint import registry
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


def main(argv: list[str]) -> int:
    from torchlint.verifier.runner import default_fixtures_dir

    fixtures = default_fixtures_dir()
    stale = []
    for rule in registry.all_rules():
        if not is_fixable(rule):
            continue
        expected = fixed_bad(rule, fixtures)
        target = fixtures / rule.module_name() / FIXED_NAME
        if expected is None or (target.is_file() and target.read_bytes() == expected):
            continue
        if expected == (fixtures / rule.module_name() / "bad.py").read_bytes():
            print(f"{rule.CODE}: --fix changes nothing in bad.py; its bad.py needs a case the fix repairs")
            stale.append(str(target))
            continue
        stale.append(str(target))
        if "--check" not in argv:
            target.write_bytes(expected)
    for path in stale:
        print(("stale: " if "--check" in argv else "wrote ") + path)
    return 1 if stale and "--check" in argv else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
