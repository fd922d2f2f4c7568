"""Compare torchlint against a bare libcst parse of the same files, in one process, one run.

Usage: python benchmarks/bench.py [DIR ...]   (default: torch's own nn/optim/data sources)

The design's target: the analysis on top of the parse costs less than the parse itself, so
``lint / parse`` should stay under 2. Ratios measured in one run are what to compare; absolute
seconds on a shared machine are noise. Results are recorded in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import libcst as cst

from torchlint.config import Config
from torchlint import engine
from torchlint.analysis.project import ProjectIndex
from torchlint.engine import _lint_text, discover, lint_paths


def default_corpus() -> list[str]:
    import importlib.util

    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.origin:
        sys.exit("torch is not installed: pass directories to benchmark")
    root = Path(spec.origin).parent
    return [str(root / "nn"), str(root / "optim"), str(root / "utils" / "data")]


def main(argv: list[str]) -> None:
    roots = argv or default_corpus()
    files, _ = discover(roots, Config())
    sources = [Path(path).read_text(encoding="utf-8", errors="replace") for path in files]
    lines = sum(source.count("\n") for source in sources)
    all_rules = Config(select=("TL",))
    for source in sources[:3]:  # warm up both paths so neither pays the first-call costs
        _lint_text(source, "warm-up.py", all_rules)

    start = time.perf_counter()
    for source in sources:
        cst.parse_module(source)
    parse = time.perf_counter() - start

    engine._PROJECT = ProjectIndex()  # a cold start: files parsed while warming up are forgotten
    start = time.perf_counter()
    findings = sum(len(_lint_text(source, path, all_rules)[0]) for path, source in zip(files, sources))
    lint = time.perf_counter() - start

    engine._PROJECT = ProjectIndex()  # or the worker processes would inherit the parsed files
    start = time.perf_counter()
    lint_paths(roots, all_rules)
    parallel = time.perf_counter() - start

    print(f"{len(files)} files, {lines} lines, {findings} findings")
    print(f"bare libcst parse, 1 process:   {parse:6.2f} s  {lines / parse:8.0f} lines/s")
    print(f"torchlint, 1 process:           {lint:6.2f} s  {lines / lint:8.0f} lines/s  ({lint / parse:.2f} x parse)")
    print(f"torchlint, all cores (CLI path):{parallel:6.2f} s  {lines / parallel:8.0f} lines/s  ({parallel / parse:.2f} x parse)")


if __name__ == "__main__":
    main(sys.argv[1:])
