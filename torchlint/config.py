"""Configuration: a ``torchlint.toml`` (top-level keys) or ``[tool.torchlint]`` in a
pyproject.toml, the nearest at or above each file (ruff's rule), overridden by the command line.

Keys (the words ruff users know): ``select``, ``extend-select``, ``ignore``, ``per-file-ignores``
(a table of glob -> codes, globs relative to the pyproject.toml), ``exclude`` (globs of paths not to
lint when discovering files) and ``extend-exclude``, ``include`` (globs of the files discovery
picks up, ``*.py`` and ``*.ipynb`` by default) and ``extend-include``; ``fixable``, ``unfixable``
and ``unsafe-fixes`` for ``--fix``; ``max-file-size`` (MiB, 5 by default: a larger file is
reported as TL001, not parsed).
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Optional

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

from torchlint import registry
from torchlint.source import MAX_FILE_BYTES

DEFAULT_EXCLUDE = (
    ".git", ".hg", ".svn", ".tox", ".nox", ".venv", "venv", "__pycache__",
    "build", "dist", "node_modules", "site-packages", ".mypy_cache", ".pytest_cache",
    ".ruff_cache", ".eggs", "*.egg-info", ".ipynb_checkpoints",
)
DEFAULT_INCLUDE = ("*.py", "*.ipynb")
KNOWN_KEYS = {"select", "extend-select", "ignore", "per-file-ignores", "exclude", "extend-exclude", "include", "extend-include",
              "fixable", "unfixable", "unsafe-fixes", "max-file-size"}


class ConfigError(Exception):
    """A configuration the user must correct; reported as one line, exit code 2."""


@dataclass(frozen=True)
class Config:
    select: Optional[tuple[str, ...]] = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    extend_exclude: tuple[str, ...] = ()
    include: tuple[str, ...] = DEFAULT_INCLUDE
    extend_include: tuple[str, ...] = ()
    fixable: Optional[tuple[str, ...]] = None  # codes whose fixes may be applied; None: all
    unfixable: tuple[str, ...] = ()
    unsafe_fixes: bool = False  # also apply fixes that may change more than the bug
    max_file_bytes: int = MAX_FILE_BYTES  # larger files are reported (TL001), not parsed
    root: str = "."  # the directory of the pyproject.toml the globs are relative to
    source: Optional[str] = None  # that pyproject.toml, when there is one

    def with_overrides(self, select=None, extend_select=None, ignore=None, unsafe_fixes=None, fixable=None, unfixable=None,
                       exclude=None, extend_exclude=None, per_file_ignores=None) -> "Config":
        """Command-line options: --select, --fixable and --exclude replace, --extend-select,
        --ignore, --unfixable, --extend-exclude and --per-file-ignores add, --unsafe-fixes /
        --no-unsafe-fixes set."""
        changed = self
        if exclude is not None:
            changed = replace(changed, exclude=tuple(exclude))
        if extend_exclude:
            changed = replace(changed, extend_exclude=changed.extend_exclude + tuple(extend_exclude))
        if per_file_ignores:
            registry.check_selectors([code for _, codes in per_file_ignores for code in codes])
            changed = replace(changed, per_file_ignores=changed.per_file_ignores + tuple(per_file_ignores))
        if unsafe_fixes is not None:
            changed = replace(changed, unsafe_fixes=unsafe_fixes)
        if fixable is not None:
            changed = replace(changed, fixable=tuple(fixable))
        if unfixable:
            changed = replace(changed, unfixable=changed.unfixable + tuple(unfixable))
        registry.check_selectors([*(changed.fixable or ()), *changed.unfixable])
        if select is not None:
            changed = replace(changed, select=tuple(select))
        if extend_select:
            changed = replace(changed, extend_select=changed.extend_select + tuple(extend_select))
        if ignore:
            changed = replace(changed, ignore=changed.ignore + tuple(ignore))
        registry.check_selectors([*(changed.select or ()), *changed.extend_select, *changed.ignore])
        return changed

    def is_fixable(self, code: str, name: str) -> bool:
        """Whether ``fixable`` / ``unfixable`` let this rule's fixes be applied (ruff's keys)."""
        return registry.is_selected(code, name, True, self.fixable, (), self.unfixable)

    def applies_fix(self, finding) -> bool:
        """Whether --fix applies this finding's fix: it has one, the rule is fixable, and the
        fix is safe or unsafe fixes were asked for."""
        fix = finding.fix
        return fix is not None and (fix.safety.value == "safe" or self.unsafe_fixes) and self.is_fixable(finding.code, finding.name)

    def is_excluded(self, path: str) -> bool:
        """A pattern without ``/`` matches a file or directory name anywhere below the paths
        being linted (``build``, ``*.egg-info``); one with ``/`` matches the path relative to
        the pyproject.toml (``third_party/*``)."""
        return self._matches(path, (*self.exclude, *self.extend_exclude))

    def is_excluded_with_parents(self, path: str) -> bool:
        """Excluded itself, or inside an excluded directory (up to the configuration's folder):
        ``vendor/lib/x.py`` under ``extend-exclude = ["vendor"]``."""
        current = os.path.abspath(path)
        root = os.path.abspath(self.root)
        if os.path.commonpath([current, root]) != root:
            return self.is_excluded(current)  # outside the project: its own name only
        while True:
            if self.is_excluded(current):
                return True
            parent = os.path.dirname(current)
            if parent == current or current == root:
                return False
            current = parent

    def is_included(self, path: str) -> bool:
        """Whether discovery picks up this file; the patterns read as ``exclude``'s do."""
        return self._matches(path, (*self.include, *self.extend_include))

    def _matches(self, path: str, patterns: tuple[str, ...]) -> bool:
        name = os.path.basename(path)
        relative = None
        for pattern in patterns:
            if "/" not in pattern:
                if fnmatch.fnmatch(name, pattern):
                    return True
            else:
                relative = relative or _relative_posix(path, self.root)
                if fnmatch.fnmatch(relative, pattern.strip("/")):
                    return True
        return False

    def codes_ignored_for(self, path: str) -> tuple[str, ...]:
        if not self.per_file_ignores:
            return ()
        relative = _relative_posix(path, self.root)
        ignored: list[str] = []
        for pattern, codes in self.per_file_ignores:
            if fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(os.path.basename(path), pattern):
                ignored.extend(codes)
        return tuple(ignored)

    def is_code_ignored(self, code: str, name: str, path: Optional[str] = None) -> bool:
        ignore = self.ignore + (self.codes_ignored_for(path) if path else ())
        return not registry.is_selected(code, name, True, None, (), ignore)

    def is_code_enabled(self, code: str, name: str, default_enabled: bool, path: Optional[str] = None) -> bool:
        ignore = self.ignore + (self.codes_ignored_for(path) if path else ())
        return registry.is_selected(code, name, default_enabled, self.select, self.extend_select, ignore)


def _relative_posix(path: str, root: str) -> str:
    try:
        relative = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    except ValueError:  # another drive on Windows
        relative = path
    return PurePosixPath(Path(relative)).as_posix()


CONFIG_FILE = "torchlint.toml"


def find_pyproject(start: str) -> Optional[Path]:
    """The nearest configuration at or above ``start``: a ``torchlint.toml``, or a
    pyproject.toml that has a [tool.torchlint] table (in one folder, torchlint.toml wins).

    A configuration file that cannot be parsed stops the search with an error: we cannot tell
    whether it configures torchlint, and guessing would lint with the wrong settings.
    """
    directory = Path(start).resolve()
    if directory.is_file():
        directory = directory.parent
    for candidate_dir in (directory, *directory.parents):
        if (candidate_dir / CONFIG_FILE).is_file():
            return candidate_dir / CONFIG_FILE
        candidate = candidate_dir / "pyproject.toml"
        if candidate.is_file() and _configures_torchlint(str(candidate), candidate.stat().st_mtime_ns):
            return candidate
    return None


@lru_cache(maxsize=1024)
def _configures_torchlint(path: str, mtime_ns: int) -> bool:
    """Read once per version of the file: a run over thousands of folders asks again and again."""
    return _torchlint_table(_read_toml(Path(path)), Path(path)) is not None


@dataclass(frozen=True)
class Settings:
    """Which configuration governs each file: the nearest one at or above it, with the
    command line's options on top; or, with ``--config``/``--isolated``, one for every file."""

    overrides: tuple[tuple[str, object], ...] = ()
    fixed: Optional[Config] = None

    def for_path(self, path: str) -> Config:
        if self.fixed is not None:
            return self.fixed
        return _config_of_folder(os.path.dirname(os.path.abspath(path)) if not os.path.isdir(path) else os.path.abspath(path), self.overrides)


@lru_cache(maxsize=4096)
def _config_of_folder(folder: str, overrides: tuple[tuple[str, object], ...]) -> Config:
    return load_config(find_pyproject(folder)).with_overrides(**dict(overrides))


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not valid UTF-8 (TOML files must be): {error.reason} at byte {error.start}") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None


def _torchlint_table(data: dict, path: Path) -> Optional[dict]:
    if path.name == CONFIG_FILE:
        return data  # a torchlint.toml holds the settings at its top level
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{path}: `tool` must be a table")
    table = tool.get("torchlint")
    if table is not None and not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.torchlint] must be a table")
    return table


def load_config(pyproject: Optional[Path]) -> Config:
    if pyproject is None:
        return Config()
    table = _torchlint_table(_read_toml(pyproject), pyproject)
    if table is None:  # named with --config: a file without settings is a mistake, not silence
        raise ConfigError(f"{pyproject}: no [tool.torchlint] table (torchlint's settings go there, or at the top level of a {CONFIG_FILE})")
    where = f"{pyproject}" if pyproject.name == CONFIG_FILE else f"{pyproject}: [tool.torchlint]"
    unknown = set(table) - KNOWN_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s): {', '.join(sorted(unknown))} (known: {', '.join(sorted(KNOWN_KEYS))})")

    def codes(key: str) -> Optional[tuple[str, ...]]:
        if key not in table:
            return None
        value = table[key]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{where}: {key} must be a list of rule codes, such as [\"TL3\"]")
        try:
            registry.check_selectors(value)
        except registry.UnknownCodeError as error:
            raise ConfigError(f"{where}: {key}: {error}") from None
        return tuple(value)

    def globs(key: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{where}: {key} must be a list of glob patterns")
        return tuple(value)

    per_file = table.get("per-file-ignores", {})
    if not isinstance(per_file, dict):
        raise ConfigError(f"{where}: per-file-ignores must be a table of \"glob\" = [codes]")
    per_file_ignores = []
    for pattern, value in per_file.items():
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{where}: per-file-ignores.{pattern!r} must be a list of rule codes")
        try:
            registry.check_selectors(value)
        except registry.UnknownCodeError as error:
            raise ConfigError(f"{where}: per-file-ignores: {error}") from None
        per_file_ignores.append((pattern, tuple(value)))

    unsafe_fixes = table.get("unsafe-fixes", False)
    if not isinstance(unsafe_fixes, bool):
        raise ConfigError(f"{where}: unsafe-fixes must be true or false")
    max_file_size = table.get("max-file-size", MAX_FILE_BYTES / 1048576)
    if isinstance(max_file_size, bool) or not isinstance(max_file_size, (int, float)) or not 0 < max_file_size <= 1024:
        raise ConfigError(f"{where}: max-file-size must be a number of MiB between 0 and 1024 (default 5)")
    return Config(
        select=codes("select"),
        fixable=codes("fixable"),
        unfixable=codes("unfixable") or (),
        unsafe_fixes=unsafe_fixes,
        max_file_bytes=int(max_file_size * 1048576),
        extend_select=codes("extend-select") or (),
        ignore=codes("ignore") or (),
        per_file_ignores=tuple(per_file_ignores),
        exclude=globs("exclude") if "exclude" in table else DEFAULT_EXCLUDE,
        extend_exclude=globs("extend-exclude"),
        include=globs("include") if "include" in table else DEFAULT_INCLUDE,
        extend_include=globs("extend-include"),
        root=str(pyproject.parent),
        source=str(pyproject),
    )
