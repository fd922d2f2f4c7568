"""Runs the fixture programs of the selected rules and judges each rule's runtime claim.

One rule's verdict:

- ERROR: a fixture program is missing, crashed, timed out, has no ``observe()``, returned
  something that is not plain numbers, torch is missing, or the claim could not be evaluated;
- FAIL: a check of ``runtime_claim`` does not hold, or the static linter does not flag ``bad.py``
  exactly on its ``# expect:`` lines, or flags ``good.py``; for a rule with a fix, the claim
  does not hold with ``bad.fixed.py`` in the place of ``good.py`` (the fixed program must behave
  like the good one), ``bad.fixed.py`` is not what ``--fix`` makes of ``bad.py``, or the rule
  still flags it;
- PASS: every check holds and the static result matches;
- SKIP: the rule declares ``NO_RUNTIME_SYMPTOM``; only its static result is checked.

No torch here: the programs run in subprocesses (``torchlint/verifier/child.py``, run by path).
"""

from __future__ import annotations

import importlib.resources
import json
import os
import signal
import site
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Sequence

import torchlint
from torchlint.config import Config
from torchlint.engine import lint_source
from torchlint.source import decode
from torchlint.expectations import expected_findings
from torchlint.rule import Rule
from torchlint.verifier import child
from torchlint.verifier.child import MARKER
from torchlint.verifier.fixed import FIXED_NAME, fixed_bad, is_fixable

PASS, FAIL, ERROR, SKIP = "PASS", "FAIL", "ERROR", "SKIP"
VARIANTS = ("bad", "good")
FIXED = "fixed"  # bad.fixed.py, for rules with a fix


def default_fixtures_dir() -> Path:
    """The fixtures this torchlint was built with.

    In a source checkout, an editable install or an unpacked sdist, the ``fixtures/`` folder
    beside the package (the one contributors edit, so the verifier sees their changes at once);
    in an installed wheel, its copy ``torchlint/_fixtures/`` (made by setup.py at build time).
    The checkout is recognised by its ``pyproject.toml``, so that a stray ``fixtures/`` folder in
    site-packages is never taken for it.
    """
    root = Path(torchlint.__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "fixtures").is_dir():
        return root / "fixtures"
    # a real folder: the programs run in subprocesses by path (a zipped install has none)
    return Path(str(importlib.resources.files("torchlint") / "_fixtures"))


@dataclass
class ProgramRun:
    variant: str  # "bad" or "good"
    path: str
    observation: Optional[dict] = None
    device: Optional[str] = None  # the device it actually ran on ("auto" resolved by the child)
    error: Optional[str] = None
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"path": self.path, "device": self.device, "observation": _json_safe(self.observation),
                "error": self.error, "seconds": round(self.seconds, 3)}


@dataclass
class StaticCheck:
    ok: bool
    summary: str
    bad_lines: list[int] = field(default_factory=list)
    expected_lines: list[int] = field(default_factory=list)
    good_lines: list[int] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"ok": self.ok, "summary": self.summary, "bad_lines": self.bad_lines,
                "expected_lines": self.expected_lines, "good_lines": self.good_lines}


@dataclass
class RuleVerdict:
    rule: type[Rule]
    verdict: str
    reason: Optional[str]
    static: Optional[StaticCheck]
    checks: list[tuple[str, bool]]
    bad: Optional[ProgramRun]
    good: Optional[ProgramRun]
    fixed: Optional[ProgramRun] = None  # bad.fixed.py, run for rules with a fix

    @property
    def runs(self) -> list[ProgramRun]:
        return [run for run in (self.bad, self.good, self.fixed) if run is not None]

    @property
    def seconds(self) -> float:
        return sum(run.seconds for run in self.runs)

    @property
    def device(self) -> str:
        devices = {run.device for run in self.runs if run.device}
        return ",".join(sorted(devices)) or "-"

    def to_json(self) -> dict:
        return {
            "code": self.rule.CODE, "name": self.rule.NAME, "module": self.rule.module_name(),
            "verdict": self.verdict, "reason": self.reason, "device": self.device,
            "seconds": round(self.seconds, 3),
            "static": self.static.to_json() if self.static else None,
            "checks": [{"description": description, "holds": holds} for description, holds in self.checks],
            "bad": self.bad.to_json() if self.bad else None,
            "good": self.good.to_json() if self.good else None,
            "fixed": self.fixed.to_json() if self.fixed else None,
        }


# -- running one program ---------------------------------------------------------------------


class _Children:
    """The fixture processes now running, so that an interrupted run can kill them (they lead their
    own process groups, so a terminal's Ctrl-C does not reach them)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._live: set[subprocess.Popen] = set()
        self.closed = False

    def add(self, process: subprocess.Popen) -> None:
        with self._lock:
            self._live.add(process)
            if self.closed:
                _kill(process)

    def discard(self, process: subprocess.Popen) -> None:
        with self._lock:
            self._live.discard(process)

    def kill_all(self) -> None:
        with self._lock:
            self.closed = True
            for process in list(self._live):
                _kill(process)


DEFAULT_MEMORY_LIMIT = 4 * 2 ** 30  # bytes of address space for a CPU fixture: ample for seconds of a small model


def run_program(variant: str, path: Path, device: str, timeout: float, threads: int = 1,
                children: Optional[_Children] = None, memory_limit: int = DEFAULT_MEMORY_LIMIT) -> ProgramRun:
    """Run one fixture file's ``observe(device)`` in a fresh interpreter and read its result."""
    run = ProgramRun(variant, str(path))
    if children is not None and children.closed:
        run.error = "cancelled"
        return run
    if not path.is_file():
        run.error = f"{path} not found"
        return run
    env = dict(os.environ)
    env["TORCHLINT_VERIFY_THREADS"] = str(threads)
    env["TORCHLINT_VERIFY_MEMORY_BYTES"] = str(memory_limit)
    env.setdefault("PYTHONHASHSEED", "0")
    command = [sys.executable, child.__file__, str(path.resolve()), device]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="torchlint-verify-") as scratch:  # files a fixture writes go here
        # relative paths, ~ and tempfile all land in the scratch folder, removed afterwards
        # (torch installed with ``pip install --user`` is still found: the user base stays where it is)
        env.setdefault("PYTHONUSERBASE", site.getuserbase())
        env.update(HOME=scratch, TMPDIR=scratch, TMP=scratch, TEMP=scratch)
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                   cwd=scratch, env=env, text=True, errors="replace",
                                   start_new_session=(os.name == "posix"))
        if children is not None:
            children.add(process)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(process)
            process.communicate()
            run.seconds = time.perf_counter() - started
            run.error = f"timed out after {timeout:g} s"
            return run
        finally:
            if children is not None:
                children.discard(process)
    run.seconds = time.perf_counter() - started
    payload = _payload(stdout)
    if payload is not None and payload.get("ok"):
        run.observation = payload["observation"]
        run.device = payload["device"]
    elif payload is not None:
        run.error = payload.get("reason") or "failed"
    else:
        run.error = _crash_reason(stderr, process.returncode)
    return run


def _kill(process: subprocess.Popen) -> None:
    """Kill the child and anything it started (it leads its own process group)."""
    try:
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    except (ProcessLookupError, PermissionError):
        process.kill()


def _payload(stdout: str) -> Optional[dict]:
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARKER):
            try:
                return json.loads(line[len(MARKER):])
            except ValueError:
                return None
    return None


def _crash_reason(stderr: str, returncode: int) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if lines:
        return f"crashed: {lines[-1]}"
    if returncode is not None and returncode < 0:
        try:
            return f"crashed: killed by {signal.Signals(-returncode).name}"
        except ValueError:
            pass
    return f"crashed: exit status {returncode} and no output"


# -- the static half -------------------------------------------------------------------------


def expected_lines(source: str, code: str) -> list[int]:
    """Lines annotated ``# expect: CODE``."""
    return sorted(line for line, expected_code in expected_findings(source) if expected_code == code)


def static_check(rule: type[Rule], bad_path: Path, good_path: Path) -> StaticCheck:
    """Lint the two fixtures with this rule alone: bad.py flagged on its annotated lines, good.py clean."""
    config = Config(select=(rule.CODE,))
    problems = []
    lines = {}
    sources = {}
    for variant, path in (("bad", bad_path), ("good", good_path)):
        try:
            sources[variant] = decode(path.read_bytes())
        except (OSError, UnicodeDecodeError) as error:
            return StaticCheck(False, f"{variant}.py unreadable: {error}")
        findings = lint_source(sources[variant], str(path), config)
        broken = [finding for finding in findings if finding.code != rule.CODE]
        if broken:
            return StaticCheck(False, f"{variant}.py: {broken[0].code} {broken[0].message}")
        lines[variant] = sorted(finding.line for finding in findings)
    expected = expected_lines(sources["bad"], rule.CODE)
    if not lines["bad"]:
        problems.append("bad NOT flagged")
    elif expected and lines["bad"] != expected:
        problems.append(f"bad flagged at line {_lines(lines['bad'])}, expected {_lines(expected)}")
    if lines["good"]:
        problems.append(f"good flagged at line {_lines(lines['good'])}")
    if not problems:
        summary = f"bad flagged (line {_lines(lines['bad'])}), good clean"
    else:
        parts = list(problems)
        if lines["bad"] and not any(problem.startswith("bad") for problem in problems):
            parts.insert(0, f"bad flagged (line {_lines(lines['bad'])})")
        if not lines["good"]:
            parts.append("good clean")
        summary = ", ".join(parts)
    return StaticCheck(not problems, summary, lines["bad"], expected, lines["good"])


def _lines(numbers: Sequence[int]) -> str:
    return ",".join(str(number) for number in numbers)


# -- the runtime claim -----------------------------------------------------------------------


class _MissingKey(KeyError):
    pass


class _Observed(Mapping):
    """An observation that says which program lacked a key the claim asked for."""

    def __init__(self, values: dict, variant: str):
        self._values = values
        self._variant = variant

    def __getitem__(self, key):
        try:
            return self._values[key]
        except KeyError:
            raise _MissingKey(f"runtime_claim needs {key!r}, which observe() in {self._variant} does not return") from None

    def __iter__(self) -> Iterator:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def evaluate_claim(rule: type[Rule], bad: dict, good: dict, good_name: str = "good.py") -> tuple[list[tuple[str, bool]], Optional[str]]:
    """The claim's checks, or the reason it could not be evaluated."""
    try:
        checks = [(str(description), bool(holds)) for description, holds in rule.runtime_claim(_Observed(bad, "bad.py"), _Observed(good, good_name))]
    except _MissingKey as error:
        return [], error.args[0]
    except NotImplementedError:
        return [], f"{rule.CODE} declares no runtime claim"
    except Exception as error:  # a claim is code too; say what broke, no traceback
        return [], f"runtime_claim raised {type(error).__name__}: {error}"
    if not checks:
        return [], "runtime_claim returned no checks"
    return checks, None


def overrides_runtime_claim(rule: type[Rule]) -> bool:
    return getattr(rule.runtime_claim, "__func__", None) is not getattr(Rule.runtime_claim, "__func__", None)


def no_runtime_symptom(rule: type[Rule]) -> Optional[str]:
    reason = getattr(rule, "NO_RUNTIME_SYMPTOM", None)
    return reason if isinstance(reason, str) and reason.strip() else None


# -- all of it -------------------------------------------------------------------------------


def verify_rules(rules: Sequence[type[Rule]], fixtures: Path, device: str = "cpu", timeout: float = 60.0,
                 jobs: int = 2, memory_limit: int = DEFAULT_MEMORY_LIMIT) -> list[RuleVerdict]:
    """Run every selected rule's two fixture programs, ``jobs`` subprocesses at a time."""
    jobs = max(1, jobs)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    children = _Children()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        try:
            runs = {}
            for rule in rules:
                if no_runtime_symptom(rule):
                    continue
                folder = fixtures / rule.module_name()
                # a missing bad.fixed.py is a static failure of its own (fixed_static_check), not a crash
                fixed = (FIXED,) if is_fixable(rule) and (folder / FIXED_NAME).is_file() else ()
                for variant in VARIANTS + fixed:
                    path = folder / (FIXED_NAME if variant == FIXED else f"{variant}.py")
                    runs[rule, variant] = pool.submit(run_program, variant, path, device, timeout, threads, children, memory_limit)
            statics = {rule: _static_or_none(rule, fixtures) for rule in rules}  # while the programs run
            fixed_statics = {rule: fixed_static_check(rule, fixtures) for rule in rules if is_fixable(rule)}
            return [_judge(rule, statics[rule], runs.get((rule, "bad")), runs.get((rule, "good")), runs.get((rule, FIXED)), fixed_statics.get(rule))
                    for rule in rules]
        except BaseException:  # Ctrl-C, or a bug here: leave no fixture process behind
            children.kill_all()
            raise


def _static_or_none(rule: type[Rule], fixtures: Path) -> Optional[StaticCheck]:
    bad, good = (fixtures / rule.module_name() / f"{variant}.py" for variant in VARIANTS)
    if not bad.is_file() or not good.is_file():
        return None
    return static_check(rule, bad, good)


def _judge(rule: type[Rule], static: Optional[StaticCheck], bad_future, good_future, fixed_future=None,
           fixed_static: Optional[str] = None) -> RuleVerdict:
    folder = rule.module_name()
    if static is None:
        return RuleVerdict(rule, ERROR, f"no fixtures: {folder}/bad.py and {folder}/good.py are both required", None, [], None, None)
    skip_reason = no_runtime_symptom(rule)
    if skip_reason:
        verdict = SKIP if static.ok else FAIL
        return RuleVerdict(rule, verdict, f"no runtime symptom: {skip_reason}", static, [], None, None)
    bad, good = bad_future.result(), good_future.result()
    fixed = fixed_future.result() if fixed_future is not None else None
    failed = [run for run in (bad, good, fixed) if run is not None and run.error]
    if failed:
        reason = "; ".join(f"{Path(run.path).name}: {run.error}" for run in failed)
        return RuleVerdict(rule, ERROR, reason, static, [], bad, good, fixed)
    checks, problem = evaluate_claim(rule, bad.observation, good.observation)
    if problem is None and fixed is not None:
        # the fixed program takes the good one's place in the claim: it must behave like it
        fixed_checks, problem = evaluate_claim(rule, bad.observation, fixed.observation, good_name=FIXED_NAME)
        checks += [(f"with bad.fixed.py as good: {description}", holds) for description, holds in fixed_checks]
    if problem:
        return RuleVerdict(rule, ERROR, problem, static, [], bad, good, fixed)
    failing = [description for description, holds in checks if not holds]
    reasons = [f"claim does not hold: {description}" for description in failing]
    if not static.ok:
        reasons.append(f"static: {static.summary}")
    if fixed_static:
        reasons.append(f"fix: {fixed_static}")
    return RuleVerdict(rule, FAIL if reasons else PASS, "; ".join(reasons) or None, static, checks, bad, good, fixed)


def fixed_static_check(rule: type[Rule], fixtures: Path) -> Optional[str]:
    """What is wrong with a fixable rule's bad.fixed.py, or None: it must be exactly what
    ``--fix`` makes of bad.py, and the rule must no longer flag it."""
    path = fixtures / rule.module_name() / FIXED_NAME
    if not path.is_file():
        return f"{rule.module_name()}/{FIXED_NAME} is missing (torchlint verify --write-fixed writes it)"
    expected = fixed_bad(rule, fixtures)
    if expected is not None and path.read_bytes() != expected:
        return f"{FIXED_NAME} is not what --fix makes of bad.py (torchlint verify --write-fixed rewrites it)"
    remaining = [finding for finding in lint_source(path.read_bytes(), str(path), Config(select=(rule.CODE,))) if finding.code == rule.CODE]
    if remaining:
        return f"the fix leaves {rule.CODE} at line {_lines([finding.line for finding in remaining])} of {FIXED_NAME}"
    return None


def _json_safe(observation: Optional[dict]) -> Optional[dict]:
    """NaN and infinities become strings: the JSON output stays standard JSON."""
    if observation is None:
        return None
    return {key: (repr(value) if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))) else value)
            for key, value in observation.items()}
