"""``torchlint verify``: argument parsing, the report and the exit code.

Exit codes: 0 every selected rule passed (or declares no runtime symptom and is statically
right), 1 a rule failed or could not be verified, 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from torchlint import registry
from torchlint.rule import Rule
from torchlint.verifier.child import NO_TORCH
from torchlint.verifier.runner import DEFAULT_MEMORY_LIMIT, ERROR, FAIL, PASS, SKIP, RuleVerdict, default_fixtures_dir, verify_rules
from torchlint.verifier.fixed import FIXED_NAME, fixed_bad, is_fixable

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class VerifyUsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise VerifyUsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="torchlint verify",
        description="Run each rule's fixture programs (fixtures/<rule module>/bad.py and good.py) and check the "
        "rule's runtime claim: the bug visibly happens in bad.py and not in good.py. Also checks that the "
        "static linter flags bad.py and leaves good.py clean. Needs torch (pip install 'torchlint[verify]').",
        epilog="The default fixtures are those torchlint was built with: the fixtures/ folder of a source "
        "checkout (or editable install), else the copy an installed wheel carries as torchlint/_fixtures/. "
        "Only fixture programs are run, never the code torchlint lints. "
        "Exit codes: 0 every selected rule passed, 1 a rule failed or errored, 2 usage error.",
    )
    parser.add_argument("--select", metavar="CODES", help="comma-separated codes, prefixes or names of the rules to verify (default: every rule)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where the fixture programs run; auto picks CUDA when available (default: auto)")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    parser.add_argument("--timeout", type=float, default=60.0, metavar="S", help="seconds each fixture program may run before it is killed (default: 60)")
    parser.add_argument("--fixtures", metavar="DIR", help="a folder of <rule module name>/bad.py,good.py (default: the fixtures/ of the source checkout, "
                        "else those the installed wheel carries); "
                        "with this option, only the selected rules that have a folder there are verified")
    parser.add_argument("--jobs", type=int, default=None, metavar="N", help="fixture programs run at once (default: one per core)")
    parser.add_argument("--memory-limit", type=float, default=DEFAULT_MEMORY_LIMIT / 2 ** 30, metavar="GIB",
                        help="address space each CPU fixture program may use before it fails with MemoryError (default: 4)")
    parser.add_argument("--write-fixed", action="store_true", help="write each fixable rule's bad.fixed.py (what --fix makes of its bad.py) instead of verifying, and exit")
    return parser


def verify_main(argv: Sequence[str]) -> int:
    try:
        options = build_parser().parse_args(list(argv))
        rules, fixtures = _selection(options)
        device = _device(options.device, options.timeout)
    except (VerifyUsageError, registry.UnknownCodeError) as error:
        print(f"torchlint verify: error: {error}", file=sys.stderr)
        print("usage: torchlint verify [--select CODES] [--device auto|cpu|cuda] [--format text|json] "
              "[--timeout S] [--fixtures DIR]; see 'torchlint verify --help'", file=sys.stderr)
        return EXIT_USAGE

    if options.write_fixed:
        return write_fixed(rules, fixtures)
    started = time.perf_counter()
    verdicts = verify_rules(rules, fixtures, device=device, timeout=options.timeout, jobs=options.jobs or os.cpu_count() or 1,
                            memory_limit=int(options.memory_limit * 2 ** 30))
    elapsed = time.perf_counter() - started
    if options.format == "json":
        print(json.dumps(_as_json(verdicts, options.device, fixtures, elapsed), indent=2))
    else:
        sys.stdout.write(render_text(verdicts, options.device, fixtures, elapsed))
    return EXIT_OK if all(verdict.verdict in (PASS, SKIP) for verdict in verdicts) else EXIT_FAILED


def write_fixed(rules: Sequence[type[Rule]], fixtures: Path) -> int:
    """Write the selected fixable rules' bad.fixed.py; exit 1 when a bad.py gives the fix nothing to do."""
    unfixed = 0
    for rule in rules:
        if not is_fixable(rule):
            continue
        fixed = fixed_bad(rule, fixtures)
        bad = fixtures / rule.module_name() / "bad.py"
        if fixed is None:
            continue
        if fixed == bad.read_bytes():
            print(f"{rule.CODE}: --fix changes nothing in {bad}: give it a case the fix repairs", file=sys.stderr)
            unfixed += 1
            continue
        target = bad.with_name(FIXED_NAME)
        if not target.is_file() or target.read_bytes() != fixed:
            target.write_bytes(fixed)
            print(f"wrote {target}")
    return EXIT_FAILED if unfixed else EXIT_OK


def _selection(options) -> tuple[list[type[Rule]], Path]:
    if options.timeout <= 0:
        raise VerifyUsageError("--timeout must be positive")
    if options.memory_limit <= 0:
        raise VerifyUsageError("--memory-limit must be positive")
    if options.jobs is not None and options.jobs < 1:
        raise VerifyUsageError("--jobs must be at least 1")
    rules = list(registry.all_rules())
    if options.select is not None:
        selectors = [part.strip() for part in options.select.split(",") if part.strip()]
        if not selectors:
            raise VerifyUsageError("--select needs at least one code")
        registry.check_selectors(selectors)
        rules = [rule for rule in rules if registry.is_selected(rule.CODE, rule.NAME, True, selectors, [], [])]
        if not rules:
            raise VerifyUsageError(f"--select {options.select} selects no rule")
    if options.fixtures is None:
        fixtures = default_fixtures_dir()
        if not fixtures.is_dir():
            raise VerifyUsageError(f"no fixtures folder at {fixtures}: this torchlint was installed without its "
                                   "fixtures (a wheel and a source checkout have them); pass --fixtures DIR")
        return rules, fixtures
    fixtures = Path(options.fixtures)
    if not fixtures.is_dir():
        raise VerifyUsageError(f"--fixtures {options.fixtures}: not a directory")
    rules = [rule for rule in rules if (fixtures / rule.module_name()).is_dir()]
    if not rules:
        raise VerifyUsageError(f"--fixtures {options.fixtures}: no folder named after a selected rule's module "
                               "(such as missing_zero_grad/)")
    return rules, fixtures


def _device(requested: str, timeout: float) -> str:
    """``cuda`` must exist (asked of torch in a subprocess: this process never imports torch)."""
    if requested != "cuda":
        return requested  # "auto" is resolved by each child, which reports the device it used
    probe = "import sys\ntry:\n import torch\nexcept ImportError:\n sys.exit(3)\nsys.exit(0 if torch.cuda.is_available() else 4)"
    try:
        status = subprocess.run([sys.executable, "-c", probe], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, timeout=max(timeout, 30.0)).returncode
    except subprocess.TimeoutExpired:
        raise VerifyUsageError("--device cuda: checking for CUDA timed out") from None
    if status == 3:
        raise VerifyUsageError(f"--device cuda: {NO_TORCH}")
    if status != 0:
        raise VerifyUsageError("--device cuda: CUDA is not available here (torch.cuda.is_available() is False); use --device cpu or auto")
    return "cuda"


# -- output ----------------------------------------------------------------------------------


def _number(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def render_text(verdicts: Sequence[RuleVerdict], device: str, fixtures: Path, elapsed: float) -> str:
    out = [f"torchlint verify: {len(verdicts)} rule{'s' if len(verdicts) != 1 else ''}, --device {device}, fixtures {fixtures}", ""]
    for verdict in verdicts:
        rule = verdict.rule
        times = " + ".join(f"{run.variant} {run.seconds:.1f} s" for run in verdict.runs) or "not run"
        out.append(f"{rule.CODE} {rule.NAME}: {verdict.verdict}  (device {verdict.device}, {times})")
        out.append(f"  static   {verdict.static.summary if verdict.static else '-'}")
        for index, (description, holds) in enumerate(verdict.checks):
            out.append(f"  {'claim' if index == 0 else '':7}  [{'holds' if holds else 'FAILS'}] {description}")
        bad = verdict.bad.observation if verdict.bad and verdict.bad.observation else {}
        good = verdict.good.observation if verdict.good and verdict.good.observation else {}
        fixed = verdict.fixed.observation if verdict.fixed and verdict.fixed.observation else None
        keys = list(dict.fromkeys([*bad, *good]))
        if keys:
            width = max(len(key) for key in keys)
            extra = f"  {'bad.fixed':>12}" if fixed is not None else ""
            out.append(f"  {'numbers':7}  {'':{width}}  {'bad':>12}  {'good':>12}{extra}")
            for key in keys:
                extra = f"  {_number(fixed.get(key)):>12}" if fixed is not None else ""
                out.append(f"  {'':7}  {key:{width}}  {_number(bad.get(key)):>12}  {_number(good.get(key)):>12}{extra}")
        if verdict.reason and verdict.verdict != PASS:
            out.append(f"  {'reason':7}  {verdict.reason}")
        out.append("")

    header = ("RULE", "NAME", "DEVICE", "STATIC", "CHECKS", "VERDICT", "TIME")  # TIME: all its programs, added
    rows = []
    for verdict in verdicts:
        held = sum(holds for _, holds in verdict.checks)
        checks = f"{held}/{len(verdict.checks)} hold" if verdict.checks else "-"
        static = "ok" if verdict.static and verdict.static.ok else ("-" if verdict.static is None else "MISMATCH")
        rows.append((verdict.rule.CODE, verdict.rule.NAME, verdict.device, static, checks, verdict.verdict, f"{verdict.seconds:.1f}s"))
    widths = [max(len(str(row[column])) for row in [header, *rows]) for column in range(len(header))]
    for row in [header, *rows]:
        out.append("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())
    counts = {kind: sum(verdict.verdict == kind for verdict in verdicts) for kind in (PASS, FAIL, ERROR, SKIP)}
    summary = f"{counts[PASS]} passed, {counts[FAIL]} failed, {counts[ERROR]} errors"
    if counts[SKIP]:
        summary += f", {counts[SKIP]} without runtime symptom"
    out.append("")
    out.append(f"{summary} in {elapsed:.1f} s wall time.")
    return "\n".join(out) + "\n"


def _as_json(verdicts: Sequence[RuleVerdict], device: str, fixtures: Path, elapsed: float) -> dict:
    return {
        "device": device,
        "fixtures": str(fixtures),
        "seconds": round(elapsed, 3),
        "summary": {kind.lower(): sum(verdict.verdict == kind for verdict in verdicts) for kind in (PASS, FAIL, ERROR, SKIP)},
        "ok": all(verdict.verdict in (PASS, SKIP) for verdict in verdicts),
        "rules": [verdict.to_json() for verdict in verdicts],
    }
