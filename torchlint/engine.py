"""Lint one file: read and parse it once, build its facts, run the selected rules on them, and
apply fixes. ``run.py`` drives a run over many files, in a process pool, with the cache.

Every file can ask the project index (``analysis/project.py``) about what it imports from the
other files of its project, whichever files the run was given.

The engine knows nothing about any particular rule: it asks the registry for them, gives each
the file's facts and dispatches the nodes each rule subscribed to (its ``visit_<Node>`` methods)
after the one walk that builds the facts.
"""

from __future__ import annotations

import ast
import difflib
import gc
import io
import os
import sys
import threading
import tokenize
from contextlib import contextmanager
from dataclasses import replace
from functools import lru_cache
from typing import Iterable, Optional

import libcst as cst
from libcst._position import CodePosition, CodeRange

from torchlint import fixing, registry
from torchlint.analysis import FileFacts, cannot_be_pytorch
from torchlint.analysis.parsing import parse_module
from torchlint.analysis.project import MAX_KEPT_NODES, ProjectIndex
from torchlint.cache import Cache
from torchlint.config import Config
from torchlint.edits import ProposedFix
from torchlint.findings import Finding, Fix
from torchlint.notebook import Notebook, NotANotebook, code_cell_sources, is_notebook_path, read_notebook, replace_code_cell_sources
from torchlint.positions import positions_of
from torchlint.registry import INTERNAL_ERROR, SYNTAX_ERROR, UNREADABLE, UNSUPPORTED, UNUSED_NOQA
from torchlint.rule import Rule
from torchlint.source import MAX_NOTEBOOK_BYTES, decode, keep_ends, python_syntax_error
from torchlint.suppressions import file_noqa, is_suppressed, noqa_codes, noqa_lines

PARSER_STACK_BYTES = 512 * 1024 * 1024
LONG_LINE = 10_000  # characters; only a file with a line this long can nest expressions deeply
MAX_EXPRESSION_NESTING = 4_000


# A file's outcome: its findings, its error lines, and why it was skipped (None when it was linted).
Outcome = tuple[list[Finding], list[str], Optional[str]]


# -- public entry points ---------------------------------------------------------------------


def lint_source(source: str | bytes, path: str = "<stdin>", config: Optional[Config] = None, cache_dir: Optional[str] = None) -> list[Finding]:
    """Lint one file's contents (a notebook's JSON when ``path`` ends in ``.ipynb``). Never
    raises for bad input: it becomes a TL000/TL001 finding. A bug of torchlint's own (a rule
    that raised) becomes a TL003 finding, so that an editor never shows such a file as clean.
    With ``cache_dir``, the outcome is stored there for ``Cache.lookup`` with these contents."""
    findings, errors, _ = _on_large_stack(_lint_and_store, path, source, config or Config(), cache_dir)
    name = registry.ENGINE_CODES[INTERNAL_ERROR][0]
    failures = [Finding(path, 1, 1, 1, 1, INTERNAL_ERROR, name, message.removeprefix("error: ") + " (please report this)") for message in errors]
    return sorted(findings + failures)


# the API of earlier versions: a run over paths lives in run.py
from torchlint.run import LintResult, discover, lint_paths  # noqa: E402,F401

# -- one file --------------------------------------------------------------------------------


# The files of the projects linted in this process, parsed once and kept (see analysis/project.py).
_PROJECT = ProjectIndex()


def lint_file(path: str, config: Config, fix: Optional[str] = None, cache_dir: Optional[str] = None) -> tuple[Outcome, list[Finding], Optional[str]]:
    """The file's outcome, the findings fixed in it and, for ``fix="diff"``, its diff. With
    ``cache_dir``, the outcome is stored there with what it depends on."""
    if fix is None:
        return _on_large_stack(_read_and_lint, path, config, cache_dir), [], None
    outcome = _on_large_stack(_read_and_fix, path, config, fix)
    if len(outcome) == 3:  # an internal error, as (findings, errors, skipped)
        return outcome, [], None
    findings, errors, skipped, fixed, diff = outcome
    return (findings, errors, skipped), fixed, diff


def _on_large_stack(work, path: str, *args):
    """Run one file's work in a thread with a large stack, turning any exception into an error
    line for that file. libcst's native parser recurses on the thread's stack: a generated file
    with thousands of chained operators overflows the default 8 MiB and kills the process,
    taking every other file's findings with it. Only the stack pages used are committed."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(work(path, *args))
        except Exception as error:  # never lose the other files' findings to one file
            outcome.append(([], [f"error: internal error on {path}: {type(error).__name__}: {error}"], None))

    with _FULL_COLLECTIONS.held_back():
        previous = threading.stack_size(PARSER_STACK_BYTES)
        try:
            worker = threading.Thread(target=run, name="torchlint-file")
            worker.start()
        finally:
            threading.stack_size(previous)
        worker.join()
    return outcome[0]


class _FullCollections:
    """When Python's cycle collector runs a full collection, which visits every live object.

    On its own it starts one each time the long-lived objects have grown by a quarter. Every
    file's tree becomes long-lived while it is analysed, so with the project index's trees alive
    a full collection came every few files and took 40% of a run. Trees are freed by reference
    counting; only facts need the collector (their records point at each other: a scope and its
    calls), and only once the index has let them go, and only those it handed to other files'
    facts (the others it releases at once). So while a file is linted no full collection
    starts, and one runs after it when the index has let go twice as many nodes as it keeps
    (a full collection visits the kept trees too). Young collections run as usual."""

    NEVER = 2**31 - 1  # as Python's third threshold: young collections before a full one
    FILES_PER_COLLECTION_IN_HOST = 64  # see for_this_process

    def __init__(self) -> None:
        self.whole_process = False
        self.files = 0

    def for_this_process(self) -> None:
        """For a process that does little but lint one file after another (a flake8 worker):
        the host's own work between two files starts no full collection either, so its own
        garbage is collected every FILES_PER_COLLECTION_IN_HOST files."""
        self.whole_process = True
        first, second, _ = gc.get_threshold()
        gc.set_threshold(first, second, self.NEVER)

    @contextmanager
    def held_back(self):
        thresholds = gc.get_threshold()
        gc.set_threshold(thresholds[0], thresholds[1], self.NEVER)
        try:
            yield
        finally:
            gc.set_threshold(*thresholds)
        self.files += 1
        if _PROJECT.dropped_nodes >= 2 * MAX_KEPT_NODES or (self.whole_process and self.files >= self.FILES_PER_COLLECTION_IN_HOST):
            _PROJECT.dropped_nodes = self.files = 0
            gc.collect()
            _return_freed_memory()


_FULL_COLLECTIONS = _FullCollections()


@lru_cache(maxsize=1)
def _malloc_trim():
    try:
        import ctypes

        return getattr(ctypes.CDLL(None), "malloc_trim", None)
    except (ImportError, OSError, TypeError):
        return None


def _return_freed_memory() -> None:
    """glibc keeps the memory a collection freed for its own reuse, scattered between what is
    still held, so a process's size would climb with each collection's high-water mark (from
    190 to 344 MB over 3,200 files, with the same live objects). ``malloc_trim`` hands the free
    pages back: the size then follows what the process holds. Elsewhere there is no such call."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def defer_full_collections_in_this_process() -> None:
    _FULL_COLLECTIONS.for_this_process()


def _read_and_lint(path: str, config: Config, cache_dir: Optional[str] = None) -> Outcome:
    data = _read(path, config)
    if isinstance(data, tuple):
        return data
    return _lint_and_store(path, data, config, cache_dir)


def _lint_and_store(path: str, data: str | bytes, config: Config, cache_dir: Optional[str]) -> Outcome:
    if cache_dir is None:
        return _lint_contents(data, path, config)
    with _PROJECT.recording() as depends_on:
        outcome = _lint_contents(data, path, config)
    Cache(cache_dir).store(path, data, config, outcome, depends_on)
    return outcome


def _read(path: str, config: Config) -> bytes | Outcome:
    """The file's bytes, or the outcome of a file that cannot be read."""
    # a notebook's size is mostly its outputs; the limit applies to its code once extracted
    limit = max(MAX_NOTEBOOK_BYTES, config.max_file_bytes) if is_notebook_path(path) else config.max_file_bytes
    try:
        size = os.path.getsize(path)
        if size > limit:
            return _file_problem(path, config, UNREADABLE, f"file too large to lint ({size / 1048576:.1f} MiB; the limit is {limit / 1048576:g} MiB: max-file-size)"), [], None
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        return _file_problem(path, config, UNREADABLE, f"cannot read file: {error.strerror or error}"), [], None


# -- fixing one file ---------------------------------------------------------------------------


def _read_and_fix(path: str, config: Config, mode: str) -> tuple:
    """(findings, errors, skipped, fixed, diff): the file after its fixes, written back unless
    ``mode`` is "diff". A file is written only if the fixed text parses, and only if it still
    holds the bytes it was read with."""
    data = _read(path, config)
    if isinstance(data, tuple):
        return (*data, [], None)
    new, (findings, errors, skipped), fixed = fix_contents(data, path, config)
    if new == data:
        return findings, errors, skipped, [], None
    if mode == "diff":
        return findings, errors, skipped, fixed, unified_diff(path, data, new)
    try:
        fixing.write_atomically(path, data, new)
    except fixing.NotWritten as error:
        findings, errors, skipped = _lint_contents(data, path, config)
        return findings, [*errors, f"error: {path}: not fixed: {error}"], skipped, [], None
    return findings, errors, skipped, fixed, None


def fix_contents(data: bytes, path: str, config: Config) -> tuple[bytes, Outcome, list[Finding]]:
    """(the fixed bytes, the outcome of linting them, the findings fixed). Fixes are applied in
    passes, each pass the fixes that do not overlap, until none is left or ``MAX_PASSES``."""
    encoding = _encoding_of(data, path)
    try:
        text = data.decode(encoding) if encoding else None
    except (UnicodeDecodeError, LookupError):
        text = None
    if text is None or text.encode(encoding) != data:  # undecodable, or bytes a round trip would change
        return data, _lint_contents(data, path, config), []
    current, fixed, seen = text, [], {text}
    outcome = _lint_contents(current, path, config)
    for _ in range(fixing.MAX_PASSES):
        ready = [finding for finding in outcome[0] if config.applies_fix(finding)]
        if outcome[2] is not None or not ready:
            break
        new, applied = _apply_parsing(current, ready, path)
        if not applied or new in seen:
            break
        after = _lint_contents(new, path, config)
        # A pass must leave fewer findings of the rules it fixed; one that does not (a fix
        # that does not remove its finding) is undone, so it cannot repeat itself pass after pass.
        codes = {finding.code for finding in applied}
        if sum(f.code in codes for f in after[0]) >= sum(f.code in codes for f in outcome[0]):
            break
        current, fixed, outcome = new, fixed + applied, after
        seen.add(new)
    return current.encode(encoding), outcome, fixed


def _encoding_of(data: bytes, path: str) -> Optional[str]:
    if is_notebook_path(path):
        return "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
    try:
        return tokenize.detect_encoding(io.BytesIO(data).readline)[0]
    except SyntaxError:
        return None


def _apply_parsing(text: str, findings: list[Finding], path: str) -> tuple[str, list[Finding]]:
    """Apply the fixes together; if the result does not parse, one at a time, keeping each only
    when the text still parses. A fix that would break the file is never applied."""
    new, applied = _apply(text, findings, path)
    if applied and _parses(new, path, text):
        return new, applied
    kept: list[Finding] = []
    for finding in findings:
        candidate, one = _apply(text, [finding], path)
        if one and _parses(candidate, path, text):
            text, kept = candidate, kept + one
            break  # the others' positions are stale now; the next pass finds them again
    return text, kept


def _apply(text: str, findings: list[Finding], path: str) -> tuple[str, list[Finding]]:
    if not is_notebook_path(path):
        changed, applied = fixing.apply({None: text}, findings)
        return changed[None], applied
    try:
        sources = code_cell_sources(text)
        cells = {edit.cell for finding in findings for edit in finding.fix.edits if edit.cell in sources}
        changed, applied = fixing.apply({cell: sources[cell] for cell in cells}, findings)
        return replace_code_cell_sources(text, {cell: source for cell, source in changed.items() if source != sources[cell]}), applied
    except (NotANotebook, ValueError):
        return text, []


def _parses(new: str, path: str, old: str) -> bool:
    if not is_notebook_path(path):
        return python_syntax_error(new) is None
    try:
        return len(read_notebook(new).broken_cells) <= len(read_notebook(old).broken_cells)
    except NotANotebook:
        return False


def unified_diff(path: str, old: bytes, new: bytes) -> str:
    encoding = _encoding_of(old, path) or "utf-8"
    before, after = (keep_ends(data.decode(encoding)) for data in (old, new))
    lines = []
    for line in difflib.unified_diff(before, after, fromfile=path, tofile=path):
        lines.append(line if line.endswith(("\n", "\r")) else line + "\n\\ No newline at end of file\n")
    return "".join(lines)


def _lint_contents(source: str | bytes, path: str, config: Config) -> Outcome:
    if is_notebook_path(path):
        return _lint_notebook(source, path, config)
    return (*_lint_text(source, path, config), None)


def _lint_notebook(source: str | bytes, path: str, config: Config) -> Outcome:
    """A notebook is linted as the program of its code cells; positions are mapped back to the
    cells (see notebook.py)."""
    try:
        text = source.decode("utf-8-sig") if isinstance(source, bytes) else source
        notebook = read_notebook(text)
    except UnicodeDecodeError as error:
        return _file_problem(path, config, UNREADABLE, f"not a valid notebook: not UTF-8 ({error.reason} at byte {error.start})"), [], None
    except NotANotebook as error:
        return _file_problem(path, config, UNREADABLE, f"not a valid notebook: {error}"), [], None
    if not notebook.is_python:
        return [], [], f"{path}: skipped: a notebook in {notebook.language}, not Python"
    if len(notebook.program) > config.max_file_bytes:
        return _file_problem(path, config, UNREADABLE, f"code cells too large to lint ({len(notebook.program) / 1048576:.1f} MiB of code; the limit is {config.max_file_bytes / 1048576:g} MiB: max-file-size)"), [], None
    findings, errors = _lint_text(notebook.program, path, config) if notebook.origins else ([], [])
    located = [_in_cell(finding, notebook) for finding in findings]
    for broken in notebook.broken_cells:
        for problem in _file_problem(path, config, SYNTAX_ERROR, f"{broken.message} (this cell is left out of the analysis)", broken.line, broken.column):
            located.append(replace(problem, cell=broken.cell, file_line=broken.file_line))
    return sorted(located), errors, None


def _in_cell(finding: Finding, notebook: Notebook) -> Finding:
    start, end = notebook.origin(finding.line), notebook.origin(finding.end_line)
    if start is None or end is None:
        return finding
    if end.cell != start.cell:  # cannot happen for a node, which lies within one statement
        end = start
    return replace(
        finding, cell=start.cell, file_line=start.file_line,
        line=start.line, column=finding.column + start.column_shift,
        end_line=end.line, end_column=finding.end_column + end.column_shift,
        fix=_fix_in_cell(finding.fix, notebook),
    )


def _fix_in_cell(fix: Optional[Fix], notebook: Notebook) -> Optional[Fix]:
    """The fix in cell coordinates, or None when it touches a line IPython syntax was masked on
    (its text in the program is not the cell's)."""
    if fix is None:
        return None
    edits = []
    for edit in fix.edits:
        start = notebook.origin(edit.line)
        touched = range(edit.line, edit.end_line + (1 if edit.end_column > 1 or edit.end_line == edit.line else 0))
        origins = [notebook.origin(line) for line in touched if line <= len(notebook.origins)]
        if start is None or edit.line > len(notebook.origins) or any(o is None or not o.verbatim or o.cell != start.cell for o in origins):
            return None
        # a cell's lines are consecutive in the program, so an end just past the cell's last
        # line (a removed line) is the same distance past it in the cell
        edits.append(replace(edit, cell=start.cell, line=start.line, end_line=start.line + edit.end_line - edit.line))
    return replace(fix, edits=tuple(edits))


def _lint_text(source: str | bytes, path: str, config: Config) -> tuple[list[Finding], list[str]]:
    try:
        text = decode(source) if isinstance(source, bytes) else source
    except (SyntaxError, UnicodeDecodeError, LookupError) as error:
        return _file_problem(path, config, UNREADABLE, f"cannot decode file: {_one_line(error)}"), []

    rules = [rule for rule in registry.all_rules() if config.is_code_enabled(rule.CODE, rule.NAME, rule.DEFAULT_ENABLED, path)]
    lowered = text.lower()
    rules = [rule for rule in rules if not rule.TRIGGER_WORDS or any(word in lowered for word in rule.TRIGGER_WORDS)]
    if not rules:
        # Nothing selected could fire here, so skip the libcst parse; Python's own parser, about
        # eight times faster, still finds a syntax error.
        problem = python_syntax_error(text)
        return (_file_problem(path, config, SYNTAX_ERROR, *problem) if problem else _unused_noqa(text, path, config, set())), []

    # Python is the judge of validity (the parse below does not check what its nodes hold), and
    # pinpoints an error better than libcst, whose position is often the token after it. Its
    # compiler, which never runs the code, costs about a tenth of the parse and finds what only it
    # reports: a bare ``except:`` that is not the last handler, ``return`` outside a function.
    with _deep_recursion():  # the compiler's depth limit follows Python's
        problem = python_syntax_error(text, compiled=True)
    if problem is not None:
        return _file_problem(path, config, SYNTAX_ERROR, *problem), []

    # ``<stdin>`` has no folder, so no project to look into
    project = None if path.startswith("<") else _PROJECT
    if all(rule.PYTORCH_ONLY for rule in rules) and cannot_be_pytorch(text, path, project):
        # No selected rule applies to code that is not PyTorch's: the libcst parse would find nothing.
        return _unused_noqa(text, path, config, set()), []

    nesting = _pathological_nesting(text)
    if nesting is not None:
        return _file_problem(path, config, UNREADABLE, f"not analysed: an expression nests more than {MAX_EXPRESSION_NESTING} levels deep (generated code?), beyond what the parser handles in reasonable time"), []
    try:
        module = (project.parsed_module(path, text) if project is not None else None) or parse_module(text)
    except (cst.ParserSyntaxError, cst.CSTValidationError) as error:
        # valid Python, as just seen, that libcst rejects is said to be so
        if isinstance(error, cst.ParserSyntaxError):
            line, column = error.editor_line, error.editor_column
            reason = f"it stops at line {line}, column {column}"
        else:
            line, column, reason = 1, 1, _one_line(error)
        message = f"not analysed: valid Python that libcst's parser cannot read ({reason}); no rule ran on this file"
        return _file_problem(path, config, UNSUPPORTED, message, line, column), []
    except RecursionError:
        return _file_problem(path, config, SYNTAX_ERROR, "code too deeply nested to parse"), []

    reports: list[tuple[str, str, cst.CSTNode, str, Optional[ProposedFix]]] = []
    errors: list[str] = []
    with _deep_recursion():
        try:
            facts = FileFacts(module, wanted_types=_subscribed_types(rules), path=path, project=project)
            if project is not None:
                project.remember(path, text, facts)
            if not facts.is_pytorch:
                rules = [rule for rule in rules if not rule.PYTORCH_ONLY]
        except RecursionError:
            return _file_problem(path, config, SYNTAX_ERROR, "code too deeply nested to analyse"), []
        for rule_class in rules:
            rule = rule_class(facts, lambda code, name, node, message, fix: reports.append((code, name, node, message, fix)))
            try:
                for node_type, method in _visit_methods(rule):
                    for node in facts.walk.nodes_by_type[node_type]:
                        method(node)
            except Exception as error:  # a bug in one rule must not hide the other rules' findings
                errors.append(f"error: internal error in {rule_class.CODE} on {path}: {type(error).__name__}: {error}")
        used: set = set()
        located = _locate(reports, module, text, path, used) if reports else []
        silenced = file_noqa(text)
        if silenced is not None:
            located = [finding for finding in located if silenced and not (finding.code.startswith(silenced) or finding.name in silenced)]
        return located + _unused_noqa(text, path, config, used), errors


@contextmanager
def _deep_recursion():
    """Long expressions (``a + b + ... `` over thousands of terms) nest thousands of nodes deep.
    The walk and the position pass recurse through them in Python, whose frames no longer
    consume the C stack from 3.11 on, so a higher limit is safe there; it is restored afterwards."""
    limit = 20000 if sys.version_info >= (3, 11) else 4000
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def _pathological_nesting(text: str) -> Optional[int]:
    """The nesting depth of the deepest expression, when it is so deep that libcst's parser,
    whose time grows with the square of it (two minutes for 8,000 chained ``+``), would stall
    the run. Only files with a very long line are measured, with Python's much faster parser."""
    if len(text) < LONG_LINE or max(map(len, text.splitlines()), default=0) < LONG_LINE:
        return None
    try:
        with _deep_recursion():
            tree = ast.parse(text)
    except RecursionError:
        return MAX_EXPRESSION_NESTING + 1  # too deep for Python's own parser too
    except (SyntaxError, ValueError, MemoryError):
        return None  # the libcst parse reports it
    deepest, pending = 0, [(tree, 0)]
    while pending:
        node, depth = pending.pop()
        deepest = max(deepest, depth)
        nested = depth + 1 if isinstance(node, (ast.BinOp, ast.BoolOp, ast.Compare, ast.UnaryOp, ast.Attribute, ast.Call, ast.Subscript)) else depth
        pending.extend((child, nested) for child in ast.iter_child_nodes(node))
    return deepest if deepest > MAX_EXPRESSION_NESTING else None


def _locate(reports, module: cst.Module, text: str, path: str, used: set) -> list[Finding]:
    """Positions are resolved only for files with findings: it costs another pass over the tree.
    ``used`` collects (the noqa text of the line, code) for each finding a ``# noqa`` silenced."""
    wanted = [node for _, _, node, _, _ in reports]
    wanted += [node for *_, fix in reports if fix is not None for node in fix.nodes()]
    positions = positions_of(module, wanted)
    noqa_text = noqa_lines(text)
    lines = fixing.Lines(text)
    findings = set()
    for code, name, node, message, proposed in reports:
        where = positions.get(node)
        if where is None:  # a node outside the tree: a rule bug, but never a lost finding
            where = CodeRange(CodePosition(1, 0), CodePosition(1, 0))
        line, column = where.start.line, where.start.column + 1
        if is_suppressed(code, noqa_text(line), name):
            used.add((noqa_text(line), code))
            continue
        fix = fixing.resolve(proposed, positions, lines, module.default_newline) if proposed is not None else None
        findings.add(Finding(path, line, column, where.end.line, where.end.column + 1, code, name, message, fix))
    return sorted(findings)


def _unused_noqa(text: str, path: str, config: Config, used: set) -> list[Finding]:
    """TL004, when selected: a ``# noqa`` listing a code of a rule enabled here that silenced
    nothing on its line (as ruff's RUF100). Codes of other linters are theirs to judge."""
    if not config.is_code_enabled(UNUSED_NOQA, registry.ENGINE_CODES[UNUSED_NOQA][0], False, path) or "noqa" not in text:
        return []
    enabled = {rule.CODE: rule.NAME for rule in registry.all_rules() if config.is_code_enabled(rule.CODE, rule.NAME, rule.DEFAULT_ENABLED, path)}
    names = {name: code for code, name in enabled.items()}
    noqa_text = noqa_lines(text)
    found = []
    for number, line in enumerate(keep_ends(text), start=1):
        listed = noqa_codes(line) if "noqa" in line else None
        if not listed:
            continue
        unused = [item for item in listed if (names.get(item, item) in enabled) and (noqa_text(number), names.get(item, item)) not in used]
        if unused:
            column = line.lower().index("# noqa") + 1
            message = f"unused `noqa` for {', '.join(unused)}: nothing on this line is reported for {'it' if len(unused) == 1 else 'them'}; remove {'it' if len(unused) == 1 else 'them'}"
            found.append(Finding(path, number, column, number, column + len("# noqa"), UNUSED_NOQA, registry.ENGINE_CODES[UNUSED_NOQA][0], message))
    return found


def _file_problem(path: str, config: Config, code: str, message: str, line: int = 1, column: int = 1) -> list[Finding]:
    """A file that could not be read or parsed. Shown whatever --select says, unless ignored by
    name: a selection of rules must not make a broken file look clean."""
    name = registry.ENGINE_CODES[code][0]
    if config.is_code_ignored(code, name, path):
        return []
    return [Finding(path, line, column, line, column, code, name, message)]


def _one_line(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _subscribed_types(rules: Iterable[type[Rule]]) -> set[type]:
    return {node_type for rule in rules for node_type, _ in _visit_method_names(rule)}


def _visit_methods(rule: Rule) -> list[tuple[type, object]]:
    return [(node_type, getattr(rule, name)) for node_type, name in _visit_method_names(type(rule))]


@lru_cache(maxsize=None)
def _visit_method_names(rule_class: type[Rule]) -> tuple[tuple[type, str], ...]:
    """The libcst node types a rule class subscribes to, read once per class, not per file."""
    found = []
    for attribute in dir(rule_class):
        if attribute.startswith("visit_"):
            node_type = getattr(cst, attribute[len("visit_"):], None)
            if not isinstance(node_type, type):
                raise TypeError(f"{rule_class.__name__}.{attribute}: no libcst node type {attribute[6:]!r}")
            found.append((node_type, attribute))
    return tuple(found)
