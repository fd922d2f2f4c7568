"""The cache: a file gets its previous outcome, without being parsed, when nothing its findings
depend on has changed.

A file's findings depend on four things, and an entry is used only when all four are the same:

- its bytes (a SHA-256 of them: a touched but unchanged file still hits);
- torchlint itself: its version and a hash of its own source files, so an edited checkout never
  reuses what an older rule found;
- its settings (the resolved configuration that governs it);
- the state of every other file and folder the project index consulted to answer its questions
  (the module a ``from model import Net`` names, a project's metadata, the files searched for a
  helper's callers), recorded while it was linted (``ProjectIndex.recording``): a file's content
  hash, a folder's modification time (it changes when an entry is added or removed), or the
  path's absence. Creating ``model.py`` where none was found invalidates the importer as surely
  as editing it. Contents, not modification times, because a file rewritten within the clock's
  resolution keeps its time; each file is hashed once per run.

There is one entry per file and settings, overwritten when the file changes, so the cache grows
with the project and not with its history. Entries are JSON, never pickle: a cache folder that
came with a cloned repository must not be able to run code. Writes go through a temporary file
and a rename, so parallel workers and interrupted runs never leave half an entry; an entry that
cannot be read is a miss. Nothing here imports libcst: a warm run never loads the analysis.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import Optional

from torchlint import __version__
from torchlint.config import Config
from torchlint.findings import Edit, Finding, Fix, FixSafety

DEFAULT_DIRECTORY = ".torchlint_cache"
TAG_FILE = "CACHEDIR.TAG"  # marks a folder as a cache (https://bford.info/cachedir/)
FORMAT = 1  # bump when the entry layout changes

FileState = Optional[str]  # a file's content hash, "folder <mtime>", or None when absent
Outcome = tuple[list[Finding], list[str], Optional[str]]


def default_directory() -> str:
    """``$TORCHLINT_CACHE_DIR``, else ``.torchlint_cache`` in the working directory."""
    return os.environ.get("TORCHLINT_CACHE_DIR") or DEFAULT_DIRECTORY


def file_state(path: str, known: Optional[dict] = None) -> FileState:
    """What a finding may depend on at ``path``. ``known`` remembers the hashes already taken,
    by the file's identity and modification time, so a file is read once however often asked."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    if stat.S_ISDIR(status.st_mode):
        return f"folder {status.st_mtime_ns}"
    identity = (path, status.st_ino, status.st_size, status.st_mtime_ns)
    if known is not None and identity in known:
        return known[identity]
    try:
        with open(path, "rb") as handle:
            state = _digest(handle.read())
    except OSError:
        state = "unreadable"
    if known is not None:
        known[identity] = state
    return state


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """torchlint's version and the hash of its own source files."""
    digest = hashlib.sha256(f"{__version__}:{FORMAT}".encode())
    package = Path(__file__).resolve().parent
    for source in sorted(package.rglob("*.py")):
        if "_fixtures" in source.relative_to(package).parts:
            continue  # a wheel's copy of the verifier's programs: they decide no finding
        digest.update(source.relative_to(package).as_posix().encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()[:20]


class Cache:
    def __init__(self, directory: str) -> None:
        self.directory = os.path.join(directory, code_fingerprint())
        self._hashes: dict = {}  # for file_state

    def lookup(self, path: str, data: str | bytes, config: Config) -> Optional[Outcome]:
        """The stored outcome of this file with these bytes and settings, if still valid."""
        try:
            with open(self._entry(path, config), encoding="utf-8") as handle:
                entry = json.load(handle)
            if entry["content"] != _digest(data):
                return None
            for dependency, state in entry["depends_on"]:
                if file_state(dependency, self._hashes) != state:
                    return None
            return [_finding(item) for item in entry["findings"]], list(entry["errors"]), entry["skipped"]
        except (OSError, ValueError, KeyError, TypeError):
            return None  # no entry, or one this version cannot read: lint the file

    def store(self, path: str, data: str | bytes, config: Config, outcome: Outcome, depends_on: dict[str, FileState]) -> None:
        findings, errors, skipped = outcome
        if any(line.startswith("error:") for line in errors):
            return  # a rule that raised is not remembered: the next run tries again
        entry = {
            "path": os.path.abspath(path),
            "content": _digest(data),
            "depends_on": sorted(depends_on.items()),
            "findings": [_plain(finding) for finding in findings],
            "errors": errors,
            "skipped": skipped,
        }
        import tempfile  # only a run that writes entries needs it, not the start of every command

        target = self._entry(path, config)
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            self._mark_root()
            descriptor, temporary = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".entry-", suffix=".tmp")
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(entry, handle)
            os.replace(temporary, target)
        except OSError:
            pass  # a read-only or full disk costs speed, never a finding

    def _entry(self, path: str, config: Config) -> str:
        # the path as given too: findings name the file as the command line did
        key = hashlib.sha256(repr((path, os.path.abspath(path), sorted(vars(config).items()))).encode("utf-8", "surrogateescape")).hexdigest()
        return os.path.join(self.directory, key[:2], key + ".json")

    def _mark_root(self) -> None:
        """A ``.gitignore`` and a CACHEDIR.TAG, as ruff and pytest leave them, so the folder is
        neither committed nor backed up."""
        root = os.path.dirname(self.directory)
        ignore = os.path.join(root, ".gitignore")
        if not os.path.exists(ignore):
            with open(ignore, "w", encoding="utf-8") as handle:
                handle.write("# Automatically created by torchlint.\n*\n")
            with open(os.path.join(root, TAG_FILE), "w", encoding="utf-8") as handle:
                handle.write("Signature: 8a477f597d28d172789f06886806bc55\n# This is torchlint's cache: https://bford.info/cachedir/\n")


def _digest(data: str | bytes) -> str:
    """Of a file's bytes, or of the text a host already decoded (the flake8 plugin's lines)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    return hashlib.sha256(data).hexdigest()


def _plain(finding: Finding) -> dict:
    plain = asdict(finding)
    if finding.fix is not None:
        plain["fix"]["safety"] = finding.fix.safety.value
    return plain


def _finding(plain: dict) -> Finding:
    fix = plain.pop("fix")
    if fix is not None:
        fix = Fix(fix["title"], FixSafety(fix["safety"]), tuple(Edit(**edit) for edit in fix["edits"]))
    return Finding(**plain, fix=fix)
