"""Robustness sweep: lint whole trees of code nobody here wrote, with every rule on, and fail on
any sign that torchlint itself broke.

Usage (repo root, venv active):

    python benchmarks/sweep.py [--torch] [--stdlib] [--corpus] [--jobs N] [--json PATH]

With no corpus named, all three: (a) the ``.py`` files of the installed torch package, (b) the
standard library of the running interpreter, (c) the precision benchmark's real-code corpus
(``benchmarks/precision``, cached under ``~/.cache/torchlint-precision``; skipped when it has not
been fetched). Code is parsed, never imported or run.

A sweep fails (exit 1) on any internal error:

- an error line from the engine (a rule that raised, a file whose analysis raised, a worker
  that died): torchlint turns all of these into ``internal error`` lines instead of tracebacks;
- a finding at an impossible position (a line past the end of the file, a column past the end
  of its line, an end before the start);
- a file Python's parser rejects without exactly one TL000 finding (or TL001, when it could not
  be read or is too deep to analyse), or a TL000 on a file Python compiles (TL002 is the honest
  answer for valid code libcst cannot read). A file in syntax newer than the running Python that
  libcst reads (``def f[T]()`` under 3.11) is linted, and counted apart.
"""

from __future__ import annotations

import argparse
import ast
import collections
import json
import os
import re
import sys
import sysconfig
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from torchlint.config import Config  # noqa: E402
from torchlint.engine import lint_paths  # noqa: E402
from torchlint.source import decode  # noqa: E402

CORPUS = Path.home() / ".cache" / "torchlint-precision" / "src"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
EVERY_RULE = Config(select=("TL",), exclude=(), include=("*.py",))


def corpora(options) -> dict[str, Path]:
    chosen = {name for name in ("torch", "stdlib", "corpus") if getattr(options, name)} or {"torch", "stdlib", "corpus"}
    found: dict[str, Path] = {}
    if "torch" in chosen:
        import importlib.util

        spec = importlib.util.find_spec("torch")
        if spec is not None and spec.origin:
            found["torch package"] = Path(spec.origin).parent
    if "stdlib" in chosen:
        found["standard library"] = Path(sysconfig.get_paths()["stdlib"])
    if "corpus" in chosen and CORPUS.is_dir():
        found["real-code corpus"] = CORPUS
    return found


def python_files(root: Path) -> list[str]:
    """Every .py file below root, site-packages included (the sweep's point is code as it is)."""
    files = []
    for directory, subdirectories, names in os.walk(root):
        # the standard library's folder also holds the interpreter's site-packages: not stdlib
        subdirectories[:] = sorted(name for name in subdirectories if name not in ("__pycache__", "site-packages", "dist-packages"))
        files.extend(os.path.join(directory, name) for name in sorted(names) if name.endswith(".py") and os.path.isfile(os.path.join(directory, name)))
    return files


def problems_of(files: list[str], findings, errors, newer: list[str]) -> list[str]:
    problems = [f"engine: {message}" for message in errors if "internal error" in message or message.startswith("error:")]
    by_path = collections.defaultdict(list)
    for finding in findings:
        by_path[finding.path].append(finding)
    for path in files:
        try:
            text = decode(Path(path).read_bytes())
        except (OSError, SyntaxError, UnicodeDecodeError, LookupError):
            continue  # TL001's business
        lines = _LINE_BREAK.split(text)
        for finding in by_path.get(path, []):
            if not (1 <= finding.line <= len(lines) and 1 <= finding.column <= len(lines[finding.line - 1]) + 1):
                problems.append(f"position: {path}:{finding.line}:{finding.column} {finding.code} lies outside the file")
            elif (finding.end_line, finding.end_column) < (finding.line, finding.column) or finding.end_line > len(lines):
                problems.append(f"position: {path}:{finding.line}:{finding.column} {finding.code} ends at {finding.end_line}:{finding.end_column}")
        syntax = [finding for finding in by_path.get(path, []) if finding.code == "TL000"]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # SyntaxWarnings of the standard library's own tests
                ast.parse(text, path)
            rejected = False
        except (SyntaxError, ValueError):
            rejected = True
        except (RecursionError, MemoryError):
            continue  # too deep for Python itself: TL001 or TL000 are both honest
        # Errors only Python's compiler finds (a misplaced ``from __future__``) are not looked for
        # in files libcst parses: compiling every file would cost more than linting it. Such a
        # file may get TL000 (when libcst rejects it too) or nothing; both are accepted here.
        if not rejected and syntax and not _compiler_rejects(text, path):
            problems.append(f"syntax: {path}: Python accepts it, but it got {syntax[0].code} {syntax[0].message}")
        if rejected and len(syntax) != 1 and not any(finding.code == "TL001" for finding in by_path.get(path, [])):
            if not syntax and _libcst_parses(text):
                # syntax newer than this interpreter (``def f[T]()`` on 3.11) that libcst reads:
                # the file is linted, as it should be for a project on a newer Python
                newer.append(path)
                continue
            problems.append(f"syntax: {path}: Python's parser rejects it, and it has {len(syntax)} TL000 findings")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("torch", "stdlib", "corpus"):
        parser.add_argument(f"--{name}", action="store_true", help=f"sweep the {name} corpus")
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--json", metavar="PATH", help="also write the counts as JSON")
    options = parser.parse_args(argv)

    report, failed = {}, False
    for name, root in corpora(options).items():
        files = python_files(root)
        started = time.perf_counter()
        result = lint_paths(files, EVERY_RULE, jobs=options.jobs)
        seconds = time.perf_counter() - started
        newer: list[str] = []
        problems = problems_of(files, result.findings, result.errors, newer)
        codes = collections.Counter(finding.code for finding in result.findings)
        report[name] = {
            "root": str(root), "files": len(files), "lines": sum(_count_lines(path) for path in files),
            "seconds": round(seconds, 1), "findings": len(result.findings), "by_code": dict(sorted(codes.items())),
            "syntax_findings": codes.get("TL000", 0), "unsupported": codes.get("TL002", 0), "unreadable": codes.get("TL001", 0),
            "internal_errors": len(problems), "newer_syntax_files": newer,
        }
        print(f"{name}: {len(files)} files in {seconds:.0f} s, {len(result.findings)} findings, "
              f"TL000 {codes.get('TL000', 0)}, TL001 {codes.get('TL001', 0)}, TL002 {codes.get('TL002', 0)}, internal errors {len(problems)}, "
              f"newer than this Python but read by libcst {len(newer)}", flush=True)
        for problem in problems[:50]:
            print(f"  {problem}")
        for finding in result.findings:
            if finding.code in ("TL000", "TL001", "TL002"):
                print(f"  {finding.path}:{finding.line}:{finding.column}: {finding.code} {finding.message[:140]}")
        failed = failed or bool(problems)
    if options.json:
        Path(options.json).write_text(json.dumps(report, indent=2) + "\n")
    return 1 if failed else 0


def _libcst_parses(text: str) -> bool:
    import libcst

    try:
        libcst.parse_module(text)
    except Exception:
        return False
    return True


def _compiler_rejects(text: str, path: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(text, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return True
    return False


def _count_lines(path: str) -> int:
    try:
        with open(path, "rb") as handle:
            return sum(1 for _ in handle)
    except OSError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
