"""``torchlint server`` speaks LSP: a real client session over stdio against the subprocess.

The client is a small JSON-RPC framing client (Content-Length headers) written here, so the test
exercises exactly the bytes an editor would send and read, and depends on nothing but the server.
Timeouts on reads only guard against a deadlock; they assert nothing about speed.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable

import pytest

pytest.importorskip("pygls")

from torchlint import registry  # noqa: E402
from torchlint.engine import lint_source  # noqa: E402
from torchlint.server import ERROR_CODES  # noqa: E402

DEADLOCK_GUARD = 60  # seconds

# TL104 on line 12 after a non-ASCII string (é is one UTF-16 unit, 😋 two), TL201 over lines 18-19
BUGGY = '''import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(2, 2)

    def forward(self, x):
        note = "é😋"; features = self.encoder.forward(x)
        return features


def train_step(model, x, y):
    probs = F.softmax(model(x), dim=1)
    return F.cross_entropy(
        probs, y)
'''
FIXED = BUGGY.replace("self.encoder.forward(x)", "self.encoder(x)").replace("F.softmax(model(x), dim=1)", "model(x)")


class Client:
    """Just enough of an LSP client: framed messages out, a reader thread sorting what comes in."""

    def __init__(self, cwd: Path):
        self.process = subprocess.Popen([sys.executable, "-m", "torchlint", "server"], cwd=cwd,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.incoming: "queue.Queue[dict]" = queue.Queue()
        self.next_id = 0
        self.notifications: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.process.stdout
        while True:
            length = None
            while True:
                header = stream.readline()
                if not header:
                    return
                if header in (b"\r\n", b"\n"):
                    break
                name, _, value = header.decode("ascii").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            self.incoming.put(json.loads(stream.read(length).decode("utf-8")))

    def send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def notify(self, method: str, params: Any) -> None:
        self.send({"method": method, "params": params})

    def request(self, method: str, params: Any) -> Any:
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        reply = self.wait_for(lambda message: message.get("id") == self.next_id and "method" not in message)
        assert "error" not in reply, reply
        return reply["result"]

    def wait_for(self, wanted: Callable[[dict], bool]) -> dict:
        while True:
            try:
                message = self.incoming.get(timeout=DEADLOCK_GUARD)
            except queue.Empty:
                raise AssertionError(f"no reply within {DEADLOCK_GUARD}s; stderr so far is in the process") from None
            if "method" in message and "id" in message:  # a request from the server: accept it
                self.send({"id": message["id"], "result": None})
                continue
            if "method" in message:
                self.notifications.append(message)
            if wanted(message):
                return message

    def diagnostics(self, uri: str, version: int) -> list[dict]:
        published = self.wait_for(lambda message: message.get("method") == "textDocument/publishDiagnostics"
                                  and message["params"]["uri"] == uri and message["params"].get("version") == version)
        return published["params"]["diagnostics"]


@pytest.fixture
def client(tmp_path: Path):
    started = Client(tmp_path)
    result = started.request("initialize", {
        "processId": os.getpid(), "rootUri": tmp_path.as_uri(),
        "capabilities": {"workspace": {"workspaceEdit": {"documentChanges": True}},
                         "general": {"positionEncodings": ["utf-16"]}},
    })
    assert result["capabilities"]["textDocumentSync"]["change"] == 1  # full
    started.notify("initialized", {})
    yield started
    if started.process.poll() is None:
        started.process.kill()
        started.process.wait()


def shut_down(client: Client) -> int:
    assert client.request("shutdown", None) is None
    client.notify("exit", None)
    client.process.stdin.close()
    return client.process.wait(timeout=DEADLOCK_GUARD)


def open_document(client: Client, path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    uri = path.as_uri()
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}})
    return uri


def change(client: Client, uri: str, version: int, text: str) -> None:
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]})


def by_code(diagnostics: list[dict]) -> dict[str, dict]:
    return {diagnostic["code"]: diagnostic for diagnostic in diagnostics}


def code_actions(client: Client, uri: str, diagnostic: dict) -> list[dict]:
    return client.request("textDocument/codeAction", {
        "textDocument": {"uri": uri}, "range": diagnostic["range"],
        "context": {"diagnostics": [diagnostic], "triggerKind": 1},
    })


def applied(text: str, action: dict, uri: str) -> str:
    """The text after a code action's workspace edit, applied as an editor applies it."""
    edit = action["edit"]
    if "documentChanges" in edit:
        [change] = edit["documentChanges"]
        assert change["textDocument"]["uri"] == uri
        edits = change["edits"]
    else:
        edits = edit["changes"][uri]
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(position: dict) -> int:
        # LSP characters are UTF-16 units; count them off the line
        line = lines[position["line"]] if position["line"] < len(lines) else ""
        units = 0
        for index, character in enumerate(line):
            if units >= position["character"]:
                return starts[position["line"]] + index
            units += 2 if ord(character) > 0xFFFF else 1
        return starts[min(position["line"], len(lines))] + len(line)

    for text_edit in sorted(edits, key=lambda e: (e["range"]["start"]["line"], e["range"]["start"]["character"]), reverse=True):
        start, end = offset(text_edit["range"]["start"]), offset(text_edit["range"]["end"])
        text = text[:start] + text_edit["newText"] + text[end:]
    return text


def test_a_session_reports_exact_ranges_and_clears_them_when_the_bug_is_fixed(client: Client, tmp_path: Path) -> None:
    uri = open_document(client, tmp_path / "train.py", BUGGY)
    diagnostics = by_code(client.diagnostics(uri, 1))
    assert set(diagnostics) == {"TL104", "TL201"}

    forward = diagnostics["TL104"]
    # column 33 in code points; the emoji before it takes two UTF-16 units, so character 33
    assert forward["range"] == {"start": {"line": 11, "character": 33}, "end": {"line": 11, "character": 56}}
    assert forward["source"] == "torchlint"
    assert forward["severity"] == 2  # Warning
    assert forward["codeDescription"]["href"] == registry.rule_url("TL104")

    softmax = diagnostics["TL201"]
    assert softmax["range"] == {"start": {"line": 17, "character": 11}, "end": {"line": 18, "character": 17}}
    assert softmax["codeDescription"]["href"] == registry.rule_url("TL201")

    change(client, uri, 2, FIXED)
    assert client.diagnostics(uri, 2) == []

    change(client, uri, 3, FIXED + "def broken(:\n")
    [syntax_error] = client.diagnostics(uri, 3)
    assert syntax_error["code"] == "TL000" and syntax_error["severity"] == 1  # Error
    assert "TL000" in ERROR_CODES

    assert shut_down(client) == 0


def test_the_noqa_action_suppresses_the_finding(client: Client, tmp_path: Path) -> None:
    path = tmp_path / "train.py"
    uri = open_document(client, path, BUGGY)
    for code, diagnostic in by_code(client.diagnostics(uri, 1)).items():
        [noqa] = [action for action in code_actions(client, uri, diagnostic) if "noqa" in action["title"]]
        assert noqa["title"] == f"Suppress {code} on this line (# noqa: {code})"
        assert noqa["kind"] == "quickfix" and noqa["diagnostics"][0]["code"] == code
        suppressed = applied(BUGGY, noqa, uri)
        assert f"# noqa: {code}" in suppressed
        assert code not in {finding.code for finding in lint_source(suppressed, str(path))}
    assert shut_down(client) == 0


def test_the_noqa_action_extends_an_existing_noqa_comment(client: Client, tmp_path: Path) -> None:
    path = tmp_path / "train.py"
    text = BUGGY.replace("self.encoder.forward(x)", "self.encoder.forward(x)  # noqa: TL999")
    uri = open_document(client, path, text)
    forward = by_code(client.diagnostics(uri, 1))["TL104"]
    [noqa] = [action for action in code_actions(client, uri, forward) if "noqa" in action["title"]]
    suppressed = applied(text, noqa, uri)
    assert "# noqa: TL999,TL104" in suppressed and suppressed.count("# noqa") == 1
    assert "TL104" not in {finding.code for finding in lint_source(suppressed, str(path))}
    assert shut_down(client) == 0


def test_the_noqa_action_goes_after_a_backslash_continuation(client: Client, tmp_path: Path) -> None:
    path = tmp_path / "train.py"
    text = BUGGY.replace("self.encoder.forward(x)", "self.encoder.forward(x) + \\\n            0")
    uri = open_document(client, path, text)
    forward = by_code(client.diagnostics(uri, 1))["TL104"]
    [noqa] = [action for action in code_actions(client, uri, forward) if "noqa" in action["title"]]
    suppressed = applied(text, noqa, uri)
    assert "            0  # noqa: TL104\n" in suppressed  # a comment after the backslash would not parse
    assert "TL104" not in {finding.code for finding in lint_source(suppressed, str(path))}
    assert shut_down(client) == 0


def test_the_fix_action_applies_the_rules_fix(client: Client, tmp_path: Path) -> None:
    path = tmp_path / "train.py"
    uri = open_document(client, path, BUGGY)
    diagnostics = by_code(client.diagnostics(uri, 1))
    for code, expected in (("TL104", "features = self.encoder(x)"), ("TL201", "probs = model(x)")):
        fixes = [action for action in code_actions(client, uri, diagnostics[code]) if "noqa" not in action["title"]]
        [fix] = fixes
        assert fix["kind"] == "quickfix" and fix["isPreferred"] is True and "(unsafe)" not in fix["title"]
        assert fix["edit"]["documentChanges"][0]["textDocument"]["version"] == 1
        fixed = applied(BUGGY, fix, uri)
        assert expected in fixed
        assert code not in {finding.code for finding in lint_source(fixed, str(path))}
    assert shut_down(client) == 0


def test_the_nearest_configuration_governs_the_document(client: Client, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text('[tool.torchlint]\nignore = ["TL201"]\n', encoding="utf-8")
    uri = open_document(client, project / "train.py", BUGGY)
    assert set(by_code(client.diagnostics(uri, 1))) == {"TL104"}
    assert shut_down(client) == 0


def test_a_broken_configuration_is_reported_and_the_server_lives_on(client: Client, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[tool.torchlint\n", encoding="utf-8")
    uri = open_document(client, project / "train.py", BUGGY)
    assert client.diagnostics(uri, 1) == []
    assert any(message["method"] == "window/showMessage" and "invalid TOML" in message["params"]["message"]
               for message in client.notifications)
    healthy = open_document(client, tmp_path / "other.py", BUGGY)
    assert set(by_code(client.diagnostics(healthy, 1))) == {"TL104", "TL201"}
    assert shut_down(client) == 0


def test_a_notebook_gets_no_diagnostics(client: Client, tmp_path: Path) -> None:
    path = tmp_path / "nb.ipynb"
    path.write_text("{}", encoding="utf-8")
    uri = path.as_uri()
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": "{}"}})
    assert client.diagnostics(uri, 1) == []
    assert shut_down(client) == 0


def test_without_pygls_the_server_command_says_how_to_install_it() -> None:
    blocked = "import sys; sys.modules['pygls'] = None; from torchlint.cli import main; sys.exit(main(['server']))"
    result = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True, timeout=DEADLOCK_GUARD, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert result.stderr.strip() == "torchlint: error: the language server needs pygls: pip install 'torchlint[lsp]'"
