"""A run over paths: find the files, answer what the cache can, lint the rest (in a process pool
when there are enough of them), and gather the outcomes in the order of the files.

Nothing here imports libcst or the rules: a run whose every file is answered by the cache (the
editor's save, the commit hook on unchanged files) never loads the analysis (``engine.py``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Sequence

from torchlint.cache import Cache
from torchlint.config import Config, Settings
from torchlint.findings import Finding
from torchlint.source import file_size

PARALLEL_THRESHOLD = 8  # below this many files, starting worker processes costs more than it saves
MAX_BATCH = 32  # files a worker takes at once
Progress = Callable[[int, int], None]  # (files done, files in all)


@dataclass
class LintResult:
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # one line each: missing paths, internal errors
    files_checked: int = 0
    skipped: list[str] = field(default_factory=list)  # one line each: a file left out on purpose, and why
    fixed: list[Finding] = field(default_factory=list)  # the findings whose fixes were applied (or would be, for a diff)
    diffs: list[str] = field(default_factory=list)  # unified diffs, one per file a fix changes (fix="diff")
    cached: int = 0  # files answered by the cache


def lint_paths(paths: Sequence[str], config: Optional[Config | Settings] = None, jobs: Optional[int] = None,
               fix: Optional[str] = None, force_exclude: bool = False, cache_dir: Optional[str] = None,
               progress: Optional[Progress] = None) -> LintResult:
    """Lint the files under ``paths``. With ``fix="write"`` the fixes ``config`` allows are
    applied to the files first and the findings that remain are returned; with ``fix="diff"``
    nothing is written and ``diffs`` holds what would change. ``force_exclude`` applies the
    excludes to files named explicitly too. With ``Settings``, each file gets the configuration
    nearest to it; a directory is searched with the one nearest to it. With ``cache_dir``, files
    whose findings cannot have changed are answered from there (never when fixing)."""
    settings = config if isinstance(config, Settings) else Settings(fixed=config or Config())
    files, errors = [], []
    for path in paths:
        found, problems = discover([path], settings.for_path(path), force_exclude)
        files.extend(found)
        errors.extend(problems)
    files = sorted(dict.fromkeys(files))
    configs = [settings.for_path(path) for path in files]
    result = LintResult(errors=errors, files_checked=len(files))
    if fix is not None:
        cache_dir = None  # fixing reads and writes the files themselves
    cache = Cache(cache_dir) if cache_dir is not None else None

    outcomes: list = [None] * len(files)
    for position, (path, file_config) in enumerate(zip(files, configs)):
        hit = _cached(cache, path, file_config)
        if hit is not None:
            outcomes[position] = (hit, [], None)
            result.cached += 1
    missing = [position for position, outcome in enumerate(outcomes) if outcome is None]
    done = len(files) - len(missing)
    if progress is not None:
        progress(done, len(files))
    for index, outcome in _lint_files([files[i] for i in missing], [configs[i] for i in missing], fix, cache_dir, jobs):
        outcomes[missing[index]] = outcome
        done += 1
        if progress is not None:
            progress(done, len(files))

    for (findings, file_errors, skipped), fixed, diff in outcomes:
        result.findings.extend(findings)
        result.errors.extend(file_errors)
        result.fixed.extend(fixed)
        if diff:
            result.diffs.append(diff)
        if skipped is not None:
            result.skipped.append(skipped)
            result.files_checked -= 1
    result.findings.sort()
    result.fixed.sort()
    return result


def _cached(cache: Optional[Cache], path: str, config: Config):
    if cache is None:
        return None
    try:
        with open(path, "rb") as handle:
            data = handle.read(config.max_file_bytes + 1)
    except OSError:
        return None  # the engine reports it
    return cache.lookup(path, data, config)


def _lint_files(files: list[str], configs: list[Config], fix: Optional[str], cache_dir: Optional[str], jobs: Optional[int]) -> Iterable:
    """(index in ``files``, (outcome, fixed findings, diff)) for each file, as they complete."""
    if not files:
        return
    from torchlint.engine import lint_file  # the analysis, only for files the cache could not answer

    jobs = jobs or os.cpu_count() or 1
    if jobs > 1 and len(files) >= PARALLEL_THRESHOLD:
        yield from _lint_in_pool(files, configs, fix, cache_dir, jobs)
    else:
        for index, (path, file_config) in enumerate(zip(files, configs)):
            yield index, lint_file(path, file_config, fix, cache_dir)


def _lint_in_pool(files: list[str], configs: list[Config], fix: Optional[str], cache_dir: Optional[str], jobs: int) -> Iterable:
    """The files in batches over a pool of worker processes, each worker working through a
    region of its own: consecutive folders of the sorted files, so of one project.

    A worker keeps the files it parsed for the files that import them, so the fewer workers
    see a project, the fewer times its shared modules are parsed: batches dealt out in turn
    had both workers parse them, 20% more parses on the benchmark. A worker that runs out of
    its region takes batches from the far end of the region with the most left, so no worker
    idles at the end. Only one batch per worker is in flight: the next is sent when one comes
    back, and the worker that sent it back is the idle one that receives it."""
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    batches = _batches(files, max(1, min(MAX_BATCH, len(files) // (jobs * 4))))
    workers = min(jobs, len(batches))
    regions = _regions([sum(file_size(files[i]) for i in batch) for batch in batches], workers)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        running: dict = {}

        def send_next(region: int) -> None:
            taken = _take(regions, region)
            if taken is not None:
                batch = batches[taken]
                running[pool.submit(lint_batch, [(files[i], configs[i], fix, cache_dir) for i in batch])] = (batch, region)

        for region in range(workers):
            send_next(region)
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                batch, region = running.pop(future)
                try:
                    outcomes = future.result()
                except BrokenProcessPool:  # a worker killed (out of memory, a crash in a parser)
                    lost = [*batch, *(i for other, _ in running.values() for i in other),
                            *(i for left in regions for taken in left for i in batches[taken])]
                    yield from ((i, _lost(files[i])) for i in sorted(lost))
                    return
                send_next(region)
                yield from zip(batch, outcomes)


def _regions(sizes: list[int], workers: int) -> list:
    """The batches' positions cut into ``workers`` runs of consecutive batches of about equal
    size (in bytes)."""
    from collections import deque

    total = sum(sizes) or 1
    regions = [deque() for _ in range(workers)]
    before = 0
    for position, size in enumerate(sizes):
        # a batch belongs to the region its middle falls in
        regions[min(workers - 1, (before + size // 2) * workers // total)].append(position)
        before += size
    return regions


def _take(regions: list, region: int) -> Optional[int]:
    """The next batch for the worker of ``region``: the first left in its own region, or else
    the last of the region with the most batches left."""
    if regions[region]:
        return regions[region].popleft()
    fullest = max(regions, key=len)
    return fullest.pop() if fullest else None


def _lost(path: str) -> tuple:
    message = f"error: internal error on {path}: the worker process linting it stopped (killed, or out of memory); no findings for this file"
    return ([], [message], None), [], None


def _batches(files: list[str], size: int) -> list[list[int]]:
    """Positions of ``files`` (sorted) in consecutive batches of at most ``size``, each starting
    a new folder where it can: a folder's files stay together unless the folder is larger."""
    batches: list[list[int]] = []
    for position, path in enumerate(files):
        current = batches[-1] if batches else None
        same_folder = current is not None and os.path.dirname(files[current[-1]]) == os.path.dirname(path)
        if current is None or len(current) >= size or (not same_folder and len(current) >= size // 2):
            batches.append([position])
        else:
            current.append(position)
    return batches


def lint_batch(tasks: list[tuple]) -> list:
    from torchlint.engine import lint_file

    return [lint_file(*task) for task in tasks]


def discover(paths: Sequence[str], config: Config, force_exclude: bool = False) -> tuple[list[str], list[str]]:
    """Python files and notebooks under the given paths (those ``include`` names and ``exclude``
    does not). Explicit files are always linted, even if excluded, unless ``force_exclude``."""
    files: list[str] = []
    errors: list[str] = []
    for path in paths:
        if os.path.isfile(path):  # regular files only: a FIFO named x.py would block the run
            if not (force_exclude and config.is_excluded_with_parents(path)):
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


