"""The one way a file is parsed: libcst's parser, without the checks its nodes run when built.

A libcst node checks its own fields as it is constructed (``CSTNode.__post_init__`` calls
``_validate``: "no whitespace between ``not`` and its operand", "a lambda's parameters have no
annotations", ...). Those checks guard trees built by hand; a tree the parser built from source
text holds what the text holds, and libcst's own comment on ``__post_init__`` proposes skipping
them when parsing. They were 14 to 31% of the parse here, and the parse is most of a lint.
Nodes built outside a parse (the trees of fixes) are still checked. Validity is Python's to
judge: ``engine.py`` compiles every file before it is parsed here.
"""

from __future__ import annotations

import libcst as cst

# None if a libcst release moves the checks elsewhere: then the parse simply keeps them
_CHECKING_INIT = cst.CSTNode.__dict__.get("__post_init__")


def _unchecked_init(self: cst.CSTNode) -> None:
    pass


def parse_module(text: str) -> cst.Module:
    if _CHECKING_INIT is None:
        return cst.parse_module(text)
    cst.CSTNode.__post_init__ = _unchecked_init
    try:
        return cst.parse_module(text)
    finally:
        cst.CSTNode.__post_init__ = _CHECKING_INIT
