"""Speed and memory of torchlint against the parse floor and its peers, in one run on the same files.

Usage (repo root, venv active):
    python benchmarks/bench.py [--quick] [--skip-peers] [--files N] [--scale-base N] [--write PATH] [DIR ...]

Every measurement is a subprocess started from a temporary directory and given the absolute paths
of the same files: a bare libcst parse and Python's ast.parse (the floor), torchlint without a cache,
filling a cache and reading it back, TorchFix 0.7.0, flake8 with and without the torchlint plugin,
ruff, start-up costs, and a scaling series of 1, 2, 4, 8 and 16 copies of a subset. Peers are installed
into virtualenvs of the benchmark's own (~/.cache/torchlint-bench/), never into the project's. Ratios from one run are what to compare: absolute seconds on a shared machine are noise.
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib.metadata
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS_VENV = Path.home() / ".cache" / "torchlint-bench" / "venv-peers"  # TorchFix, ruff
FLAKE8_VENV = Path.home() / ".cache" / "torchlint-bench" / "venv-flake8"  # flake8 and no plugin
TORCHFIX = "torchfix==0.7.0"
DEFAULT_FILES = 1000  # 13 minutes; the whole corpus (about 9,500 files) over two hours, mostly TorchFix's
BIN = Path(sys.executable).parent  # the project venv's scripts: torchlint, flake8
PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1024 * 1024


# ---------------------------------------------------------------------------------------------
# One measurement helper: a subprocess, its wall time, its rusage from os.wait4, its tree's RSS


@dataclasses.dataclass
class Measurement:
    name: str
    wall: float = 0.0  # seconds, start to exit
    cpu: float = 0.0  # user + sys of the process and every descendant it reaped (os.wait4)
    max_rss: float = 0.0  # MB: ru_maxrss from os.wait4, the largest single process of the tree
    tree_rss: float = 0.0  # MB: highest sum of the RSS of the whole tree, sampled every 0.1 s
    files: int = 0
    lines: int = 0
    note: str = ""  # why there is no number, or what went wrong

    @property
    def ok(self) -> bool:
        return self.wall > 0 and not self.note


def _process_tree_rss(root: int) -> int:
    """Bytes of RSS summed over root and its descendants (pages shared after fork count in each)."""
    children, rss = {}, {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as file:
                fields = file.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)  # fields[1] is the parent's pid
        rss[pid] = int(fields[21]) * PAGE
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, ()))
    return total


def measure(name: str, command: list[str], cwd: Path, files: int = 0, lines: int = 0,
            ok_codes: tuple[int, ...] = (0,), timeout: float | None = None) -> Measurement:
    """Run command once with its output discarded; an exit code outside ok_codes is noted."""
    result = Measurement(name, files=files, lines=lines)
    with tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=stderr, start_new_session=True)
        peak, done = [0], threading.Event()

        def sample() -> None:
            while not done.wait(0.1):
                peak[0] = max(peak[0], _process_tree_rss(process.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        timer = threading.Timer(timeout, os.killpg, (process.pid, 9)) if timeout else None
        if timer:
            timer.start()
        _, status, usage = os.wait4(process.pid, 0)
        result.wall = time.perf_counter() - start
        done.set()
        sampler.join()
        if timer:
            timer.cancel()
        process.returncode = code = os.waitstatus_to_exitcode(status)
        result.cpu = usage.ru_utime + usage.ru_stime
        result.max_rss = usage.ru_maxrss / 1024  # Linux gives KiB
        result.tree_rss = max(peak[0] / MB, result.max_rss)  # a run shorter than one sample has only the latter
        if timer and result.wall >= timeout:
            result.note = f"killed after {timeout:.0f} s"
        elif code not in ok_codes:
            stderr.seek(0)
            tail = stderr.read().decode(errors="replace").strip().splitlines()[-1:] or [""]
            result.note = f"exit {code}: {tail[0][:100]}"
    return result


def best_of(runs: int, name: str, command: list[str], cwd: Path) -> Measurement:
    return min((measure(name, command, cwd) for _ in range(runs)), key=lambda m: m.wall)


# ---------------------------------------------------------------------------------------------
# The bare parse, run by this script in a child process so that its RSS is comparable


def parse_child(parser: str, file_list: str) -> None:
    """Parse every file named in file_list with libcst or ast, in a thread with a large stack
    (libcst's native parser overflows the default one on some generated code, as torchlint knows)."""
    if parser == "libcst":
        import libcst
        parse = libcst.parse_module
    else:
        import ast
        parse = ast.parse
    failures = []

    def run() -> None:
        for path in Path(file_list).read_text(encoding="utf-8").splitlines():
            try:
                parse(Path(path).read_bytes())
            except Exception:  # a file the parser rejects is part of the corpus all the same
                failures.append(path)

    threading.stack_size(512 * MB)
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    print(f"{parser}: {len(failures)} files not parsed", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# The corpus: the precision benchmark's pinned releases plus the installed torch package


def load_precision_module():
    spec = importlib.util.spec_from_file_location("precision_run", HERE / "precision" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclasses.dataclass
class Unit:
    """A whole project of the precision corpus, or one top-level part of the torch package: the
    corpus is sampled by whole units, because a file linted without the files it imports makes the
    project index parse them too, which is not what linting a project costs."""
    label: str
    root: Path  # the copies of the scaling series keep the paths below it
    files: list[Path]


def precision_units() -> list[Unit]:
    """Every corpus.toml package, fetched and cached by precision/run.py's own functions."""
    precision = load_precision_module()
    cache = Path(os.environ.get("TORCHLINT_PRECISION_CACHE", precision.DEFAULT_CACHE)).expanduser().resolve()
    packages = tomllib.loads((precision.HERE / "corpus.toml").read_text(encoding="utf-8"))["package"]
    units = []
    for package in packages:
        package_dir = cache / "src" / f"{package['name']}-{package['version']}"
        if not package_dir.exists():
            precision.extract(precision.download(package, cache), package_dir, strip_top=package["kind"] == "sdist")
        units.append(Unit(package_dir.name, cache / "src", sorted(package_dir.rglob("*.py"))))
    return units


def torch_units() -> list[Unit]:
    """The installed torch's top-level subpackages, and its top-level modules as one more unit."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        print("torch is not installed: the corpus is the precision corpus alone", file=sys.stderr)
        return []
    package = Path(next(iter(spec.submodule_search_locations)))
    units = [Unit("torch/*.py", package.parent, sorted(package.glob("*.py")))]
    for child in sorted(path for path in package.iterdir() if path.is_dir()):
        units.append(Unit(f"torch/{child.name}", package.parent, sorted(child.rglob("*.py"))))
    return [unit for unit in units if unit.files]


def spread_order(count: int) -> list[int]:
    """0 .. count-1 in the order of the van der Corput sequence (0, 1/2, 1/4, 3/4, 1/8, ...):
    each prefix of it is spread evenly over the range."""
    order, seen, index = [], set(), 0
    while len(order) < count:
        fraction, denominator, rest = 0.0, 1, index
        while rest:
            denominator *= 2
            fraction += (rest % 2) / denominator
            rest //= 2
        position = int(fraction * count)
        if position not in seen:
            seen.add(position)
            order.append(position)
        index += 1
    return order


def choose(units: list[Unit], most: int) -> list[Unit]:
    """Whole units spread evenly over the list, as many as fit in `most` files (0: all of them)."""
    if not most:
        return list(units)
    chosen, total = set(), 0
    for index in spread_order(len(units)):
        if total + len(units[index].files) <= most:
            chosen.add(index)
            total += len(units[index].files)
    # a unit larger than the budget alone: the smallest unit rather than nothing
    return [unit for index, unit in enumerate(units) if index in chosen] or [min(units, key=lambda unit: len(unit.files))]


def corpus_name(units: list[Unit]) -> str:
    torch = [unit for unit in units if unit.label.startswith("torch/")]
    real = [unit for unit in units if unit not in torch]
    return (f"the {len(real)} projects of the precision corpus ({sum(len(unit.files) for unit in real):,} files) "
            f"and the installed torch's {len(torch)} top-level parts ({sum(len(unit.files) for unit in torch):,} files)")


def describe(chosen: list[Unit], units: list[Unit], lines: int, name: str) -> str:
    files = sum(len(unit.files) for unit in chosen)
    if len(chosen) == len(units):
        return f"{files:,} files, {lines:,} lines: {name}."
    return (f"{files:,} files, {lines:,} lines: a sample of whole units spread evenly over {name}: "
            f"{', '.join(unit.label for unit in chosen)}.")


def line_count(files: list[Path]) -> int:
    return sum(path.read_bytes().count(b"\n") for path in files)


# ---------------------------------------------------------------------------------------------
# The tools


def torchlint_command(*args: str) -> list[str]:
    script = BIN / "torchlint"
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "torchlint", *args]


def plugin_has_cache() -> bool:
    result = subprocess.run([str(BIN / "flake8"), "--help"], capture_output=True, text=True)
    return "--torchlint-no-cache" in result.stdout


def torchlint_has_cache() -> bool:
    help_text = subprocess.run(torchlint_command("--help"), capture_output=True, text=True).stdout
    return "--no-cache" in help_text


def tool_version(python: Path, distribution: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({distribution!r}))"
    result = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else ""


def flake8_pins() -> list[str]:
    """The project venv's flake8 and its default plugins, so that both flake8 runs are the same code."""
    return [f"{name}=={importlib.metadata.version(name)}" for name in ("flake8", "pycodestyle", "pyflakes", "mccabe")]


def installed(python: Path, requirement: str) -> bool:
    name, _, version = requirement.partition("==")
    found = tool_version(python, name)
    return bool(found) and (not version or found == version)


def ensure_venv(venv: Path, wanted: list[str]) -> str:
    """Create venv and install the wanted requirements (name==version or a bare name) once.
    Returns why it failed, or ''."""
    python = venv / "bin" / "python"
    if python.exists() and all(installed(python, spec) for spec in wanted):
        return ""
    print(f"installing {', '.join(wanted)} into {venv}", file=sys.stderr)
    steps = [[sys.executable, "-m", "venv", str(venv)], [str(python), "-m", "pip", "install", "-q", *wanted]]
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True)
        if result.returncode != 0:
            lines = [line for line in result.stderr.splitlines() if "WARNING" not in line] or [""]
            return f"{' '.join(step[2:4])} failed: {lines[-1][:120]}"
    return ""


def ensure_peers() -> str:
    """TorchFix and ruff in one virtualenv; flake8 in another with nothing else, because TorchFix
    registers a flake8 plugin of its own (TOR) that flake8 would run whatever is selected."""
    return ensure_venv(PEERS_VENV, [TORCHFIX, "ruff"]) or ensure_venv(FLAKE8_VENV, flake8_pins())


# ---------------------------------------------------------------------------------------------
# The measurements


def floor(files: list[Path], lines: int, work: Path) -> list[Measurement]:
    file_list = work / "files.txt"
    file_list.write_text("\n".join(map(str, files)) + "\n", encoding="utf-8")
    child = [sys.executable, str(Path(__file__).resolve()), "--parse-child"]
    return [measure(f"bare `{parser}` parse, 1 process", [*child, parser, str(file_list)], work, len(files), lines)
            for parser in ("libcst.parse_module", "ast.parse")]


def torchlint_runs(paths: list[str], files: int, lines: int, work: Path, has_cache: bool) -> dict[str, Measurement]:
    base = ["--isolated", "--exit-zero", "-q"]
    if not has_cache:
        cold = measure("torchlint, cold (no cache support)", torchlint_command(*base, *paths), work, files, lines)
        return {"cold": cold, "warm": Measurement("torchlint, warm", note="n/a (no cache)")}
    cache = work / "torchlint-cache"
    shutil.rmtree(cache, ignore_errors=True)
    cached = torchlint_command(*base, "--cache-dir", str(cache), *paths)
    return {
        "cold": measure("torchlint --no-cache", torchlint_command(*base, "--no-cache", *paths), work, files, lines),
        "fill": measure("torchlint, empty --cache-dir (fills it)", cached, work, files, lines),
        "warm": measure("torchlint, same --cache-dir again (warm)", cached, work, files, lines),
    }


def peer_runs(paths: list[str], files: int, lines: int, work: Path, skip: bool, timeout: float) -> dict[str, Measurement]:
    flake8 = str(BIN / "flake8")
    defaults = ["--isolated", "--exit-zero", "--select", "E,F,W,C90"]
    plugin = [flake8, "--isolated", "--exit-zero", "--select", "TL"]
    runs = {}
    if plugin_has_cache():
        # the plugin keeps torchlint's cache in the working directory's .torchlint_cache
        shutil.rmtree(work / ".torchlint_cache", ignore_errors=True)
        runs["flake8_tl"] = measure("flake8 --select TL (plugin), --torchlint-no-cache", [*plugin, "--torchlint-no-cache", *paths],
                                    work, files, lines)
        runs["flake8_tl_fill"] = measure("flake8 --select TL (plugin), empty cache (fills it)", [*plugin, *paths], work, files, lines)
        runs["flake8_tl_warm"] = measure("flake8 --select TL (plugin), same cache again (warm)", [*plugin, *paths], work, files, lines)
    else:
        runs["flake8_tl"] = measure("flake8 --select TL (plugin)", [*plugin, *paths], work, files, lines)
    runs["flake8_default"] = measure("flake8 --select E,F,W,C90, plugin installed", [flake8, *defaults, *paths], work, files, lines)
    names = {"torchfix": f"TorchFix {TORCHFIX.split('==')[1]}", "flake8_alone": "flake8 --select E,F,W,C90, no plugin",
             "ruff": "ruff check (default rules)"}
    reason = "skipped (--skip-peers)" if skip else ensure_peers()
    if reason:
        return runs | {key: Measurement(name, note=f"n/a: {reason}") for key, name in names.items()}
    peers = PEERS_VENV / "bin"
    runs["flake8_alone"] = measure(names["flake8_alone"], [str(FLAKE8_VENV / "bin" / "flake8"), *defaults, *paths], work, files, lines)
    runs["ruff"] = measure(names["ruff"], [str(peers / "ruff"), "check", "--no-cache", "--isolated", "--exit-zero",
                                           "--quiet", *paths], work, files, lines)
    runs["torchfix"] = measure(names["torchfix"], [str(peers / "torchfix"), *paths], work, files, lines,
                               ok_codes=(0, 1), timeout=timeout)  # 1: it found something
    return runs


SMALL_FILE = '''\
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 2))

    def forward(self, x):
        return self.body(x)


def train(model, loader, epochs=2):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    criterion = nn.CrossEntropyLoss()
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()


def evaluate(model, loader):
    model.eval()
    with torch.no_grad():
        return sum((model(x).argmax(1) == y).sum().item() for x, y in loader)
'''


def startup(work: Path, has_cache: bool, runs: int = 5) -> dict[str, Measurement]:
    small = work / "small" / "train.py"
    small.parent.mkdir()
    small.write_text(SMALL_FILE, encoding="utf-8")
    lint = ["--isolated", "--exit-zero", "-q"]
    results = {
        "python": best_of(runs, "`python -c pass`", [sys.executable, "-c", "pass"], work),
        "version": best_of(runs, "`torchlint --version`", torchlint_command("--version"), work),
        "rules": best_of(runs, "`torchlint rules`", torchlint_command("rules"), work),
    }
    if not has_cache:
        results["small_cold"] = best_of(runs, "one small file, cold", torchlint_command(*lint, str(small)), work)
        results["small_warm"] = Measurement("one small file, warm", note="n/a (no cache)")
        return results
    cached = torchlint_command(*lint, "--cache-dir", str(work / "small-cache"), str(small))
    results["small_cold"] = best_of(runs, "one small file, --no-cache", torchlint_command(*lint, "--no-cache", str(small)), work)
    measure("fill", cached, work)
    results["small_warm"] = best_of(runs, "one small file, warm cache", cached, work)
    return results


SCALING_COPIES = (1, 2, 4, 8, 16)


def scaling(base: list[Unit], work: Path, has_cache: bool) -> list[Measurement]:
    """torchlint cold on 1, 2, 4, 8 and 16 copies of the base units, each copy in a folder of its own
    that keeps the files' paths below their unit's root (package folders, torch/...)."""
    sources = [(path, path.relative_to(unit.root)) for unit in base for path in unit.files]
    lines = line_count([path for path, _ in sources])
    results = []
    for copies in SCALING_COPIES:
        root = work / f"scale-{copies}x"
        paths = []
        for index in range(copies):
            for path, relative in sources:
                target = root / f"copy{index}" / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
                paths.append(str(target))
        flags = ["--isolated", "--exit-zero", "-q"] + (["--no-cache"] if has_cache else [])
        results.append(measure(f"{copies}x", torchlint_command(*flags, *paths), work, len(paths), copies * lines))
        shutil.rmtree(root)
    return results


# ---------------------------------------------------------------------------------------------
# The report


def ratio(numerator: Measurement, denominator: Measurement, attribute: str = "wall") -> float | None:
    if not (numerator.ok and denominator.ok):
        return None
    return getattr(numerator, attribute) / getattr(denominator, attribute)


def number(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}{suffix}"


def measurement_table(rows: list[Measurement], reference: Measurement) -> list[str]:
    table = ["| Measurement | Files | Wall s | CPU s | Files/s | Lines/s | Max RSS MB | Tree RSS MB | Wall / bare libcst |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        if not row.ok:
            table.append(f"| {row.name} | {row.note} | | | | | | | |")
            continue
        rates = (f"{row.files / row.wall:,.0f} | {row.lines / row.wall:,.0f}" if row.files else " | ")
        table.append(f"| {row.name} | {row.files or ''} | {row.wall:.2f} | {row.cpu:.2f} | {rates} | {row.max_rss:.0f} "
                     f"| {row.tree_rss:.0f} | {number(ratio(row, reference), suffix=' x')} |")
    return table


def startup_table(rows: list[Measurement]) -> list[str]:
    python = rows[0]
    table = ["| Command | Wall s | CPU s | Max RSS MB | Wall − `python -c pass` s |", "| --- | ---: | ---: | ---: | ---: |"]
    for row in rows:
        table.append(f"| {row.name} | {row.note} | | | |" if not row.ok else
                     f"| {row.name} | {row.wall:.3f} | {row.cpu:.3f} | {row.max_rss:.0f} | {row.wall - python.wall:.3f} |")
    return table


def scaling_table(rows: list[Measurement]) -> list[str]:
    first = rows[0]
    table = ["| Copies | Files | Lines | Wall s | CPU s | Max RSS MB | Tree RSS MB | Wall per file vs 1x | CPU per file vs 1x | Max RSS vs 1x |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        if not row.ok:
            table.append(f"| {row.name} | {row.files} | {row.lines} | {row.note} | | | | | | |")
            continue
        per_file = (row.wall / row.files) / (first.wall / first.files)
        cpu_per_file = (row.cpu / row.files) / (first.cpu / first.files)
        table.append(f"| {row.name} | {row.files} | {row.lines:,} | {row.wall:.2f} | {row.cpu:.2f} | {row.max_rss:.0f} "
                     f"| {row.tree_rss:.0f} | {per_file:.2f} | {cpu_per_file:.2f} | {row.max_rss / first.max_rss:.2f} |")
    return table


def ratios(runs: dict[str, Measurement]) -> dict[str, float | None]:
    """The headline ratios of wall times; None where a side is missing."""
    alone = runs["flake8_alone"] if runs["flake8_alone"].ok else runs["flake8_default"]
    return {
        "torchlint cold / bare libcst parse": ratio(runs["cold"], runs["libcst"]),
        "TorchFix / torchlint cold": ratio(runs["torchfix"], runs["cold"]),
        "warm / cold": ratio(runs["warm"], runs.get("fill", runs["cold"])),  # the same command, twice
        "flake8+plugin / flake8 alone": ratio(runs["flake8_tl"], alone),
        "flake8+plugin, warm cache / flake8 alone": ratio(runs["flake8_tl_warm"], alone) if "flake8_tl_warm" in runs else None,
        "flake8 default selection, plugin installed / not installed": ratio(runs["flake8_default"], runs["flake8_alone"]),
        "torchlint cold / ruff": ratio(runs["cold"], runs["ruff"]),
    }


def targets(runs: dict[str, Measurement], scale: list[Measurement], whole_corpus: bool) -> list[tuple[str, str, bool | None]]:
    """(target, measured value, passed); passed is None when it could not be measured."""
    def check(text: str, value: float | None, limit: float, below: bool = True, digits: int = 2):
        passed = None if value is None else (value <= limit if below else value >= limit)
        return text, number(value, digits), passed

    def wall(key: str) -> float | None:
        return runs[key].wall if runs[key].ok else None

    measured = ratios(runs)
    alone = "no plugin installed" if runs["flake8_alone"].ok else "plugin installed, not selected"
    corpus = "whole corpus" if whole_corpus else "this sample"
    return [
        check("torchlint cold (2 processes) ≤ 1.0 × bare libcst parse (1 process)",
              measured["torchlint cold / bare libcst parse"], 1.0),
        check("torchlint ≥ 12 × faster than TorchFix", measured["TorchFix / torchlint cold"], 12.0, below=False),
        check("warm ≤ 0.10 × cold (the same --cache-dir command, second run / first)", measured["warm / cold"], 0.10),
        check(f"peak RSS ≤ 300 MB (largest process, torchlint cold, {corpus})",
              runs["cold"].max_rss if runs["cold"].ok else None, 300, digits=0),
        check("peak RSS flat with file count (8x / 1x copies ≤ 1.25)",
              ratio(scale[3], scale[0], "max_rss") if len(scale) > 3 else None, 1.25),
        check("peak RSS flat once the kept trees reach their bound (16x / 4x copies ≤ 1.25)",
              ratio(scale[4], scale[2], "max_rss") if len(scale) > 4 else None, 1.25),
        check(f"flake8 --select TL ≤ 1.5 × flake8 alone ({alone}; plugin cache off)", measured["flake8+plugin / flake8 alone"], 1.5),
        check(f"the same with the plugin's cache warm (an unchanged tree, as on a second commit)",
              measured["flake8+plugin, warm cache / flake8 alone"], 1.5),
        check("flake8 without TL selected no slower with the plugin installed (≤ 1.10: noise)",
              measured["flake8 default selection, plugin installed / not installed"], 1.10),
        check("`torchlint --version` ≤ 0.2 s", wall("version"), 0.2),
        check("`torchlint rules` ≤ 0.2 s", wall("rules"), 0.2),
        check("one small file ≤ 0.5 s cold", wall("small_cold"), 0.5),
        check("one small file ≤ 0.15 s warm", wall("small_warm"), 0.15),
    ]


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    versions = {name: tool_version(Path(sys.executable), name) for name in ("libcst", "torch", "torchlint", "flake8")}
    peers = PEERS_VENV / "bin" / "python"
    if peers.exists():
        versions |= {f"{name} (peers)": tool_version(peers, name) for name in ("TorchFix", "libcst", "ruff")}
    listed = ", ".join(f"{name} {version}" for name, version in versions.items() if version)
    flake8 = FLAKE8_VENV / "bin" / "flake8"
    if flake8.exists():  # shows that no plugin but the defaults is installed there
        alone = " ".join(subprocess.run([str(flake8), "--version"], capture_output=True, text=True).stdout.split())
        listed += f"; flake8 alone (its own venv): `{alone or '?'}`"
    return f"{os.cpu_count()} cores ({model}), {platform.system()}, Python {platform.python_version()}, {listed}"


def report(args: argparse.Namespace, corpus: str, runs: dict[str, Measurement], scale: list[Measurement],
           scale_note: str, whole_corpus: bool) -> str:
    shown = [arg for arg in args.argv if arg not in ("--write", str(args.write)) and not arg.startswith("--write=")]
    command = " ".join(["python benchmarks/bench.py", *shown])
    lines = [f"## {datetime.date.today().isoformat()}, `{command}`", "", f"Machine: {machine()}.", "", f"Corpus: {corpus}", ""]
    order = ["libcst", "ast", "cold", "fill", "warm", "torchfix", "flake8_tl", "flake8_tl_fill", "flake8_tl_warm",
             "flake8_default", "flake8_alone", "ruff"]
    lines += measurement_table([runs[key] for key in order if key in runs], runs["libcst"]) + [""]
    lines += ["Start-up, best of 5 runs:", ""]
    lines += startup_table([runs[key] for key in ("python", "version", "rules", "small_cold", "small_warm")])
    lines += ["", "Ratios of wall times: " + "; ".join(f"{name} {number(value, 3 if 'warm' in name else 2)}"
                                                 for name, value in ratios(runs).items()) + ".", ""]
    if scale:
        lines += [f"Scaling, torchlint cold on k copies of {scale_note}:", ""] + scaling_table(scale) + [""]
    lines += ["| Target | Measured | Status |", "| --- | ---: | --- |"]
    for text, value, passed in targets(runs, scale, whole_corpus):
        lines.append(f"| {text} | {value} | {'n/a' if passed is None else 'PASS' if passed else '**FAIL**'} |")
    lines += ["", "Max RSS: `ru_maxrss` from `os.wait4`, the peak of the largest single process of the tree (a worker "
              "or the main process, whichever is larger). Tree RSS: the highest sum of the RSS of the process and "
              "its descendants, sampled every 0.1 s (pages shared after fork counted in each process: an upper "
              "bound). CPU: user + system of the process and every descendant it waited for.", ""]
    return "\n".join(lines)


def prepend(results: Path, section: str) -> None:
    """Insert the section before the first dated section, below the file's title and preamble."""
    old = results.read_text(encoding="utf-8") if results.exists() else "# Benchmark results\n\n"
    head, marker, rest = old.partition("\n## ")
    new = f"{head}\n{section}\n{marker.lstrip()}{rest}" if marker else f"{old.rstrip()}\n\n{section}"
    results.write_text(new, encoding="utf-8")


# ---------------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    if argv[:1] == ["--parse-child"]:
        parse_child(argv[1].split(".")[0], argv[2])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="*", type=Path, metavar="DIR",
                        help="benchmark these folders (each a unit) instead of the corpus")
    parser.add_argument("--quick", action="store_true", help="a smoke run: about 100 files, a scaling base of about 25")
    parser.add_argument("--skip-peers", action="store_true", help="no TorchFix, ruff or plugin-free flake8")
    parser.add_argument("--files", type=int, default=None, metavar="N",
                        help=f"at most N files, in whole projects and torch subpackages taken at even steps "
                             f"through the corpus (0: all of it; default {DEFAULT_FILES}, with DIRs 0, --quick 100)")
    parser.add_argument("--scale-base", type=int, default=None, metavar="N",
                        help="at most N files, in whole units, in the 1x step of the scaling series "
                             "(default 200, --quick 25; 0: no series)")
    parser.add_argument("--peer-timeout", type=float, default=3600, metavar="S", help="stop TorchFix after S seconds")
    parser.add_argument("--write", type=Path, metavar="PATH", help="prepend the dated results to PATH (benchmarks/RESULTS.md)")
    args = parser.parse_args(argv)
    args.argv = argv
    count = args.files if args.files is not None else 100 if args.quick else 0 if args.dirs else DEFAULT_FILES
    scale_base = args.scale_base if args.scale_base is not None else (25 if args.quick else 200)

    if args.dirs:
        units = [Unit(path.name, path.parent, sorted(path.rglob("*.py"))) for path in map(Path.resolve, args.dirs)]
        name = ", ".join(map(str, args.dirs))
    else:
        units = precision_units() + torch_units()
        name = corpus_name(units)
    chosen = choose(units, count)
    files = [path for unit in chosen for path in unit.files]
    if not files:
        sys.exit("no .py files to benchmark")
    lines = line_count(files)
    corpus = describe(chosen, units, lines, name)
    print(corpus, file=sys.stderr)
    paths = [str(path) for path in files]
    has_cache = torchlint_has_cache()

    with tempfile.TemporaryDirectory(prefix="torchlint-bench-") as temp:
        work = Path(temp)

        def step(label: str, action):
            print(f"measuring {label} ...", file=sys.stderr)
            started = time.perf_counter()
            outcome = action()
            print(f"  {time.perf_counter() - started:.1f} s", file=sys.stderr)
            return outcome

        runs = dict(zip(("libcst", "ast"), step("the bare parse", lambda: floor(files, lines, work))))
        runs |= step("torchlint", lambda: torchlint_runs(paths, len(files), lines, work, has_cache))
        runs |= step("the peers", lambda: peer_runs(paths, len(files), lines, work, args.skip_peers, args.peer_timeout))
        runs |= step("start-up", lambda: startup(work, has_cache))
        base = choose(chosen, scale_base) if scale_base else []
        scale = step("the scaling series", lambda: scaling(base, work, has_cache)) if base else []
    scale_note = f"{', '.join(unit.label for unit in base)} ({sum(len(unit.files) for unit in base)} files)"
    section = report(args, corpus, runs, scale, scale_note, whole_corpus=len(chosen) == len(units))
    print(section)
    if args.write:
        prepend(args.write, section)
        print(f"prepended to {args.write}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
