"""torchlint as a flake8 plugin: a thin adapter over the engine, registered under the code prefix ``TL``.

flake8 owns selection (``--select``, ``--extend-ignore``, ``per-file-ignores``) and ``# noqa``
here, so the engine runs every rule and flake8 filters. The engine reads ``# noqa`` with flake8's
own regular expression, so a comment never means one thing to one of them and another to the
other. (One difference remains: flake8's ``--disable-noqa`` cannot bring back a silenced TL
finding.) Off-by-default rules are added to flake8's default ignore list, the way flake8-bugbear
registers its opinionated B9 checks: ``--extend-select TL9`` turns them on.

flake8 hands the plugin one file at a time; the engine follows that file's imports into its
project (``analysis/project.py``), so a base class, a helper that switches modes or a model
class in another file is seen exactly as ``torchlint .`` sees it.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any, Iterator, Optional, Sequence

from torchlint import __version__, registry
from torchlint.config import Config

# Every rule runs; flake8 decides what is shown. Nothing from pyproject.toml is read, because
# flake8's own configuration is the one a flake8 user edits.
_EVERY_RULE = Config(select=("ALL",))


@lru_cache(maxsize=None)
def _trigger_words() -> tuple[str, ...] | None:
    """The words one of which a file must contain for any rule to fire; None if a rule has none."""
    words: list[str] = []
    for rule in registry.all_rules():
        if not rule.TRIGGER_WORDS:
            return None
        words.extend(rule.TRIGGER_WORDS)
    return tuple(dict.fromkeys(words))


class Plugin:
    name = "torchlint"
    version = __version__
    # False when flake8's --select names no code torchlint reports: then no file is analysed
    selected = True
    # where outcomes are kept between runs (torchlint's own cache, see torchlint/cache.py); None: off
    cache_dir: Optional[str] = None

    # flake8 accepts a plugin only if it takes ``tree``, ``logical_line`` or ``physical_line``;
    # a ``tree`` plugin is the kind that runs once per file, and flake8 builds that tree for its
    # own checks anyway. We parse ``lines`` with libcst instead, which
    # is what flake8 read from the file or from standard input.
    def __init__(self, tree: Any, lines: Sequence[str], filename: str = "<stdin>") -> None:
        self.lines = lines
        self.filename = filename

    @classmethod
    def parse_options(cls, options: Any) -> None:
        """``flake8 --select E,F`` shows no TL finding whatever the plugin computes: skip the work."""
        from torchlint.cache import default_directory

        cls.cache_dir = None if getattr(options, "torchlint_no_cache", False) else default_directory()
        select = getattr(options, "select", None)
        if select is None:
            cls.selected = True
            return
        chosen = [*select, *(getattr(options, "extend_select", None) or [])]
        cls.selected = any("TL".startswith(code.upper()) or code.upper().startswith("TL") for code in chosen)

    @classmethod
    def add_options(cls, option_manager: Any) -> None:
        off_by_default = [rule.code for rule in registry.rule_index() if not rule.default_enabled]
        if off_by_default:
            option_manager.extend_default_ignore(off_by_default)
        option_manager.add_option(
            "--torchlint-no-cache", action="store_true", parse_from_config=True,
            help="torchlint: neither read nor write its cache (.torchlint_cache, or $TORCHLINT_CACHE_DIR)",
        )

    def run(self) -> Iterator[tuple[int, int, str, type]]:
        if not self.selected:
            return
        text = "".join(self.lines)
        # The engine skips the libcst parse of such a file too, but still checks its syntax with
        # Python's parser: flake8 has done that already, so here the file is not parsed at all.
        words = _trigger_words()
        lowered = text.lower()
        if words is not None and not any(word in lowered for word in words):
            return
        for finding in self._findings(text):
            # flake8 reports a file that Python cannot parse as E999 itself, before any plugin runs.
            if finding.code == registry.SYNTAX_ERROR:
                continue
            yield finding.line, finding.column - 1, f"{finding.code} {finding.message}", type(self)

    def _findings(self, text: str) -> list:
        """From the cache when nothing the file's findings depend on has changed (flake8 itself
        keeps no cache, so on an unchanged file the plugin then costs nothing), else linted."""
        # standard input has no file on disk for the cache's key and the project's files
        cache_dir = self.cache_dir if os.path.isfile(self.filename) else None
        if cache_dir is not None:
            from torchlint.cache import Cache

            hit = Cache(cache_dir).lookup(self.filename, text, _EVERY_RULE)
            if hit is not None:
                return hit[0]
        from torchlint import engine  # libcst is imported only when a file needs it

        engine.defer_full_collections_in_this_process()
        return engine.lint_source(text, self.filename, _EVERY_RULE, cache_dir=cache_dir)
