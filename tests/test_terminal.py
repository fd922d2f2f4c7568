"""What a person at a terminal sees: colour where it helps and only there, and a progress line
for long runs that never reaches a pipe or a file."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import write
from torchlint.cli import Progress

LOSS = """
    import torch.nn.functional as F


    def loss_of(logits, y):
        return F.cross_entropy(F.softmax(logits, dim=1), y)
"""
ESCAPE = "\x1b["


def lint(tmp_path: Path, *arguments: str, **environment: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("NO_COLOR", "FORCE_COLOR")}
    return subprocess.run([sys.executable, "-m", "torchlint", "--isolated", *arguments, "loss.py"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600, env={**env, **environment})


def on_a_terminal(tmp_path: Path, **environment: str) -> str:
    """stdout and stderr on a pseudo-terminal, as in an interactive shell."""
    env = {key: value for key, value in os.environ.items() if key not in ("NO_COLOR", "FORCE_COLOR")}
    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "torchlint", "--isolated", "loss.py"], cwd=tmp_path,
                               stdout=terminal, stderr=terminal, env={**env, "TERM": "xterm", **environment})
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal closed: the process is done
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    assert process.wait(timeout=600) == 1
    return output.decode()


def test_a_pipe_gets_no_colour_unless_forced(tmp_path):
    write(tmp_path, "loss.py", LOSS)
    plain = lint(tmp_path)
    assert "TL201" in plain.stdout and ESCAPE not in plain.stdout + plain.stderr
    forced = lint(tmp_path, FORCE_COLOR="1")
    assert f"{ESCAPE}1;31mTL201{ESCAPE}0m" in forced.stdout
    assert ESCAPE in lint(tmp_path, "--color", "always").stdout
    assert ESCAPE not in lint(tmp_path, "--output-format", "full", NO_COLOR="1", FORCE_COLOR="1").stdout


def test_a_terminal_gets_colour_unless_no_color_is_set(tmp_path):
    write(tmp_path, "loss.py", LOSS)
    coloured = on_a_terminal(tmp_path)
    assert f"{ESCAPE}1;31mTL201{ESCAPE}0m" in coloured
    assert "TL201" in on_a_terminal(tmp_path, NO_COLOR="1") and ESCAPE not in on_a_terminal(tmp_path, NO_COLOR="1")


def test_json_is_never_coloured(tmp_path):
    write(tmp_path, "loss.py", LOSS)
    assert ESCAPE not in lint(tmp_path, "--format", "json", "--color", "always").stdout


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_waits_for_a_long_run_then_rewrites_one_line_and_erases_it():
    now = [0.0]
    stream = FakeTerminal()
    progress = Progress(stream, clock=lambda: now[0])
    progress(1, 10)
    now[0] = 0.5
    progress(2, 10)
    assert stream.getvalue() == "", "a run shorter than the delay shows nothing"
    now[0] = 1.5
    progress(3, 10)
    now[0] = 1.55
    progress(4, 10)  # too soon after the last: not redrawn
    now[0] = 2.0
    progress(9, 10)
    assert stream.getvalue() == "\rchecked 3/10 files\rchecked 9/10 files"
    progress.clear()
    assert stream.getvalue().endswith("\r\x1b[2K")
    progress.clear()
    assert stream.getvalue().count("\x1b[2K") == 1


@pytest.mark.parametrize("quiet", [[], ["-q"]])
def test_no_progress_reaches_a_pipe(tmp_path, quiet):
    write(tmp_path, "loss.py", LOSS)
    result = lint(tmp_path, *quiet)
    assert "checked " not in result.stderr.replace("file checked", "") and "\r" not in result.stderr
