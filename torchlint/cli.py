"""The command line: argument parsing, output and exit codes. No analysis happens here.

Exit codes: 0 no findings, 1 findings, 2 usage, configuration or internal error.
"""

from __future__ import annotations

import argparse
import codecs
import os
import re
import sys
from typing import Optional, Sequence

from torchlint import __version__, registry
from torchlint.cache import DEFAULT_DIRECTORY, TAG_FILE, default_directory
from torchlint.config import Config, ConfigError, Settings, load_config
from torchlint.reporters import FORMATS, reporter

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would exit 2 itself; keep one place for exit codes
        raise UsageError(message)


def _codes(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _per_file(value: str) -> list[tuple[str, tuple[str, ...]]]:
    pattern, separator, codes = value.rpartition(":")
    if not separator or not pattern or not codes:
        raise argparse.ArgumentTypeError(f"{value!r}: expected GLOB:CODES, such as tests/*:TL401")
    return [(pattern, tuple(code for code in re.split(r"[+,]", codes) if code))]


def _show_settings(settings: Settings, paths: list[str]) -> int:
    import json

    path = paths[0] if paths else "."
    config = settings.for_path(path)
    shown = {key: (list(value) if isinstance(value, tuple) else value) for key, value in vars(config).items()}
    shown["per_file_ignores"] = {pattern: list(codes) for pattern, codes in config.per_file_ignores}
    print(f"Settings for {path} (from {config.source or 'the defaults'}):")
    print(json.dumps(shown, indent=2))
    return EXIT_CLEAN


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="torchlint",
        description="Find the silent mistakes of PyTorch training code.",
        epilog="Subcommands: 'torchlint rules' lists every rule; 'torchlint rule CODE' prints one rule's documentation. "
        "Exit codes: 0 no findings, 1 findings, 2 usage, configuration or internal error.",
    )
    parser.add_argument("paths", nargs="*", default=["."], metavar="PATH", help="files or directories to lint (default: .)")
    parser.add_argument("--output-format", "--format", dest="format", choices=FORMATS, default="concise",
                        help="output format (default: concise, one line a finding; full adds the source line)")
    parser.add_argument("--statistics", action="store_true", help="print how many findings each code has, instead of the findings")
    parser.add_argument("--stdin-filename", metavar="PATH", help="with the path '-': the name of the file read from standard input (for configuration, project facts and output)")
    parser.add_argument("--output-file", metavar="PATH", help="write the findings to this file instead of standard output")
    parser.add_argument("--explain", metavar="CODE", help="print the documentation of a rule (code or name) and exit")
    parser.add_argument("--select", type=_codes, metavar="CODES", help="comma-separated codes or prefixes to enable, replacing the configured set (TL, TL3, TL301)")
    parser.add_argument("--extend-select", type=_codes, default=[], metavar="CODES", help="codes or prefixes to enable in addition")
    parser.add_argument("--ignore", type=_codes, default=[], metavar="CODES", help="codes or prefixes to disable")
    parser.add_argument("--config", metavar="FILE", help="use this torchlint.toml or pyproject.toml for every file, instead of each file's nearest one")
    parser.add_argument("--show-settings", action="store_true", help="print the settings that govern the first PATH, and where they come from, then exit")
    parser.add_argument("--exclude", type=_codes, metavar="GLOBS", help="comma-separated globs not to lint, replacing the configured exclude")
    parser.add_argument("--extend-exclude", type=_codes, default=[], metavar="GLOBS", help="globs not to lint, in addition")
    parser.add_argument("--per-file-ignores", type=_per_file, default=[], metavar="GLOB:CODES", action="extend",
                        help="codes to ignore in files matching a glob (tests/*:TL401+TL104); repeatable")
    parser.add_argument("--isolated", action="store_true", help="ignore every configuration file")
    parser.add_argument("--force-exclude", action="store_true", help="apply exclude and extend-exclude to files named on the command line too (as pre-commit names them)")
    parser.add_argument("--exit-zero", action="store_true", help="exit 0 even when there are findings")
    parser.add_argument("--fix", action=argparse.BooleanOptionalAction, default=False, help="apply the safe fixes to the files, then report what remains")
    parser.add_argument("--unsafe-fixes", action=argparse.BooleanOptionalAction, default=None, help="also apply (and show) the fixes that may change more than the bug")
    parser.add_argument("--diff", action="store_true", help="print a unified diff of what --fix would change and write nothing; exit 1 when there is a diff")
    parser.add_argument("--show-fixes", action="store_true", help="with --fix, list the fixes that were applied")
    parser.add_argument("--exit-non-zero-on-fix", action="store_true", help="with --fix, exit 1 when something was fixed, even if nothing remains")
    parser.add_argument("--fixable", type=_codes, metavar="CODES", help="codes or prefixes whose fixes may be applied (default: all)")
    parser.add_argument("--unfixable", type=_codes, default=[], metavar="CODES", help="codes or prefixes whose fixes are never applied")
    parser.add_argument("--jobs", type=int, default=None, metavar="N", help="worker processes (default: one per core)")
    parser.add_argument("--no-cache", action="store_true", help="lint every file, neither reading nor writing the cache")
    parser.add_argument("--cache-dir", metavar="DIR", default=default_directory(),
                        help=f"where findings are cached (default: {DEFAULT_DIRECTORY} in the working directory, or $TORCHLINT_CACHE_DIR)")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                        help="colour the concise and full output (auto: on a terminal, unless NO_COLOR is set or FORCE_COLOR asks for it)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print findings only, no summary line")
    parser.add_argument("-v", "--verbose", action="store_true", help="also say which files were skipped and why (notebooks in other languages)")
    parser.add_argument("--version", action="version", version=f"torchlint {__version__}")
    return parser


def _printable(error: UnicodeError):
    """Encoding errors on output: a file name that is not valid in the file system's encoding
    (held as surrogates) goes out as its own bytes; any other character the terminal cannot
    show becomes an escape. Printing a finding must never be what fails."""
    if isinstance(error, UnicodeEncodeError):
        chunk = error.object[error.start:error.end]
        handler = "surrogateescape" if all(0xDC80 <= ord(character) <= 0xDCFF for character in chunk) else "backslashreplace"
        return codecs.lookup_error(handler)(error)
    raise error


codecs.register_error("torchlint-output", _printable)


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="torchlint-output")
    try:
        if argv and argv[0] in SUBCOMMANDS:
            return SUBCOMMANDS[argv[0]](argv[1:])
        if argv and re.fullmatch(r"[a-z][a-z-]*", argv[0]) and not os.path.lexists(argv[0]):
            # ``torchlint chek x.py`` must not lint x.py and call "chek" a missing file
            raise UsageError(f"{argv[0]!r} is neither a command ({', '.join(sorted(SUBCOMMANDS))}) nor a file or directory")
        return _lint(argv)
    except UsageError as error:
        print(f"torchlint: error: {error}", file=sys.stderr)
        print("usage: torchlint [PATH ...] [options]; see 'torchlint --help'", file=sys.stderr)
        return EXIT_ERROR
    except (ConfigError, registry.UnknownCodeError) as error:
        print(f"torchlint: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_CLEAN
    except Exception as error:  # never a traceback for the user; say what broke and where to report it
        print(f"torchlint: internal error: {type(error).__name__}: {error} (please report this)", file=sys.stderr)
        return EXIT_ERROR


def _lint(argv: list[str]) -> int:
    options = build_parser().parse_args(argv)
    if options.explain is not None:
        return _explain([options.explain])
    if options.jobs is not None and options.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    settings = _settings(options)
    if options.show_settings:
        return _show_settings(settings, options.paths)
    config = settings.for_path(options.paths[0] if options.paths and options.paths != ["-"] else options.stdin_filename or ".")
    from torchlint.run import lint_paths  # here, not at the top: --version and --help need no more

    fix_mode = "diff" if options.diff else "write" if options.fix else None
    if "-" in options.paths:
        if options.paths != ["-"]:
            raise UsageError("'-' (standard input) cannot be mixed with other paths")
        return _lint_stdin(options, config, fix_mode)
    if options.stdin_filename:
        raise UsageError("--stdin-filename names the file read from standard input: give the path '-'")
    progress = Progress(sys.stderr) if not options.quiet and _is_terminal(sys.stderr) else None
    try:
        result = lint_paths(options.paths, settings, jobs=options.jobs, fix=fix_mode, force_exclude=options.force_exclude,
                            cache_dir=None if options.no_cache else options.cache_dir, progress=progress)
    finally:
        if progress is not None:
            progress.clear()

    for message in result.errors:
        print(f"torchlint: {message}", file=sys.stderr)
    if options.verbose:
        for message in result.skipped:
            print(f"torchlint: note: {message}", file=sys.stderr)
        if not options.no_cache and fix_mode is None:
            print(f"torchlint: note: {result.cached} of {result.files_checked + len(result.skipped)} files answered from the cache in {options.cache_dir}", file=sys.stderr)
    if fix_mode == "diff":
        return _report_diff(result, options)
    colour = not options.output_file and _wants_colour(options.color, sys.stdout)
    report = _statistics(result.findings, config) if options.statistics else _render(options.format, result.findings, config, result.errors, colour)
    if options.output_file:
        _write_atomically(options.output_file, report)
    else:
        sys.stdout.write(report)
    for_people = options.format in ("text", "concise", "full") or options.statistics
    if options.show_fixes and result.fixed and for_people:
        print(_fixed_list(result.fixed))
    # The summary is for the person at the terminal: it stays out of machine-readable output.
    if (for_people or options.output_file) and not options.quiet:
        print(_summary(result, config), file=sys.stdout if result.findings or result.fixed else sys.stderr)

    if any(message.startswith("error:") for message in result.errors):
        return EXIT_ERROR
    if result.fixed and options.exit_non_zero_on_fix:
        return EXIT_FINDINGS
    if result.findings and not options.exit_zero:
        return EXIT_FINDINGS
    return EXIT_CLEAN


def _lint_stdin(options, config: Config, fix_mode: Optional[str]) -> int:
    """``torchlint - --stdin-filename src/train.py``, as editors and formatters pipe a buffer.
    With --fix the fixed source goes to standard output and the findings to standard error."""
    from torchlint.engine import LintResult, fix_contents, lint_source, unified_diff

    data = sys.stdin.buffer.read()
    path = options.stdin_filename or "<stdin>"
    result = LintResult(files_checked=1)
    if fix_mode is None:
        result.findings = lint_source(data, path, config)
        sys.stdout.write(_render(options.format, result.findings, config))
    else:
        new, (remaining, _, _), fixed = fix_contents(data, path, config)
        result.findings, result.fixed = remaining, fixed
        if fix_mode == "diff":
            sys.stdout.write(unified_diff(path, data, new) if new != data else "")
            return EXIT_FINDINGS if new != data else EXIT_CLEAN
        sys.stdout.buffer.write(new)
        sys.stdout.flush()
        sys.stderr.write(_render(options.format, remaining, config))
    if not options.quiet and options.format in ("text", "concise", "full"):
        print(_summary(result, config), file=sys.stderr if fix_mode or not result.findings else sys.stdout)
    if any(finding.code == "TL003" for finding in result.findings):
        return EXIT_ERROR
    return EXIT_FINDINGS if result.findings and not options.exit_zero else EXIT_CLEAN


def _render(output_format: str, findings, config: Config, errors: Sequence[str] = (), colour: bool = False) -> str:
    if output_format in ("text", "concise"):  # marks with [*] the findings --fix would repair, as ruff does
        return reporter("text")(findings, fixable=config.applies_fix, colour=colour)
    if output_format == "full":
        return reporter("full")(findings, colour=colour)
    if output_format == "sarif":  # the paths it could not read are notifications of the run
        return reporter("sarif")(findings, errors=errors)
    return reporter(output_format)(findings)


def _statistics(findings, config: Config) -> str:
    """ruff's --statistics: a line per code, most frequent first, ``[*]`` where --fix repairs them all."""
    from collections import Counter

    counts = Counter((finding.code, finding.name) for finding in findings)
    fixable = {code for code, _ in counts if all(config.applies_fix(f) for f in findings if f.code == code)}
    width = max((len(str(count)) for count in counts.values()), default=1)
    return "".join(f"{count:>{width}}\t{code}\t{'[*] ' if code in fixable else ''}{name}\n"
                   for (code, name), count in sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _report_diff(result, options) -> int:
    """--diff: the diffs on standard output, a count on standard error; exit 1 when a file would change."""
    sys.stdout.write("".join(result.diffs))
    if not options.quiet:
        count = len(result.fixed)
        files = len(result.diffs)
        if count:
            print(f"Would fix {count} problem{'s' if count != 1 else ''} in {files} file{'s' if files != 1 else ''}.", file=sys.stderr)
        else:
            print("No fixes available.", file=sys.stderr)
    if any(message.startswith("error:") for message in result.errors):
        return EXIT_ERROR
    return EXIT_FINDINGS if result.diffs else EXIT_CLEAN


def _fixed_list(fixed) -> str:
    """ruff's --show-fixes: per file, how many of each code were fixed."""
    from collections import Counter

    lines = [f"Fixed {len(fixed)} problem{'s' if len(fixed) != 1 else ''}:"]
    by_path: dict[str, Counter] = {}
    for finding in fixed:
        by_path.setdefault(finding.path, Counter())[(finding.code, finding.name)] += 1
    for path, counts in by_path.items():
        lines.append(f"- {path}:")
        lines.extend(f"    {count} \u00d7 {code} ({name})" for (code, name), count in sorted(counts.items()))
    return "\n".join(lines)


def _summary(result, config: Optional[Config] = None) -> str:
    """One line (or two) for the person at the terminal. "All checks passed" only when files were
    analysed and none had an error: a run that could not look must not sound reassuring."""
    count, files, fixed = len(result.findings), result.files_checked, len(result.fixed)
    checked = f"{files} file{'s' if files != 1 else ''} checked"
    if result.skipped:
        checked += f", {len(result.skipped)} skipped (see --verbose)"
    if fixed:
        line = f"Found {count + fixed} problem{'s' if count + fixed != 1 else ''} ({fixed} fixed, {count} remaining) ({checked})."
    elif count:
        line = f"Found {count} problem{'s' if count != 1 else ''} ({checked})."
    elif files == 0:
        return f"Nothing was checked ({checked})."
    elif any(message.startswith("error:") for message in result.errors):
        return f"No problems found, but errors occurred ({checked})."
    else:
        return f"All checks passed ({checked})."
    if config is not None:
        applicable = sum(1 for finding in result.findings if config.applies_fix(finding))
        hidden = sum(1 for finding in result.findings if finding.fix is not None and not config.applies_fix(finding)
                     and not config.unsafe_fixes and config.is_fixable(finding.code, finding.name))
        if applicable:
            line += f"\n[*] {applicable} fixable with the `--fix` option."
        if hidden:
            line += f"\n({hidden} hidden fix{'es' if hidden != 1 else ''} can be enabled with the `--unsafe-fixes` option.)"
    return line


def _write_atomically(path: str, text: str) -> None:
    """Write beside the target, then rename: a reader never sees a half-written report."""
    import tempfile

    directory = os.path.dirname(os.path.abspath(path))
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=".torchlint-", suffix=".tmp", dir=directory)
    except OSError as error:
        raise ConfigError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", errors="surrogateescape", newline="") as handle:
            handle.write(text)
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except OSError as error:
        os.unlink(temporary)
        raise ConfigError(f"cannot write {path}: {error.strerror or error}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _settings(options) -> Settings:
    """--isolated: defaults for every file; --config FILE: that file for every file; otherwise
    each file's nearest configuration. The command line's options go on top of each."""
    overrides = dict(select=options.select, extend_select=options.extend_select, ignore=options.ignore,
                     unsafe_fixes=options.unsafe_fixes, fixable=options.fixable, unfixable=options.unfixable,
                     exclude=options.exclude, extend_exclude=options.extend_exclude, per_file_ignores=options.per_file_ignores)
    if options.isolated:
        return Settings(fixed=Config().with_overrides(**overrides))
    if options.config:
        if not os.path.isfile(options.config):
            raise ConfigError(f"{options.config}: no such configuration file")
        from pathlib import Path

        return Settings(fixed=load_config(Path(options.config)).with_overrides(**overrides))
    Config().with_overrides(**overrides)  # an unknown code on the command line is an error even with no file to lint
    return Settings(overrides=tuple((key, tuple(value) if isinstance(value, list) else value) for key, value in overrides.items()))


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _wants_colour(choice: str, stream) -> bool:
    """--color, then the conventions of no-color.org and force-color.org, then a terminal test."""
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return _is_terminal(stream) and os.environ.get("TERM") != "dumb"


class Progress:
    """``checked 120/1465 files`` on one line of a terminal, rewritten in place: shown only once
    a run has lasted ``DELAY`` seconds (a quick run prints nothing), at most ten times a second,
    and erased before the findings are printed."""

    DELAY = 1.0

    def __init__(self, stream, clock=None) -> None:
        import time

        self.stream, self.clock = stream, clock or time.monotonic
        self.started, self.shown_at, self.shown = self.clock(), None, False

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if now - self.started < self.DELAY or (self.shown_at is not None and now - self.shown_at < 0.1):
            return
        self.stream.write(f"\rchecked {done}/{total} files")
        self.stream.flush()
        self.shown_at, self.shown = now, True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self.shown = False


def _clean(argv: list[str]) -> int:
    """``torchlint clean``: remove the cache folder (ruff's ``clean``)."""
    import shutil

    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        raise UsageError(f"'torchlint clean' takes at most one argument: the cache folder (default: {DEFAULT_DIRECTORY})")
    folder = argv[0] if argv else default_directory()
    if not os.path.isdir(folder):
        return EXIT_CLEAN
    if not os.path.isfile(os.path.join(folder, TAG_FILE)):
        raise UsageError(f"{folder} is not a torchlint cache (it has no {TAG_FILE}): not removed")
    shutil.rmtree(folder)
    print(f"Removed {folder}", file=sys.stderr)
    return EXIT_CLEAN


def _list_rules(argv: list[str]) -> int:
    if argv and argv != ["--format", "json"]:
        raise UsageError(f"'torchlint rules' takes no arguments but '--format json', got {' '.join(argv)}")
    rules = registry.rule_index()  # the generated index: listing the rules imports none of them
    if argv:
        import json

        print(json.dumps([{"code": rule.code, "name": rule.name, "summary": rule.summary, "default": rule.default_enabled,
                           "fix": rule.fix_safety, "url": registry.rule_url(rule.code)} for rule in rules], indent=2))
        return EXIT_CLEAN
    width = max(len(rule.name) for rule in rules)
    for rule in rules:
        marker = "" if rule.default_enabled else "  (off by default)"
        print(f"{rule.code}  {rule.name.ljust(width)}  {rule.summary}{marker}")
    return EXIT_CLEAN


def _explain(argv: list[str]) -> int:
    if len(argv) != 1:
        raise UsageError("'torchlint rule' takes one rule code or name, such as 'torchlint rule TL201'")
    key = argv[0]
    rule = registry.rule_by_code_or_name(key)
    if rule is not None:
        print(f"{rule.CODE} {rule.NAME}{'' if rule.DEFAULT_ENABLED else ' (off by default)'}\n")
        print(rule.documentation())
        return EXIT_CLEAN
    for code, (name, description) in registry.ENGINE_CODES.items():
        if key.upper() == code or key == name:
            print(f"{code} {name}\n\n{description} Reported by the engine itself, not by a rule.")
            return EXIT_CLEAN
    raise registry.UnknownCodeError(f"unknown rule: {key!r} (see 'torchlint rules' for the list)")


def _verify(argv: list[str]) -> int:
    from torchlint.verifier.command import verify_main  # lazily: linting never needs the verifier

    return verify_main(argv)


def _check(argv: list[str]) -> int:
    """``torchlint check PATH ...``, as ruff spells it: the same as ``torchlint PATH ...``."""
    return _lint(argv)


def _server(argv: list[str]) -> int:
    """``torchlint server``: the language server, over stdin and stdout (see torchlint/server.py)."""
    if argv:
        raise UsageError(f"'torchlint server' takes no arguments, got {' '.join(argv)}")
    try:
        from torchlint.server import serve  # lazily: pygls is an optional dependency
    except ImportError as error:
        if not (error.name or "").startswith(("pygls", "lsprotocol")):
            raise
        print("torchlint: error: the language server needs pygls: pip install 'torchlint[lsp]'", file=sys.stderr)
        return EXIT_ERROR
    return serve()


# ``torchlint <name> ...``: each takes the remaining arguments and returns an exit code.
SUBCOMMANDS = {
    "check": _check,
    "clean": _clean,
    "verify": _verify,
    "rules": _list_rules,
    "rule": _explain,
    "server": _server,
}
