"""``torchlint verify``: the runtime evidence behind every rule.

For each rule, ``fixtures/<module_name>/bad.py`` and ``good.py`` define ``observe(device) -> dict``,
a small seeded experiment that returns plain numbers. The verifier runs each program in its own
subprocess (:mod:`torchlint.verifier.child`, the only code in torchlint that imports torch), with a
timeout, then checks the rule's ``runtime_claim(bad, good)`` on the two results and confirms that
the static linter flags ``bad.py`` and leaves ``good.py`` clean.

The parent process never imports torch: the linter must stay usable without it.
"""

from torchlint.verifier.runner import ProgramRun, RuleVerdict, StaticCheck, default_fixtures_dir, verify_rules

__all__ = ["ProgramRun", "RuleVerdict", "StaticCheck", "default_fixtures_dir", "verify_rules"]
