"""The project a linted file belongs to, and the facts of the project's other files.

The common layout puts the model in ``model.py`` and the loop in ``train.py``. From ``train.py``
alone ``from model import Net`` is opaque: is ``Net`` an nn.Module, does it hold dropout? The
index answers by following the import to the file that defines ``Net``, found on disk from the
importing file's folder and from the project root (the nearest folder above the file holding
``pyproject.toml``, ``setup.cfg``, ``setup.py`` or ``.git``). That file is parsed the first time a
question needs it and answered by the same ``FileFacts`` every linted file gets: one
implementation of every fact, for this file and the others alike.

Which files a run was given plays no part, so ``torchlint train.py``, ``flake8 train.py``, the
pre-commit hook (which passes only staged files) and ``torchlint .`` give a file the same
findings. Each process keeps one index; files it parsed are kept, a bounded number of them,
and re-read when they change on disk.

Every answer also names the files and folders it read or looked for, so that ``recording()``
can tell the cache what a linted file's findings depend on (see ``torchlint/cache.py``).
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Optional

import libcst as cst

from torchlint.cache import FileState, file_state

from torchlint.analysis.facts import function_called
from torchlint.analysis.names import last_name
from torchlint.analysis.parsing import parse_module
from torchlint.source import MAX_FILE_BYTES, decode, file_size

if TYPE_CHECKING:
    from torchlint.analysis import FileFacts
    from torchlint.analysis.facts import CallSite, ClassInfo, Scope

PROJECT_MARKERS = ("pyproject.toml", "setup.cfg", "setup.py", ".git")
INSTALL_FOLDERS = frozenset({"site-packages", "dist-packages"})
# ``from pkg import Net`` where pkg/__init__.py re-exports ``from .models import Net``.
MAX_REEXPORTS = 4
# Parsed files are kept for the files that import them, the most recently used first, up to
# this many of the walk's nodes: a tree and its facts take 2.6 to 4.1 KB a node, so memory stays
# bounded however many files a run has. Not bytes of source: a byte of a data table
# (torch/sparse/_triton_ops_meta.py) takes 1,300 bytes, one of torch/nn/modules/module.py 210.
MAX_KEPT_NODES = 80_000
# And, beyond that, up to this many of the files some file asked for again after they had been
# let go: the modules a whole package imports (``torch/_inductor/ir.py``, ``utils.py``), whose
# working set is larger than the budget; 120 files of torch/_inductor parsed them 216 times (52 s),
# 119 times with this (18 s), while on the benchmark's sample this share stays almost empty.
MAX_KEPT_WANTED_AGAIN_NODES = 320_000
# Folders never searched for callers: environments, build output, caches.
SKIPPED_FOLDERS = frozenset({
    ".git", ".hg", ".svn", ".tox", ".nox", ".venv", "venv", "env", "build", "dist", "node_modules",
    "__pycache__", ".mypy_cache", ".pytest_cache", ".ipynb_checkpoints", "site-packages",
})
MAX_SEARCHED_FILES = 5000
MAX_KEPT_SEARCH_BYTES = 8_000_000  # the texts of searched projects' files kept for the next search
MAX_REMEMBERED_ANSWERS = 20_000  # answers about other files (see ``remembered``), a few hundred bytes each
MAX_CALLER_FILES = 32  # files parsed to find the callers of one function
MAX_CALLER_BYTES = 2_000_000  # and their source: a tree takes 30 to 600 bytes a byte of source


@dataclass(frozen=True, eq=False)
class ClassRef:
    """A class and the facts of the file that defines it."""

    facts: "FileFacts"
    info: "ClassInfo"


@dataclass(frozen=True, eq=False)
class FunctionRef:
    """A module-level function and the facts of the file that defines it."""

    facts: "FileFacts"
    scope: "Scope"


class ProjectIndex:
    def __init__(self) -> None:
        # path -> (modification time, text, facts, nodes); facts None for a file that does not parse
        self._facts: OrderedDict[str, tuple[float, str, Optional["FileFacts"], int]] = OrderedDict()
        self._kept_nodes = 0
        self._parsed: set[str] = set()  # every file facts_of parsed
        self._wanted_again: set[str] = set()  # those it had to parse again, having let them go
        self._kept_wanted_again_nodes = 0
        # Facts let go of are released at once when no other file's facts can hold a part of
        # them: they were never handed out by facts_of, and are not the file being linted.
        # The others wait for the cycle collector (their records point at each other: a scope
        # and its calls); dropped_nodes counts their nodes since the owner last collected.
        self._handed_out: set[str] = set()
        self._linting: Optional[str] = None
        self.dropped_nodes = 0
        # each cached answer keeps the paths it looked at, to be recorded again when reused
        self._roots: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._module_files: dict[tuple[str, str], tuple[Optional[str], tuple[str, ...]]] = {}
        # for finding callers: root -> (its files, their texts while kept, the paths to record)
        self._files_by_root: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._texts_by_root: OrderedDict[str, dict[str, str]] = OrderedDict()
        self._kept_text_bytes = 0
        self._torch_requirements: dict[str, Optional[tuple[int, int]]] = {}
        self._recorded: Optional[dict[str, FileState]] = None
        self._hashes: dict = {}  # for file_state
        # key -> (answer, the state of every file and folder it looked at, as the cache records it)
        self._answers: OrderedDict[tuple, tuple[object, dict[str, FileState]]] = OrderedDict()
        self._gathering: list[set[str]] = []  # the paths looked at by the answers being computed

    def __getstate__(self) -> dict:
        return {}  # caches are rebuilt in each process

    def __setstate__(self, state: dict) -> None:
        self.__init__()

    @contextmanager
    def recording(self) -> Iterator[dict[str, FileState]]:
        """The state of every file and folder the answers given inside consulted, by path."""
        self._recorded = {}
        try:
            yield self._recorded
        finally:
            self._recorded = None

    def _consulted(self, paths: Iterable[str]) -> None:
        if self._recorded is None and not self._gathering:
            return
        paths = tuple(paths)
        for gathered in self._gathering:
            gathered.update(paths)
        if self._recorded is not None:
            for path in paths:
                if path not in self._recorded:
                    self._recorded[path] = file_state(path, self._hashes)

    def remembered(self, key: tuple, compute: Callable[[], object]) -> object:
        """``compute()``, an answer about other files of the project that holds no part of
        their trees, kept under ``key`` for every file that asks it next, until one of the
        files or folders it looked at changes.

        The trees are too large to keep for a whole project: the index keeps MAX_KEPT_NODES of
        the walk's nodes (about a megabyte of ordinary source), while the files of
        ``torch/_dynamo`` each ask about dozens of helpers of the same few large modules, which
        were parsed again for every file that asked (174 parses for one file, 450 s of CPU for
        torch's 2,285 files)."""
        kept = self._answers.get(key)
        if kept is not None:
            answer, looked_at = kept
            if all(file_state(path, self._hashes) == state for path, state in looked_at.items()):
                self._answers.move_to_end(key)
                self._consulted(looked_at)
                return answer
        gathered: set[str] = set()
        self._gathering.append(gathered)
        try:
            answer = compute()
        finally:
            self._gathering.pop()
        self._answers[key] = answer, {path: file_state(path, self._hashes) for path in gathered}
        self._answers.move_to_end(key)
        if len(self._answers) > MAX_REMEMBERED_ANSWERS:
            self._answers.popitem(last=False)
        return answer

    # -- questions ---------------------------------------------------------------------------

    def find_class(self, qualified: str, importer: str) -> Optional[ClassRef]:
        """The class an import in ``importer`` names (``model.Net``, ``.blocks.Block``)."""
        found = self._find(qualified, importer, MAX_REEXPORTS)
        return found if isinstance(found, ClassRef) else None

    def find_function(self, qualified: str, importer: str) -> Optional[FunctionRef]:
        """The module-level function an import in ``importer`` names (``utils.evaluate``)."""
        found = self._find(qualified, importer, MAX_REEXPORTS)
        return found if isinstance(found, FunctionRef) else None

    def callers_of(self, function: FunctionRef) -> Iterator[tuple["FileFacts", "CallSite"]]:
        """Calls of a module-level function from the other files of its project."""
        path = os.path.abspath(function.facts.path)
        name = function.scope.name
        stem = os.path.splitext(os.path.basename(path))[0]
        module = os.path.basename(os.path.dirname(path)) if stem == "__init__" else stem
        candidates = [other for other in self._files_mentioning(self.root_of(path), name, module) if other != path]
        if len(candidates) > MAX_CALLER_FILES or sum(map(file_size, candidates)) > MAX_CALLER_BYTES:
            # a name used everywhere, or in files too large to parse for one question (torch's
            # 1.4 MB test table, whose tree alone is 770 MB): its callers cannot be told apart
            # cheaply, so none are claimed
            return
        for candidate in candidates:
            if candidate == path:
                continue
            facts = self.facts_of(candidate)
            if facts is None:
                continue
            for site in facts.walk.calls:
                called = function_called(site.node)  # ``evaluate(...)``, ``partial(evaluate, model=net)``
                if last_name(called) != name:
                    continue
                target = facts.project_function(facts.qualified_name(called))
                if target is not None and target.scope.name == name and os.path.abspath(target.facts.path) == path:
                    yield facts, site

    # -- files -------------------------------------------------------------------------------

    def facts_of(self, path: str) -> Optional["FileFacts"]:
        """The facts of a file of the project, parsed on first use; None if it cannot be read or parsed."""
        path = os.path.abspath(path)
        try:
            stat = os.stat(path)
        except OSError:
            self._consulted([path])
            return None
        self._consulted([path])
        self._handed_out.add(path)
        kept = self._facts.get(path)
        if kept is not None and kept[0] == stat.st_mtime:
            self._facts.move_to_end(path)
            return kept[2]
        if path in self._parsed and path not in self._facts:
            self._wanted_again.add(path)
        self._parsed.add(path)
        text, facts = self._parse(path, stat.st_size)
        self._keep(path, stat.st_mtime, text, facts)
        return facts

    def text_of(self, path: str) -> str:
        """A project file's text (empty when it cannot be read), without parsing it."""
        path = os.path.abspath(path)
        self._consulted([path])
        kept = self._facts.get(path)
        if kept is not None and kept[2] is not None:
            return kept[1]
        return _read_text(path) or ""

    def parsed_module(self, path: str, text: str) -> Optional[cst.Module]:
        """The tree of a file already parsed here with exactly this text: a file of the run that
        another file asked about is not parsed a second time when its own turn comes."""
        kept = self._facts.get(os.path.abspath(path))
        if kept is None or kept[2] is None or kept[1] != text:
            return None
        return kept[2].module

    def remember(self, path: str, text: str, facts: "FileFacts") -> None:
        """Keep a linted file's facts for the files that import it."""
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            return
        self._linting = os.path.abspath(path)
        self._keep(self._linting, mtime, text, facts)

    def _keep(self, path: str, mtime: float, text: str, facts: Optional["FileFacts"]) -> None:
        previous = self._facts.pop(path, None)
        if previous is not None:
            self._count(path, -previous[3])
            if previous[2] is not facts:
                self._let_go(path, previous[2], previous[3])
        nodes = facts.walk.module_scope.end if facts is not None else 0
        self._facts[path] = (mtime, text, facts, nodes)
        self._count(path, nodes)
        while True:
            over_wanted_again = self._kept_wanted_again_nodes > MAX_KEPT_WANTED_AGAIN_NODES
            if not over_wanted_again and self._kept_nodes - self._kept_wanted_again_nodes <= MAX_KEPT_NODES:
                break
            # the least recently used of the share over its budget, never the file just kept
            dropped_path = next((other for other in self._facts if other != path and (other in self._wanted_again) == over_wanted_again), None)
            if dropped_path is None:
                break
            _, _, dropped_facts, dropped_nodes = self._facts.pop(dropped_path)
            self._count(dropped_path, -dropped_nodes)
            self._let_go(dropped_path, dropped_facts, dropped_nodes)

    def _count(self, path: str, nodes: int) -> None:
        self._kept_nodes += nodes
        if path in self._wanted_again:
            self._kept_wanted_again_nodes += nodes

    def _let_go(self, path: str, facts: Optional["FileFacts"], nodes: int) -> None:
        if facts is None:
            return
        if path in self._handed_out or path == self._linting:
            self._handed_out.discard(path)
            self.dropped_nodes += nodes
        else:
            facts.release()

    def torch_requirement(self, path: str) -> Optional[tuple[int, int]]:
        """The lowest torch version (major, minor) the project of ``path`` declares it needs, read
        from its metadata (pyproject.toml, setup.cfg, setup.py, requirements*.txt); None when it
        declares no lower bound."""
        root = self.root_of(path)
        self._consulted(os.path.join(root, name) for name in METADATA_FILES)
        if root not in self._torch_requirements:
            self._torch_requirements[root] = _declared_torch_floor(root)
        return self._torch_requirements[root]

    def root_of(self, path: str) -> str:
        """The project root of a file: the nearest folder at or above it with a project marker,
        or the file's own folder when there is none."""
        folder = os.path.dirname(os.path.abspath(path))
        if folder not in self._roots:
            self._roots[folder] = _find_root(folder)
        root, looked_at = self._roots[folder]
        self._consulted(looked_at)
        return root

    def module_file(self, module: str, importer: str) -> Optional[str]:
        """The file an import names: relative imports from the importer's package; absolute ones
        from the importer's folder, the folders above it up to the project root, and ``src/``."""
        importer = os.path.abspath(importer)
        key = (module, os.path.dirname(importer))
        if key not in self._module_files:
            self._module_files[key] = self._locate_module(module, importer)
        found, looked_at = self._module_files[key]
        self._consulted(looked_at)
        return found

    # -- helpers -----------------------------------------------------------------------------

    def _find(self, qualified: str, importer: str, depth: int):
        if not qualified or depth < 0 or importer.startswith("<"):
            return None
        module, _, name = qualified.rpartition(".")
        if not module:
            return None
        path = self.module_file(module, importer)
        facts = self.facts_of(path) if path is not None else None
        if facts is None:
            return None
        defined = facts.top_level_class(name)
        if defined is not None:
            return ClassRef(facts, defined)
        function = facts.module_scope.functions.get(name)
        if function is not None:
            return FunctionRef(facts, function)
        reexported = facts.walk.imports.aliases.get(name)
        if reexported is not None and reexported != qualified:
            return self._find(reexported, facts.path, depth - 1)
        return None

    def _locate_module(self, module: str, importer: str) -> tuple[Optional[str], tuple[str, ...]]:
        level = len(module) - len(module.lstrip("."))
        parts = [part for part in module.lstrip(".").split(".") if part]
        folder = os.path.dirname(importer)
        if level:
            for _ in range(level - 1):
                folder = os.path.dirname(folder)
            bases = [folder]
        else:
            root = self.root_of(importer)
            bases, current = [], folder
            while True:
                bases.append(current)
                if current == root or not current.startswith(root):
                    break
                current = os.path.dirname(current)
            bases.append(os.path.join(root, "src"))
        looked_at = []
        for base in bases:
            target = os.path.join(base, *parts) if parts else base
            for candidate in (target + ".py", os.path.join(target, "__init__.py")):
                looked_at.append(os.path.abspath(candidate))
                if os.path.isfile(candidate):
                    return os.path.abspath(candidate), tuple(looked_at)  # possibly the importer itself (``from d2l import torch as d2l``)
        return None, tuple(looked_at)

    def _parse(self, path: str, size: int) -> tuple[str, Optional["FileFacts"]]:
        from torchlint.analysis import FileFacts  # the index and the facts refer to each other

        if size > MAX_FILE_BYTES or not path.endswith(".py"):
            return "", None
        try:
            with open(path, "rb") as handle:
                text = decode(handle.read())
            module = parse_module(text)
        except (OSError, SyntaxError, UnicodeDecodeError, LookupError, cst.ParserSyntaxError, RecursionError, MemoryError, ValueError):
            return "", None  # the file's own lint reports it
        return text, FileFacts(module, path=path, project=self)

    def _files_mentioning(self, root: str, name: str, module: str) -> list[str]:
        """The project's files whose text names both the function and its module: the only
        ones that can import and call it."""
        if root not in self._files_by_root:
            folders: list[str] = []
            files = tuple(_project_files(root, folders))
            # a file added, removed or edited anywhere in the project may add or remove a caller
            self._files_by_root[root] = files, (*folders, *files)
        files, looked_at = self._files_by_root[root]
        self._consulted(looked_at)
        # a file that imports the module names it as a word (``executor``, not ``ProcessPoolExecutor``
        # or ``_async_process_executor``)
        return [
            path for path, text in self._texts_of(root, files)
            if has_word(text, module) and has_word(text, name)
        ]

    def _texts_of(self, root: str, files: tuple[str, ...]) -> Iterator[tuple[str, str]]:
        """The texts of a project's files: kept for the projects searched last, up to
        MAX_KEPT_SEARCH_BYTES (torch's own files are 46 MB), and read again otherwise."""
        texts = self._texts_by_root.get(root)
        if texts is not None:
            self._texts_by_root.move_to_end(root)
            yield from texts.items()
            return
        # a project too large to keep is not gathered either: each text is let go once searched
        texts: Optional[dict[str, str]] = {}
        size = 0
        for path in files:
            text = _read_text(path)
            if text is None:
                continue
            if texts is not None:
                size += len(text)
                texts[path] = text
                if size > MAX_KEPT_SEARCH_BYTES:
                    texts = None
            yield path, text
        if texts is not None:
            self._texts_by_root[root] = texts
            self._kept_text_bytes += size
            while self._kept_text_bytes > MAX_KEPT_SEARCH_BYTES:
                _, dropped = self._texts_by_root.popitem(last=False)
                self._kept_text_bytes -= sum(map(len, dropped.values()))


def _is_word_character(character: str) -> bool:
    return character.isalnum() or character == "_"  # what ``\w`` matches in a str pattern


def has_word(text: str, word: str) -> bool:
    """Whether ``re.search(rf"\\b{re.escape(word)}\\b", text)`` would match, found with
    ``str.find``: the regular expression scans every position of the text (half a second for
    one word over torch's 46 MB), ``find`` jumps between occurrences."""
    if not word:
        return False
    starts_as_word, ends_as_word = _is_word_character(word[0]), _is_word_character(word[-1])
    found = text.find(word)
    while found >= 0:
        end = found + len(word)
        word_before = found > 0 and _is_word_character(text[found - 1])
        word_after = end < len(text) and _is_word_character(text[end])
        if word_before != starts_as_word and word_after != ends_as_word:
            return True
        found = text.find(word, found + 1)
    return False


def _read_text(path: str) -> Optional[str]:
    """A file's text for word searches (undecodable bytes replaced); None if it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return handle.read(MAX_FILE_BYTES).decode("utf-8", "replace")
    except OSError:
        return None


def _find_root(folder: str) -> tuple[str, tuple[str, ...]]:
    """The project root of files in ``folder``, and the paths whose presence decided it."""
    looked_at = []
    current = folder
    while True:
        parent = os.path.dirname(current)
        markers = [os.path.join(current, marker) for marker in PROJECT_MARKERS]
        looked_at.extend(markers)
        # an installed distribution is a project of its own: its folder in site-packages
        if any(os.path.exists(marker) for marker in markers) or os.path.basename(parent) in INSTALL_FOLDERS:
            return current, tuple(looked_at)
        looked_at.append(os.path.join(parent, "pyvenv.cfg"))
        if parent == current or os.path.isfile(os.path.join(parent, "pyvenv.cfg")):
            return folder, tuple(looked_at)
        current = parent


def _project_files(root: str, folders: list[str]) -> Iterator[str]:
    """The project's Python files; ``folders`` receives every folder walked."""
    count = 0
    for folder, subfolders, names in os.walk(root):
        folders.append(os.path.abspath(folder))
        subfolders[:] = sorted(
            name for name in subfolders
            if name not in SKIPPED_FOLDERS and not os.path.isfile(os.path.join(folder, name, "pyvenv.cfg"))
        )
        for name in sorted(names):
            if name.endswith(".py"):
                count += 1
                if count > MAX_SEARCHED_FILES:
                    return
                yield os.path.abspath(os.path.join(folder, name))


_TORCH_FLOOR = re.compile(r"""(?:^|[\s"',\[])torch\s*(?:\[[^\]]*\])?\s*(?:>=|~=|==|>)\s*(\d+)\.(\d+)""", re.MULTILINE)
METADATA_FILES = ("pyproject.toml", "setup.cfg", "setup.py", "requirements.txt", "requirements-base.txt", "requirements/base.txt", "requirements/main.txt")


def _declared_torch_floor(root: str) -> Optional[tuple[int, int]]:
    floors = []
    for name in METADATA_FILES:
        try:
            with open(os.path.join(root, name), encoding="utf-8", errors="replace") as handle:
                text = handle.read(200_000)
        except OSError:
            continue
        floors.extend((int(major), int(minor)) for major, minor in _TORCH_FLOOR.findall(text))
    return min(floors) if floors else None
