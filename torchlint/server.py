"""``torchlint server``: torchlint's findings in any editor that speaks the Language Server Protocol.

The flake8 plugin already puts findings in editors, but only where flake8 runs, only on saved
files, only as a line and a column. The server lints the buffer as it is typed, with the
configuration and the project facts of the file's path (``engine.lint_source`` takes the unsaved
text and the path), reports each finding's exact range with a link to its rule's page, and offers
quick fixes: the rule's own fix where it has one, and a ``# noqa`` for the line.

Choices that are not obvious from the code:

- Full document sync: the client sends the whole text on each change, so the server lints exactly
  the bytes the editor shows and never applies a range edit of its own.
- One lint at a time, off the event loop: the engine shares one project index per process, and a
  lint of a large file must not hold up the messages behind it. Changes that arrive while a file
  is linted are folded into one more lint of the latest text, and results for a text that has
  changed meanwhile are never published.
- Positions: a finding counts lines and columns from 1, columns in code points, the end
  exclusive; LSP counts from 0, columns in the code units of the negotiated encoding (UTF-16
  unless the client offers another), the end exclusive. Lines break where Python breaks them.
- Notebooks (``.ipynb``) get no diagnostics: editors show them as cells, which a client sends as
  notebook documents, and mapping cell positions back is not done here. The CLI lints them.
- Nothing that goes wrong while linting stops the server: it is logged to the client, shown once,
  and the document gets no diagnostics.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
import tokenize
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Optional, Sequence
from urllib.parse import unquote

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from torchlint import __version__, registry
from torchlint.config import Config, ConfigError, find_pyproject, load_config
from torchlint.engine import lint_source
from torchlint.findings import Edit, Finding, FixSafety
from torchlint.notebook import is_notebook_path
from torchlint.source import LINE_BREAK
from torchlint.suppressions import is_suppressed, noqa_codes, noqa_lines

SOURCE = "torchlint"
# the engine's codes that mean the file was not analysed at all; every other code is a rule's
ERROR_CODES = frozenset({"TL000", "TL001", "TL003"})
PYTHON_SUFFIXES = (".py", ".pyi")


def serve() -> int:
    """Speak LSP over stdin and stdout until the client says exit."""
    protocol_out = sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print() anywhere must not corrupt the protocol stream
    create_server().start_io(sys.stdin.buffer, protocol_out)
    return 0


@dataclass(frozen=True)
class Linted:
    """The findings of one text of a document, kept to answer code actions on that text."""

    text: str
    version: Optional[int]
    findings: tuple[Finding, ...]
    config: Config


class TorchlintServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("torchlint", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Full)
        self.linted: dict[str, Linted] = {}
        self.stale: set[str] = set()  # documents changed since their last lint started
        self.running: dict[str, asyncio.Future] = {}
        self.shown: set[str] = set()  # error messages already shown, so typing does not repeat them
        self.linter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="torchlint-lint")

    def units(self) -> Callable[[str], int]:
        """How many code units of the negotiated position encoding a string takes."""
        return self.workspace.position_codec.client_num_units

    def report(self, message: str, details: str = "") -> None:
        self.window_log_message(types.LogMessageParams(type=types.MessageType.Error, message=f"{message}\n{details}".rstrip()))
        if message not in self.shown:
            self.shown.add(message)
            self.window_show_message(types.ShowMessageParams(type=types.MessageType.Error, message=message))


def create_server() -> TorchlintServer:
    server = TorchlintServer()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: TorchlintServer, params: types.DidOpenTextDocumentParams) -> None:
        _request_lint(ls, params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: TorchlintServer, params: types.DidChangeTextDocumentParams) -> None:
        _request_lint(ls, params.text_document.uri)

    # on save too: the text is the same, but the other files of the project may have changed
    @server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    def did_save(ls: TorchlintServer, params: types.DidSaveTextDocumentParams) -> None:
        _request_lint(ls, params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: TorchlintServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.linted.pop(uri, None)
        ls.stale.discard(uri)
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]))
    def code_action(ls: TorchlintServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        try:
            return _code_actions(ls, params)
        except Exception as error:  # a failed quick fix must not cost the user the server
            ls.report(f"torchlint: code actions failed: {type(error).__name__}: {error}", traceback.format_exc())
            return []

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: TorchlintServer, params: None) -> None:
        ls.linter.shutdown(wait=False, cancel_futures=True)

    return server


# -- diagnostics ------------------------------------------------------------------------------


def _request_lint(ls: TorchlintServer, uri: str) -> None:
    ls.stale.add(uri)
    if uri not in ls.running:
        ls.running[uri] = asyncio.ensure_future(_lint_until_current(ls, uri))


async def _lint_until_current(ls: TorchlintServer, uri: str) -> None:
    loop = asyncio.get_running_loop()
    try:
        while uri in ls.stale:
            ls.stale.discard(uri)
            document = ls.workspace.text_documents.get(unquote(uri))
            if document is None:  # closed before its turn came
                return
            text, version = document.source, document.version
            try:
                findings, config = await loop.run_in_executor(ls.linter, _lint_document, uri, text, document.language_id)
            except ConfigError as error:
                ls.report(f"torchlint: {error}")
                findings, config = [], Config()
            except Exception as error:
                ls.report(f"torchlint: linting {uri} failed: {type(error).__name__}: {error}", traceback.format_exc())
                findings, config = [], Config()
            if uri in ls.stale or unquote(uri) not in ls.workspace.text_documents:
                continue  # these findings describe a text the editor no longer shows
            try:
                positions = Positions(text, ls.units())
                diagnostics = [_diagnostic(finding, positions) for finding in findings]
            except Exception as error:  # the same promise for turning findings into diagnostics
                ls.report(f"torchlint: reporting on {uri} failed: {type(error).__name__}: {error}", traceback.format_exc())
                findings, diagnostics = [], []
            ls.linted[uri] = Linted(text, version, tuple(findings), config)
            ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=version))
    finally:
        ls.running.pop(uri, None)


def _lint_document(uri: str, text: str, language_id: Optional[str]) -> tuple[list[Finding], Config]:
    """The findings of one document's text, and the configuration they were found under."""
    path = to_fs_path(uri) if uri.startswith("file:") else None
    if path is None:  # an unsaved new buffer: no file, so no project and no configuration
        return (lint_source(text, "<stdin>", Config()), Config()) if language_id == "python" else ([], Config())
    config = _config_for(path)
    if is_notebook_path(path) or not (language_id == "python" or path.endswith(PYTHON_SUFFIXES)):
        return [], config
    if config.is_excluded_with_parents(path):  # as pre-commit's --force-exclude: an opened site-packages file stays quiet
        return [], config
    return lint_source(text, path, config), config


def _config_for(path: str) -> Config:
    # Settings().for_path remembers each folder's configuration for the life of the process,
    # which suits a run of the CLI; a server outlives edits of pyproject.toml, so it reads the
    # nearest configuration afresh each time (the search itself re-reads only changed files).
    return load_config(find_pyproject(os.path.dirname(os.path.abspath(path))))


def _diagnostic(finding: Finding, positions: "Positions") -> types.Diagnostic:
    url = registry.rule_url(finding.code)
    return types.Diagnostic(
        range=types.Range(positions.at(finding.line, finding.column), positions.at(finding.end_line, finding.end_column)),
        message=finding.message,
        severity=types.DiagnosticSeverity.Error if finding.code in ERROR_CODES else types.DiagnosticSeverity.Warning,
        code=finding.code,
        code_description=types.CodeDescription(href=url) if url else None,
        source=SOURCE,
    )


class Positions:
    """A finding's positions (1-based, columns in code points) as LSP positions (0-based,
    columns in the client's code units)."""

    def __init__(self, text: str, units: Callable[[str], int]):
        self.lines = LINE_BREAK.split(text)
        self.units = units

    def at(self, line: int, column: int) -> types.Position:
        if line > len(self.lines):  # past the end of the text: its end
            return types.Position(len(self.lines) - 1, self.units(self.lines[-1]))
        return types.Position(line - 1, self.units(self.lines[line - 1][: max(column - 1, 0)]))


# -- code actions -----------------------------------------------------------------------------


def _code_actions(ls: TorchlintServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    uri = params.text_document.uri
    only = params.context.only
    if only and not any(types.CodeActionKind.QuickFix.startswith(kind) for kind in only):
        return []
    linted = ls.linted.get(uri)
    document = ls.workspace.text_documents.get(unquote(uri))
    if linted is None or document is None or document.source != linted.text:
        return []  # the findings at hand describe another text; the client asks again once diagnostics arrive
    actions: list[types.CodeAction] = []
    positions = Positions(linted.text, ls.units())
    for finding in linted.findings:
        diagnostic = _diagnostic(finding, positions)
        if not _overlaps(diagnostic.range, params.range):
            continue
        if finding.fix is not None and linted.config.is_fixable(finding.code, finding.name):
            safe = finding.fix.safety is FixSafety.SAFE
            actions.append(types.CodeAction(
                title=finding.fix.title if safe else f"{finding.fix.title} (unsafe)",
                kind=types.CodeActionKind.QuickFix,
                diagnostics=[diagnostic],
                edit=_workspace_edit(ls, uri, linted, positions, finding.fix.edits),
                is_preferred=safe or None,
            ))
        noqa = _noqa_edit(linted.text, finding)
        if noqa is not None:
            actions.append(types.CodeAction(
                title=f"Suppress {finding.code} on this line (# noqa: {finding.code})",
                kind=types.CodeActionKind.QuickFix,
                diagnostics=[diagnostic],
                edit=_workspace_edit(ls, uri, linted, positions, (noqa,)),
            ))
    return actions


def _overlaps(first: types.Range, second: types.Range) -> bool:
    # inclusive at both ends: a cursor just after a finding still offers its fixes
    def key(position: types.Position) -> tuple[int, int]:
        return position.line, position.character

    return key(first.start) <= key(second.end) and key(second.start) <= key(first.end)


def _workspace_edit(ls: TorchlintServer, uri: str, linted: Linted, positions: "Positions", edits: Sequence[Edit]) -> types.WorkspaceEdit:
    text_edits = [types.TextEdit(range=types.Range(positions.at(edit.line, edit.column), positions.at(edit.end_line, edit.end_column)),
                                 new_text=edit.content) for edit in edits]
    capabilities = ls.client_capabilities.workspace
    versioned = capabilities is not None and capabilities.workspace_edit is not None and capabilities.workspace_edit.document_changes
    if versioned:  # the client then refuses the edit if the document changed since it was linted
        identifier = types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=linted.version)
        return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(text_document=identifier, edits=text_edits)])
    return types.WorkspaceEdit(changes={uri: text_edits})


def _noqa_edit(text: str, finding: Finding) -> Optional[Edit]:
    """The edit that adds the finding's code to a ``# noqa`` on its line, or None when no comment
    can silence it (the engine's own codes are not suppressed by a line's comment)."""
    if finding.code in registry.ENGINE_CODES:
        return None
    lines = LINE_BREAK.split(text)
    number = _comment_line(text, finding.line)
    if not 0 < number <= len(lines):
        return None
    line = lines[number - 1]
    listed = noqa_codes(line)
    if listed is None:
        kept = len(line.rstrip())
        edit = Edit(number, kept + 1, number, len(line) + 1, f"  # noqa: {finding.code}")
    elif listed:
        # after the last code the comment lists; a second ``# noqa`` on the line would be ignored
        end = line.lower().index("# noqa") + len("# noqa")
        for code in listed:
            end = line.index(code, end) + len(code)
        edit = Edit(number, end + 1, number, end + 1, f",{finding.code}")
    else:
        return None  # a bare ``# noqa`` silences everything already
    edited = _applied(text, edit)
    # the comment must silence the finding as the engine reads it (strings spanning lines,
    # continuations, names in the list), or it is not offered
    return edit if is_suppressed(finding.code, noqa_lines(edited)(finding.line), finding.name) else None


def _applied(text: str, edit: Edit) -> str:
    starts = [0] + [match.end() for match in LINE_BREAK.finditer(text)]
    start = starts[edit.line - 1] + edit.column - 1
    end = starts[edit.end_line - 1] + edit.end_column - 1
    return text[:start] + edit.content + text[end:]


def _comment_line(text: str, line: int) -> int:
    """The line a comment about ``line`` can go on: the line itself, or the last line of the
    multi-line string or backslash continuation it is part of, where flake8 reads the comment
    for all of its lines (a comment inside them would be text, or a syntax error)."""
    first = None
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type in (tokenize.ENDMARKER, tokenize.DEDENT):
                continue
            first = token.start[0] if first is None else first
            if token.type in (tokenize.NL, tokenize.NEWLINE):
                if first <= line <= token.start[0]:
                    return token.start[0]
                first = None
    except (tokenize.TokenError, SyntaxError):
        pass  # the line as it stands
    return line
