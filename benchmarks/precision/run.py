"""Precision benchmark: lint pinned third-party PyTorch projects and score the findings against
the verdicts in triage.json.

Usage (repo root, venv active): python benchmarks/precision/run.py [--package NAME] [--dump PATH]
    [--write-table PATH] [--fail-on-untriaged] [--cache DIR]

The corpus (corpus.toml) is downloaded into a cache outside the repository and only its .py files
are extracted; corpus code is parsed by torchlint, never imported or executed.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_CACHE = Path.home() / ".cache" / "torchlint-precision"


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(package: dict, cache: Path) -> Path:
    archive = cache / "dist" / package["url"].rsplit("/", 1)[1]
    if not archive.exists():
        archive.parent.mkdir(parents=True, exist_ok=True)
        partial = archive.with_name(archive.name + ".part")
        print(f"downloading {package['url']}", file=sys.stderr)
        try:
            with urllib.request.urlopen(package["url"], timeout=120) as response, partial.open("wb") as file:
                while block := response.read(1 << 20):
                    file.write(block)
        except OSError as error:
            fail(f"{package['name']}: download of {package['url']} failed: {error}")
        partial.rename(archive)
    actual = sha256_of(archive)
    if actual != package["sha256"]:
        archive.unlink()  # a corrupt or replaced file must not be trusted on the next run either
        fail(f"{package['name']}: sha256 of {archive.name} is {actual}, corpus.toml says {package['sha256']}")
    return archive


def archive_members(archive: Path):
    """(name, read) for each regular file in the archive; links and devices are never extracted."""
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                if not info.is_dir():
                    yield info.filename, lambda info=info: zipped.read(info)
    else:
        with tarfile.open(archive) as tarred:
            for member in tarred:
                if member.isfile():
                    yield member.name, lambda member=member: tarred.extractfile(member).read()


def extract(archive: Path, destination: Path, strip_top: bool) -> None:
    """Write the archive's .py files under destination, once. Member names are checked part by
    part, so nothing can be written outside destination."""
    if destination.exists():
        return
    staging = destination.with_name(destination.name + ".partial")  # a killed run leaves no half tree
    shutil.rmtree(staging, ignore_errors=True)
    tops = set()
    for name, read in archive_members(archive):
        path = PurePosixPath(name.replace("\\", "/"))
        if not path.parts or path.is_absolute() or ".." in path.parts:
            continue
        parts = path.parts
        if strip_top:
            tops.add(parts[0])
            parts = parts[1:]
        if name.endswith(".py") and parts:
            target = staging.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(read())
    if strip_top and len(tops) != 1:
        fail(f"{archive.name}: an sdist should have one top-level folder, found {sorted(tops)}")
    staging.rename(destination)


def lint(package_dir: Path, prefix: str, stderr_lines: list[str]) -> list[dict]:
    # cwd is the repo so that `-m torchlint` is this checkout's, and no corpus file can shadow a module
    # every rule, those off by default included: they are measured before they are switched on
    command = [sys.executable, "-m", "torchlint", str(package_dir), "--isolated", "--select", "TL", "--format", "json",
               "--exit-zero", "-q", "--jobs", "2"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    for line in result.stderr.splitlines():
        stderr_lines.append(f"{prefix}: {line}")
        print(f"{prefix}: {line}", file=sys.stderr)
    try:
        raw = json.loads(result.stdout)
    except json.JSONDecodeError:
        fail(f"{prefix}: torchlint exited {result.returncode} without JSON output")
    findings = []
    for item in raw:
        path = Path(item["path"]).resolve()
        key = f"{prefix}/{path.relative_to(package_dir).as_posix()}:{item['line']}:{item['column']} {item['code']}"
        findings.append({"key": key, "code": item["code"], "message": item["message"], "path": str(path), "line": item["line"]})
    return findings


def read_triage(path: Path) -> dict[str, dict]:
    if not path.exists():
        return {}
    verdicts = {}
    for entry in json.loads(path.read_text(encoding="utf-8")):
        if entry.get("verdict") not in ("TP", "FP") or not isinstance(entry.get("finding"), str):
            fail(f"{path}: each entry needs a finding key and a verdict of TP or FP: {entry}")
        verdicts[entry["finding"]] = entry
    return verdicts


def precision_table(findings: list[dict], verdicts: dict[str, dict]) -> str:
    counts = collections.defaultdict(collections.Counter)
    for finding in findings:
        verdict = verdicts.get(finding["key"], {}).get("verdict", "untriaged")
        for row in (finding["code"], "Total"):
            counts[row]["findings"] += 1
            counts[row][verdict] += 1
    lines = ["| Rule | Findings | TP | FP | Untriaged | Precision |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for row in [*sorted(code for code in counts if code != "Total"), "Total"]:
        count = counts[row]
        judged = count["TP"] + count["FP"]
        precision = f"{100 * count['TP'] / judged:.0f}%" if judged else "n/a"
        name = "**Total**" if row == "Total" else row
        lines.append(f"| {name} | {count['findings']} | {count['TP']} | {count['FP']} | {count['untriaged']} | {precision} |")
    return "\n".join(lines) + "\n"


def corpus_size(package_dirs: list[Path]) -> tuple[int, int]:
    files = [path for directory in package_dirs for path in directory.rglob("*.py")]
    return len(files), sum(path.read_bytes().count(b"\n") for path in files)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("TORCHLINT_PRECISION_CACHE", DEFAULT_CACHE)))
    parser.add_argument("--package", help="only this package (its corpus.toml name)")
    parser.add_argument("--write-table", type=Path, metavar="PATH", help="write the Markdown results to PATH")
    parser.add_argument("--dump", type=Path, metavar="PATH", help="write every current finding as JSON to PATH")
    parser.add_argument("--fail-on-untriaged", action="store_true",
                        help="exit 1 when a finding has no verdict or a verdict has no finding")
    args = parser.parse_args()

    packages = tomllib.loads((HERE / "corpus.toml").read_text(encoding="utf-8"))["package"]
    if args.package:
        packages = [package for package in packages if package["name"] == args.package]
        if not packages:
            fail(f"--package {args.package}: not in corpus.toml")
    cache = args.cache.expanduser().resolve()
    verdicts = read_triage(HERE / "triage.json")  # before the long run, so a malformed file fails at once

    start = time.perf_counter()
    findings, stderr_lines, package_dirs = [], [], []
    for package in packages:
        prefix = f"{package['name']}-{package['version']}"
        package_dir = cache / "src" / prefix
        if not package_dir.exists():
            extract(download(package, cache), package_dir, strip_top=package["kind"] == "sdist")
        package_dirs.append(package_dir)
        print(f"linting {prefix}", file=sys.stderr)
        findings.extend(lint(package_dir, prefix, stderr_lines))
    elapsed = time.perf_counter() - start

    prefixes = tuple(f"{package['name']}-{package['version']}/" for package in packages)
    current = {finding["key"] for finding in findings}
    untriaged = [finding for finding in findings if finding["key"] not in verdicts]
    # with --package, only that package's verdicts can have lost their finding
    stale = [key for key in verdicts if key not in current and (not args.package or key.startswith(prefixes))]

    table = precision_table(findings, verdicts)
    print(table)
    print(f"## New findings without a verdict ({len(untriaged)})\n")
    for finding in untriaged:
        print(f"- `{finding['key']}`: {finding['message']}")
    print(f"\n## Verdicts whose finding disappeared ({len(stale)})\n")
    for key in stale:
        print(f"- `{key}`")
    if stderr_lines:  # internal errors: a rule that crashed on a file reported nothing for it
        print(f"\n## torchlint's stderr ({len(stderr_lines)})\n")
        for line in stderr_lines:
            print(f"- {line}")
    files, lines = corpus_size(package_dirs)
    print(f"\n{len(packages)} packages, {files} files, {lines} lines, linted in {elapsed:.1f} s; "
          f"{len(stderr_lines)} lines on torchlint's stderr", file=sys.stderr)

    if args.write_table:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
        header = (f"Precision benchmark, {datetime.date.today().isoformat()}, torchlint commit {commit or 'unknown'}; "
                  f"corpus: {len(packages)} packages, {files} files, {lines} lines.\n\n")
        args.write_table.write_text(header + table, encoding="utf-8")
    if args.dump:
        args.dump.write_text(json.dumps(findings, indent=2) + "\n", encoding="utf-8")
    return 1 if args.fail_on_untriaged and (untriaged or stale) else 0


if __name__ == "__main__":
    sys.exit(main())
