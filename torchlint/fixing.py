"""Fixes as text: proposals become edits, edits are applied without overlap, files are written
atomically.

Three steps, each a plain function the engine calls:

- ``resolve``: a rule's proposal (``edits.ProposedFix``, in nodes) becomes a ``findings.Fix`` of
  text edits, or None when the text does not allow it (a statement sharing its line);
- ``apply``: the fixes whose edits overlap no other's are applied to the text, in one pass; the
  engine lints and applies again until nothing changes (``MAX_PASSES``);
- ``write_atomically``: the new bytes go to a temporary file beside the target, which then
  replaces it, keeping its permissions; a file that changed since it was read is left alone.
"""

from __future__ import annotations

import os
import stat
import tempfile
from bisect import bisect_right
from typing import Mapping, Optional, Sequence

from libcst._position import CodeRange

import libcst as cst

from torchlint.edits import Code, InsertAfter, InsertBefore, Move, ProposedFix, Replace, pieces
from torchlint.findings import Edit, Finding, Fix
from torchlint.source import LINE_BREAK

MAX_PASSES = 10  # a fix that keeps re-creating its finding stops here, not never


class Lines:
    """Line and column (1-based, columns in characters, as libcst counts them) to offsets."""

    def __init__(self, text: str):
        self.text = text
        self.starts = [0] + [match.end() for match in LINE_BREAK.finditer(text)]

    def offset(self, line: int, column: int) -> int:
        if line > len(self.starts):
            return len(self.text)
        return min(self.starts[line - 1] + column - 1, len(self.text))

    def line_text(self, line: int) -> str:
        """The line without its line break."""
        start = self.starts[line - 1]
        end = self.starts[line] if line < len(self.starts) else len(self.text)
        return LINE_BREAK.sub("", self.text[start:end])

    def line_of(self, offset: int) -> int:
        return bisect_right(self.starts, offset)

    def position(self, offset: int) -> tuple[int, int]:
        """(line, column), 1-based, of an offset."""
        line = self.line_of(offset)
        return line, offset - self.starts[line - 1] + 1


# -- proposals to edits -----------------------------------------------------------------------


def resolve(proposed: ProposedFix, positions: Mapping[object, CodeRange], lines: Lines, newline: str) -> Optional[Fix]:
    edits: list[Edit] = []
    for edit in proposed.edits:
        made = _resolve_one(edit, positions, lines, newline)
        if made is None:
            return None
        edits.extend(made)
    ordered = sorted(edits, key=lambda edit: (edit.line, edit.column, edit.end_line, edit.end_column))
    if any(_overlap(lines, first, second) for first, second in zip(ordered, ordered[1:])):
        return None
    return Fix(proposed.title, proposed.safety, tuple(ordered))


def _text(code: Code, positions, lines: Lines) -> Optional[str]:
    """The new code, with each node replaced by its text in the file."""
    parts = []
    for piece in pieces(code):
        if isinstance(piece, cst.CSTNode):
            where = positions.get(piece)
            if where is None:
                return None
            start, end = _with_parentheses(piece, where, lines)
            piece = lines.text[start:end]
        parts.append(piece)
    return "".join(parts)


def _resolve_one(edit, positions, lines: Lines, newline: str) -> Optional[list[Edit]]:
    code = _text(edit.code, positions, lines) if not isinstance(edit, Move) else ""
    if code is None:
        return None
    if isinstance(edit, Replace):
        where = positions.get(edit.node)
        if where is None:
            return None
        start, end = _with_parentheses(edit.node, where, lines)
        return [Edit(*lines.position(start), *lines.position(end), code)]
    if isinstance(edit, InsertBefore):
        inserted = _insertion(positions.get(edit.statement), code.split("\n"), lines, newline)
        return None if inserted is None else [inserted]
    if isinstance(edit, InsertAfter):
        where = positions.get(edit.statement)
        if where is None:
            return None
        indent = lines.line_text(where.start.line)[: where.start.column]
        after = lines.line_text(where.end.line)[where.end.column:].strip()
        if indent.strip() or (after and not after.startswith("#")):
            return None
        line = where.end.line + 1
        if line > len(lines.starts):  # the last line, without a line break
            end = len(lines.line_text(where.end.line)) + 1
            return [Edit(where.end.line, end, where.end.line, end, f"{newline}{indent}{code}")]
        return [Edit(line, 1, line, 1, f"{indent}{code}{newline}")]
    if isinstance(edit, Move):
        where = positions.get(edit.statement)
        if where is None or where.start.line != where.end.line:
            return None
        text = lines.line_text(where.start.line)
        before, after = text[: where.start.column], text[where.end.column:].strip()
        if before.strip() or (after and not after.startswith("#")):
            return None  # shares its line with other code
        line = where.start.line
        removal = Edit(line, 1, line + 1, 1, "")
        inserted = _insertion(positions.get(edit.before), [text.strip()], lines, newline)
        if inserted is None or inserted.line == line:
            return None
        return [removal, inserted]
    return None


def _with_parentheses(node: cst.CSTNode, where: CodeRange, lines: Lines) -> tuple[int, int]:
    """The offsets of a node's text with its own parentheses: libcst's positions leave them out,
    and replacing ``(a, b)`` must not leave ``(...)`` around the replacement."""
    start, end = lines.offset(where.start.line, where.start.column + 1), lines.offset(where.end.line, where.end.column + 1)
    text = lines.text
    for _ in getattr(node, "lpar", ()):
        opening = len(text[:start].rstrip())
        closing = end + len(text[end:]) - len(text[end:].lstrip())
        if opening == 0 or text[opening - 1] != "(" or text[closing:closing + 1] != ")":
            break
        start, end = opening - 1, closing + 1
    return start, end


def _insertion(where: Optional[CodeRange], code_lines: Sequence[str], lines: Lines, newline: str) -> Optional[Edit]:
    """New lines just above a statement, with its indentation; None when the statement does not
    start its line (``if x: y``, ``a; b``)."""
    if where is None:
        return None
    indent = lines.line_text(where.start.line)[: where.start.column]
    if indent.strip():
        return None
    line = where.start.line
    while line > 1 and lines.line_text(line - 1).startswith(indent) and lines.line_text(line - 1)[len(indent):].startswith("#"):
        line -= 1  # the comments right above a statement are about it: stay above them
    content = "".join(f"{indent}{code}{newline}" if code else newline for code in code_lines)
    return Edit(line, 1, line, 1, content)


def _overlap(lines: Lines, first: Edit, second: Edit) -> bool:
    a = (lines.offset(first.line, first.column), lines.offset(first.end_line, first.end_column))
    b = (lines.offset(second.line, second.column), lines.offset(second.end_line, second.end_column))
    if a[0] == a[1] and b[0] == b[1]:
        return a[0] == b[0]  # two insertions at one place: their order would be a guess
    return a[0] < b[1] and b[0] < a[1] or a[0] == b[0]


# -- applying ---------------------------------------------------------------------------------


def apply(texts: Mapping[Optional[int], str], findings: Sequence[Finding]) -> tuple[dict[Optional[int], str], list[Finding]]:
    """Apply the fixes of these findings that overlap no fix applied before them (in file
    order); the rest wait for the next pass. ``texts`` maps a notebook's cell number (None for a
    Python file) to its text. Returns the changed texts and the findings whose fix was applied."""
    taken: dict[Optional[int], list[tuple[int, int]]] = {}
    chosen: list[tuple[Optional[int], int, int, str]] = []
    applied: list[Finding] = []
    seen_fixes: set = set()
    line_tables = {key: Lines(text) for key, text in texts.items()}
    for finding in sorted(findings):
        fix = finding.fix
        if fix is None:
            continue
        if fix.edits in seen_fixes:  # two findings, one repair (two losses fed by one softmax)
            applied.append(finding)
            continue
        spans = []
        for edit in fix.edits:
            table = line_tables.get(edit.cell)
            if table is None:
                break
            spans.append((edit.cell, table.offset(edit.line, edit.column), table.offset(edit.end_line, edit.end_column), edit.content))
        else:
            if any(_collides(span, taken.get(span[0], ())) for span in spans):
                continue
            for span in spans:
                taken.setdefault(span[0], []).append((span[1], span[2]))
            chosen.extend(spans)
            applied.append(finding)
            seen_fixes.add(fix.edits)
    changed = dict(texts)
    for key, start, end, content in sorted(chosen, key=lambda span: (span[0] or 0, span[1], span[2]), reverse=True):
        text = changed[key]
        changed[key] = text[:start] + content + text[end:]
    return changed, applied


def _collides(span, taken) -> bool:
    _, start, end, _ = span
    for other_start, other_end in taken:
        if start == end or other_start == other_end:
            if other_start <= start <= other_end or start <= other_start <= end:
                return True
        elif start < other_end and other_start < end:
            return True
    return False


# -- writing ----------------------------------------------------------------------------------


class NotWritten(Exception):
    """The fixed file was not written; the message says why, and the file is as it was."""


def write_atomically(path: str, original: bytes, new: bytes) -> None:
    """Replace the file's bytes with ``new`` through a temporary file in the same directory and a
    rename, so that a crash leaves either the old file or the new one, never half of each. The
    file's permission bits are kept; a link is followed, so the link stays a link."""
    target = os.path.realpath(path)
    try:
        status = os.stat(target)
        # the write bits, not only access(): a rename would replace even a file marked
        # read-only, and root may write anything
        if not status.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(target, os.W_OK):
            raise NotWritten("the file is read-only")
        with open(target, "rb") as handle:
            if handle.read() != original:
                raise NotWritten("the file changed on disk while it was being fixed")
        descriptor, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".torchlint-fix", dir=os.path.dirname(target))
    except OSError as error:
        raise NotWritten(error.strerror or str(error)) from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(new)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, stat.S_IMODE(status.st_mode))
        os.replace(temporary, target)
    except OSError as error:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise NotWritten(error.strerror or str(error)) from None
