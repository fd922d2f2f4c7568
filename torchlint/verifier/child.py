"""Runs one fixture program: ``python path/to/torchlint/verifier/child.py FIXTURE.py DEVICE``.

Imports the file by path, calls its ``observe(device)`` and writes one line to stdout: a marker
followed by JSON, either ``{"ok": true, "device": ..., "observation": {...}}`` or
``{"ok": false, "kind": ..., "reason": ...}`` for the failures the parent reports in words
(torch missing, no ``observe``, CUDA missing, a result that is not plain numbers). Anything else
that goes wrong raises, so Python prints the traceback to stderr and the parent reports its last
line. Whatever the fixture prints goes to stderr, so stdout carries the result alone.

This module imports nothing from torchlint (so the child does not pay for importing libcst),
and torch only here, inside the child process. It is run by its file path, not with ``-m``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys

MARKER = "@@torchlint-verify@@ "
NO_TORCH = "torch is not installed: pip install 'torchlint[verify]'"


def _emit(payload: dict) -> None:
    sys.__stdout__.write(MARKER + json.dumps(payload) + "\n")
    sys.__stdout__.flush()


def _fail(kind: str, reason: str) -> int:
    _emit({"ok": False, "kind": kind, "reason": reason})
    return 3


def _cap_memory(limit: int) -> None:
    """Cap the address space, so a fixture that allocates without bound fails with MemoryError
    instead of taking the machine down; where the platform has no such limit, nothing is done."""
    if limit <= 0:
        return
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass


def _plain(value) -> bool:
    return isinstance(value, (bool, int, float))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python child.py FIXTURE.py cpu|cuda|auto", file=sys.stderr)
        return 2
    path, device = argv
    try:
        import torch
    except ImportError as error:
        if getattr(error, "name", None) == "torch":
            return _fail("no-torch", NO_TORCH)
        return _fail("no-torch", f"torch cannot be imported ({type(error).__name__}: {error})")

    torch.set_num_threads(max(1, int(os.environ.get("TORCHLINT_VERIFY_THREADS", "1"))))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device.startswith("cuda") and not torch.cuda.is_available():
        return _fail("no-cuda", "CUDA is not available (torch.cuda.is_available() is False)")
    torch.manual_seed(0)
    if device == "cpu":  # CUDA maps far more address space than it uses: no cap there
        _cap_memory(int(os.environ.get("TORCHLINT_VERIFY_MEMORY_BYTES", "0")))

    name = os.path.basename(path)
    with contextlib.redirect_stdout(sys.stderr):
        spec = importlib.util.spec_from_file_location(f"torchlint_fixture_{os.path.splitext(name)[0]}", path)
        if spec is None or spec.loader is None:
            return _fail("no-observe", "cannot be imported as a Python module")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        observe = getattr(module, "observe", None)
        if not callable(observe):
            return _fail("no-observe", "defines no observe(device) function")
        try:
            result = observe(device)
        except SystemExit as error:
            return _fail("exited", f"observe() exited the interpreter (sys.exit({error.code!r})) instead of returning")
        except MemoryError:
            limit = int(os.environ.get("TORCHLINT_VERIFY_MEMORY_BYTES", "0"))
            return _fail("memory", f"observe() ran out of memory (the limit is {limit / 2 ** 30:g} GiB: --memory-limit)" if limit else "observe() ran out of memory")

    if not isinstance(result, dict):
        return _fail("bad-result", f"observe() returned {type(result).__name__}, not a dict")
    observation = {}
    for key, value in result.items():
        if not isinstance(key, str) or not _plain(value):
            return _fail("bad-result", f"observe() must return plain numbers (bool, int, float): {key!r} is {type(value).__name__}")
        observation[key] = value
    _emit({"ok": True, "device": device, "observation": observation})
    return 0


if __name__ == "__main__":
    # run as a script, Python put this folder first on sys.path: the fixture must not see its modules
    if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]
    sys.exit(main(sys.argv[1:]))
