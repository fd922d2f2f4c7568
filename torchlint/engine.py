"""Discover files, read and parse each once, build its facts, run the selected rules on them.

Every file can ask the project index (``analysis/project.py``) about what it imports from the
other files of its project, whichever files the run was given; each file is linted on its own,
in a process pool when there are enough files.

The engine knows nothing about any particular rule: it asks the registry for them, gives each
the file's facts and dispatches the nodes each rule subscribed to (its ``visit_<Node>`` methods)
after the one walk that builds the facts.
"""

from __future__ import annotations

import ast
import os
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Iterable, Optional, Sequence

import libcst as cst
from libcst._position import CodePosition, CodeRange

from torchlint import registry
from torchlint.analysis import FileFacts
from torchlint.analysis.project import ProjectIndex
from torchlint.config import Config
from torchlint.findings import Finding
from torchlint.notebook import Notebook, NotANotebook, is_notebook_path, read_notebook
from torchlint.positions import positions_of
from torchlint.rule import Rule
from torchlint.source import MAX_FILE_BYTES, MAX_NOTEBOOK_BYTES, decode, python_syntax_error
from torchlint.suppressions import is_suppressed, noqa_lines

PARSER_STACK_BYTES = 512 * 1024 * 1024
PARALLEL_THRESHOLD = 8  # below this many files, starting worker processes costs more than it saves
SYNTAX_ERROR, UNREADABLE = "TL000", "TL001"
LONG_LINE = 10_000  # characters; only a file with a line this long can nest expressions deeply
MAX_EXPRESSION_NESTING = 4_000


# A file's outcome: its findings, its error lines, and why it was skipped (None when it was linted).
Outcome = tuple[list[Finding], list[str], Optional[str]]


@dataclass
class LintResult:
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # one line each: missing paths, internal errors
    files_checked: int = 0
    skipped: list[str] = field(default_factory=list)  # one line each: a file left out on purpose, and why


# -- public entry points ---------------------------------------------------------------------


def lint_source(source: str | bytes, path: str = "<stdin>", config: Optional[Config] = None) -> list[Finding]:
    """Lint one file's contents (a notebook's JSON when ``path`` ends in ``.ipynb``). Never
    raises for bad input: it becomes a TL000/TL001 finding."""
    findings, _, _ = _on_large_stack(lambda path, source, config: _lint_contents(source, path, config), path, source, config or Config())
    return findings


def lint_paths(paths: Sequence[str], config: Optional[Config] = None, jobs: Optional[int] = None) -> LintResult:
    config = config or Config()
    files, errors = discover(paths, config)
    result = LintResult(errors=errors, files_checked=len(files))
    jobs = jobs or os.cpu_count() or 1
    if jobs > 1 and len(files) >= PARALLEL_THRESHOLD:
        chunk = max(1, len(files) // (jobs * 4))
        # each worker process keeps its own project index for all the files it lints
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            outcomes = list(pool.map(_lint_file, files, [config] * len(files), chunksize=chunk))
    else:
        outcomes = [_lint_file(path, config) for path in files]
    for findings, file_errors, skipped in outcomes:
        result.findings.extend(findings)
        result.errors.extend(file_errors)
        if skipped is not None:
            result.skipped.append(skipped)
            result.files_checked -= 1
    result.findings.sort()
    return result


def discover(paths: Sequence[str], config: Config) -> tuple[list[str], list[str]]:
    """Python files and notebooks under the given paths (those ``include`` names and ``exclude``
    does not). Explicit files are always linted, even if excluded."""
    files: list[str] = []
    errors: list[str] = []
    for path in paths:
        if os.path.isfile(path):  # regular files only: a FIFO named x.py would block the run
            files.append(path)
        elif os.path.isdir(path):
            found = list(_python_files(path, config))
            if not found:
                errors.append(f"warning: {path}: no Python files or notebooks found")
            files.extend(found)
        elif os.path.lexists(path):
            errors.append(f"error: {path}: not a file or directory")
        else:
            errors.append(f"error: {path}: no such file or directory")
    unique = list(dict.fromkeys(os.path.normpath(path) for path in files))
    return sorted(unique), errors


def _python_files(root: str, config: Config) -> Iterable[str]:
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = sorted(
            name for name in subdirectories
            if not config.is_excluded(os.path.join(directory, name)) and not _is_virtualenv(os.path.join(directory, name))
        )
        for name in sorted(names):
            candidate = os.path.join(directory, name)
            if config.is_included(candidate) and _is_lintable(candidate) and not config.is_excluded(candidate):
                yield candidate


def _is_lintable(path: str) -> bool:
    """Regular files, and dangling links (reported as unreadable); never a FIFO or a device,
    which would block the run."""
    return os.path.isfile(path) or (os.path.islink(path) and not os.path.exists(path))


def _is_virtualenv(directory: str) -> bool:
    return os.path.isfile(os.path.join(directory, "pyvenv.cfg"))


# -- one file --------------------------------------------------------------------------------


# The files of the projects linted in this process, parsed once and kept (see analysis/project.py).
_PROJECT = ProjectIndex()


def _lint_file(path: str, config: Config) -> Outcome:
    return _on_large_stack(_read_and_lint, path, config)


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

    previous = threading.stack_size(PARSER_STACK_BYTES)
    try:
        worker = threading.Thread(target=run, name="torchlint-file")
        worker.start()
    finally:
        threading.stack_size(previous)
    worker.join()
    return outcome[0]


def _read_and_lint(path: str, config: Config) -> Outcome:
    # a notebook's size is mostly its outputs; the limit applies to its code once extracted
    limit = MAX_NOTEBOOK_BYTES if is_notebook_path(path) else MAX_FILE_BYTES
    try:
        size = os.path.getsize(path)
        if size > limit:
            return _file_problem(path, config, UNREADABLE, f"file too large to lint ({size / 1048576:.1f} MiB; the limit is {limit // 1048576} MiB)"), [], None
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        return _file_problem(path, config, UNREADABLE, f"cannot read file: {error.strerror or error}"), [], None
    return _lint_contents(data, path, config)


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
    if len(notebook.program) > MAX_FILE_BYTES:
        return _file_problem(path, config, UNREADABLE, f"code cells too large to lint ({len(notebook.program) / 1048576:.1f} MiB of code; the limit is {MAX_FILE_BYTES // 1048576} MiB)"), [], None
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
    )


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
        return (_file_problem(path, config, SYNTAX_ERROR, *problem) if problem else []), []

    nesting = _pathological_nesting(text)
    if nesting is not None:
        return _file_problem(path, config, UNREADABLE, f"not analysed: an expression nests more than {MAX_EXPRESSION_NESTING} levels deep (generated code?), beyond what the parser handles in reasonable time"), []
    # ``<stdin>`` has no folder, so no project to look into
    project = None if path.startswith("<") else _PROJECT
    try:
        module = (project.parsed_module(path, text) if project is not None else None) or cst.parse_module(text)
    except cst.ParserSyntaxError as error:
        # Python's parser pinpoints the error better than libcst, whose position is often the
        # token after it; libcst's own message remains for code only libcst rejects.
        problem = python_syntax_error(text) or (f"syntax error: {error.message}", error.editor_line, error.editor_column)
        return _file_problem(path, config, SYNTAX_ERROR, *problem), []
    except RecursionError:
        return _file_problem(path, config, SYNTAX_ERROR, "code too deeply nested to parse"), []

    reports: list[tuple[str, str, cst.CSTNode, str]] = []
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
            rule = rule_class(facts, lambda code, name, node, message: reports.append((code, name, node, message)))
            try:
                for node_type, method in _visit_methods(rule):
                    for node in facts.walk.nodes_by_type[node_type]:
                        method(node)
            except Exception as error:  # a bug in one rule must not hide the other rules' findings
                errors.append(f"error: internal error in {rule_class.CODE} on {path}: {type(error).__name__}: {error}")
        if not reports:
            return [], errors
        return _locate(reports, module, text, path), errors


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


def _locate(reports, module: cst.Module, text: str, path: str) -> list[Finding]:
    """Positions are resolved only for files with findings: it costs another pass over the tree."""
    positions = positions_of(module, [node for _, _, node, _ in reports])
    noqa_text = noqa_lines(text)
    findings = set()
    for code, name, node, message in reports:
        where = positions.get(node)
        if where is None:  # a node outside the tree: a rule bug, but never a lost finding
            where = CodeRange(CodePosition(1, 0), CodePosition(1, 0))
        line, column = where.start.line, where.start.column + 1
        if is_suppressed(code, noqa_text(line)):
            continue
        findings.add(Finding(path, line, column, where.end.line, where.end.column + 1, code, name, message))
    return sorted(findings)


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
