"""The base class every rule derives from.

A rule is one class in its own module under ``torchlint/rules/``. It declares ``CODE``, ``NAME``
and ``MESSAGE`` and implements ``visit_<LibCSTNodeType>(self, node)`` methods. The engine walks
each file once, collects the nodes every selected rule asked for, builds the file's facts, and
then calls the rules' visit methods with the facts complete, so a rule can ask about code that
comes later in the file (a ``forward`` defined after its use, say).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Callable, ClassVar, Mapping, Optional, Sequence

import libcst as cst

from torchlint.edits import NodeEdit, ProposedFix
from torchlint.findings import FixSafety

if TYPE_CHECKING:
    from torchlint.analysis import FileFacts

Observation = Mapping[str, object]
# A runtime claim compares what the bad and the good fixture programs observed and returns
# one (description, holds) pair per check; see torchlint/verifier.
RuntimeClaim = Callable[[Observation, Observation], Sequence[tuple[str, bool]]]


class Rule:
    CODE: ClassVar[str]
    NAME: ClassVar[str]
    MESSAGE: ClassVar[str]
    # Off-by-default rules (the TL9xx hygiene group) must be selected explicitly.
    DEFAULT_ENABLED: ClassVar[bool] = True
    # The rule cannot fire on a file whose lower-cased text contains none of these words, so the
    # engine may skip parsing such a file when no selected rule could fire on it. They must be
    # necessary conditions, also when facts come from other files (a helper imported from
    # elsewhere may switch modes, but the loop TL402 reports is in this file).
    TRIGGER_WORDS: ClassVar[tuple[str, ...]] = ()
    # A file that is not PyTorch code (it imports MXNet or TensorFlow and not torch, or shows no
    # sign of torch at all) gets no PyTorch rule: ``net(X)`` there is not a torch model.
    PYTORCH_ONLY: ClassVar[bool] = True

    # A rule with a fix names it (``FIX_TITLE``, an imperative phrase) and says whether it keeps
    # behaviour except for the bug (SAFE, applied by --fix) or may change more (UNSAFE, applied
    # only with --unsafe-fixes). A report may pass another safety for one finding.
    FIX_TITLE: ClassVar[Optional[str]] = None
    FIX_SAFETY: ClassVar[FixSafety] = FixSafety.SAFE

    def __init__(self, facts: "FileFacts", report: Callable[[str, str, cst.CSTNode, str, Optional[ProposedFix]], None]):
        self.facts = facts
        self._report = report

    def report(self, node: cst.CSTNode, message: Optional[str] = None, *, fix: Sequence[NodeEdit] = (),
               fix_safety: Optional[FixSafety] = None) -> None:
        proposed = None
        if fix:
            title = self.FIX_TITLE or f"Fix {self.CODE}"
            proposed = ProposedFix(title, fix_safety or self.FIX_SAFETY, tuple(fix))
        self._report(self.CODE, self.NAME, node, message or self.MESSAGE, proposed)

    @classmethod
    def runtime_claim(cls, bad: Observation, good: Observation) -> Sequence[tuple[str, bool]]:
        """The rule's runtime evidence, checked by ``torchlint verify`` on its fixtures."""
        raise NotImplementedError(f"{cls.CODE} declares no runtime claim")

    @classmethod
    def module_name(cls) -> str:
        """``softmax_into_cross_entropy``: the rule's module, and its folder under ``fixtures/``."""
        return cls.__module__.rsplit(".", 1)[-1]

    @classmethod
    def documentation(cls) -> str:
        """The rule module's docstring: its full documentation, in Markdown."""
        return (sys.modules[cls.__module__].__doc__ or "").strip()

    @classmethod
    def summary(cls) -> str:
        """The documentation's first line, shown by ``torchlint rules``."""
        doc = cls.documentation()
        return doc.splitlines()[0] if doc else ""
