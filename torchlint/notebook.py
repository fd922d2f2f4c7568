"""Jupyter notebooks as programs: the code cells of an ``.ipynb``, in order, as one Python file.

A notebook runs top to bottom as one namespace, so a model defined in cell 3 and trained in
cell 9 is one program. IPython's own syntax is masked, not fatal, the way IPython itself turns a
cell into Python before running it:

- line magics (``%matplotlib inline``) and shell escapes (``!pip install``) become ``pass``;
  ``%time`` and ``%timeit`` keep the statement they run;
- ``files = !ls`` and ``x = %env HOME`` keep their target (``files = None``);
- help (``x?``, ``??x``) and autocalls (``/f x``) become ``pass``;
- a cell magic keeps its cell when the cell is Python that runs in the notebook (``%%time``,
  ``%%capture``) and drops it otherwise (``%%bash``, ``%%writefile``, ``%%html``).

A code cell that Python cannot parse even so is left out and reported at its own position;
the other cells are still analysed. Every line of the program remembers its cell, its line in
the cell and the line of the ``.ipynb`` file that holds it, for the tools that show the raw file.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field
from typing import Optional

from torchlint.source import LINE_BREAK, keep_ends, python_syntax_error

PYTHON_LANGUAGES = {"python", "python2", "python3", "ipython", "ipython2", "ipython3"}
# cell magics whose body is Python run in the notebook's own namespace
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug", "memit", "mprun", "skip"}
# line magics whose argument is a Python statement run in the notebook's namespace
STATEMENT_LINE_MAGICS = {"time", "timeit"}
_TIMEIT_OPTIONS_WITH_VALUE = {"-n", "-r", "-p"}
_MAGIC_ASSIGNMENT = re.compile(r"([A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*)\s*=\s*[!%]")
_IPYTHON_PREFIXES = ("%", "!", "?", "/", ",", ";")


class NotANotebook(ValueError):
    """The file is not notebook JSON; the message says why."""


@dataclass(frozen=True)
class Origin:
    """Where a line of the program came from."""

    cell: int  # 1-based index among the code cells
    line: int  # 1-based line within the cell
    column_shift: int  # characters removed from the start of the line (indentation, ``%time ``)
    file_line: int  # the line of the .ipynb file that holds it
    verbatim: bool = True  # the line is the cell's own text (not masked IPython): fixes may edit it


@dataclass(frozen=True)
class BrokenCell:
    cell: int
    line: int
    column: int
    message: str
    file_line: int


@dataclass
class Notebook:
    program: str
    origins: list[Origin] = field(default_factory=list)  # origins[n - 1] is program line n
    broken_cells: list[BrokenCell] = field(default_factory=list)
    language: str = "python"

    @property
    def is_python(self) -> bool:
        return self.language.lower() in PYTHON_LANGUAGES

    def origin(self, program_line: int) -> Optional[Origin]:
        if 0 < program_line <= len(self.origins):
            return self.origins[program_line - 1]
        return self.origins[-1] if self.origins else None


def is_notebook_path(path: str) -> bool:
    return path.lower().endswith(".ipynb")


def read_notebook(text: str) -> Notebook:
    """The program of a notebook's code cells. Raises NotANotebook for anything that is not
    notebook JSON (nbformat 4, or 3 with worksheets)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise NotANotebook(f"not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})") from None
    except RecursionError:
        raise NotANotebook("JSON nested too deeply") from None
    if not isinstance(document, dict):
        raise NotANotebook("the JSON is not an object with a 'cells' list")
    cells = _cells_of(document)
    file_lines = _source_file_lines(text)
    notebook = Notebook(program="", language=_language_of(document))
    program: list[str] = []
    code_cell = 0
    for position, cell in enumerate(cells):
        if not isinstance(cell, dict):
            raise NotANotebook(f"cell {position + 1} is not an object")
        if cell.get("cell_type") != "code":
            continue
        code_cell += 1
        source = cell.get("source", cell.get("input", ""))
        if isinstance(source, list) and all(isinstance(part, str) for part in source):
            parts = source
        elif isinstance(source, str):
            parts = [source]
        else:
            raise NotANotebook(f"code cell {code_cell} has no text source")
        where = file_lines[position] if position < len(file_lines) else []
        _add_cell(notebook, program, code_cell, parts, where)
    notebook.program = "".join(program)
    return notebook


def _cells_of(document: dict) -> list:
    if isinstance(document.get("cells"), list):
        return document["cells"]
    worksheets = document.get("worksheets")  # nbformat 3
    if isinstance(worksheets, list) and all(isinstance(sheet, dict) for sheet in worksheets):
        return [cell for sheet in worksheets for cell in sheet.get("cells", []) if isinstance(sheet.get("cells"), list)]
    raise NotANotebook("no 'cells' list (is it a Jupyter notebook?)")


def _language_of(document: dict) -> str:
    metadata = document.get("metadata") if isinstance(document.get("metadata"), dict) else {}
    for key, inner in (("kernelspec", "language"), ("language_info", "name")):
        table = metadata.get(key)
        if isinstance(table, dict) and isinstance(table.get(inner), str) and table[inner].strip():
            return table[inner].strip()
    return "python"


# -- one cell --------------------------------------------------------------------------------


def _add_cell(notebook: Notebook, program: list[str], cell: int, parts: list[str], part_file_lines: list[int]) -> None:
    lines: list[str] = []
    file_lines: list[int] = []
    for index, part in enumerate(parts):
        for piece in LINE_BREAK.split(part):
            lines.append(piece)
            file_lines.append(part_file_lines[index] if index < len(part_file_lines) else (part_file_lines[-1] if part_file_lines else 1))
        if part and LINE_BREAK.match(part[-1]):  # a part ending in a newline: no empty line after it
            lines.pop()
            file_lines.pop()
    if not lines:
        return
    masked = _mask_ipython(lines)
    if masked is None:  # a cell magic whose body is not Python run here
        return
    code = [text for text, _ in masked]
    source = "".join(text + "\n" for text in code)
    problem = python_syntax_error(source)
    if problem is not None:
        message, line, column = problem
        line = min(max(line, 1), len(masked))
        notebook.broken_cells.append(BrokenCell(cell, line, column + masked[line - 1][1], message, file_lines[line - 1]))
        return
    for number, ((text, shift), original) in enumerate(zip(masked, lines), start=1):
        program.append(text + "\n")
        notebook.origins.append(Origin(cell, number, shift, file_lines[number - 1], verbatim=shift == 0 and text == original))


def _mask_ipython(lines: list[str]) -> Optional[list[tuple[str, int]]]:
    """The cell as Python, each line with the number of characters removed from its start;
    None for a cell that a cell magic hands to something other than this Python."""
    lines = list(lines)
    first = next((index for index, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return [(line, 0) for line in lines]
    if lines[first].lstrip().startswith("%%"):
        name = lines[first].lstrip()[2:].split(maxsplit=1)
        if not name or name[0] not in PYTHON_CELL_MAGICS:
            return None
        lines[first] = ""
    dedent = _leading_indent(lines)
    masked: list[tuple[str, int]] = []
    state = _ScanState()
    for line in lines:
        shift = 0
        if dedent and line.startswith(dedent):  # IPython strips the first line's indentation from every line
            line, shift = line[len(dedent):], len(dedent)
        if state.at_logical_start and _is_ipython_line(line):
            text, removed = _masked_line(line)
            masked.append((text, shift + removed))
            continue
        state.scan(line)
        masked.append((line, shift))
    return masked


def _leading_indent(lines: list[str]) -> str:
    first = next((line for line in lines if line.strip()), "")
    return first[: len(first) - len(first.lstrip(" \t"))]


def _is_ipython_line(line: str) -> bool:
    stripped = line.lstrip()
    if stripped.startswith(_IPYTHON_PREFIXES) or _MAGIC_ASSIGNMENT.match(stripped):
        return True
    # help: ``obj?`` and ``obj??``; no ``?`` can end a line of Python outside a comment or string
    code = stripped.split("#", 1)[0].rstrip()
    return code.endswith("?") and "'" not in code and '"' not in code


def _masked_line(line: str) -> tuple[str, int]:
    """(Python for an IPython line, characters removed from its start)."""
    indent = line[: len(line) - len(line.lstrip())]
    stripped = line.lstrip()
    assignment = _MAGIC_ASSIGNMENT.match(stripped)
    if assignment is not None and not stripped.startswith(_IPYTHON_PREFIXES):
        return f"{indent}{assignment.group(1)} = None", 0
    if stripped.startswith("%") and not stripped.startswith("%%"):
        statement = _statement_of_line_magic(stripped[1:])
        if statement is not None and python_syntax_error(statement + "\n") is None:
            return indent + statement, len(stripped) - len(statement)
    return indent + "pass", 0


def _statement_of_line_magic(magic: str) -> Optional[str]:
    """The statement ``%time`` or ``%timeit`` runs, without the magic and its options."""
    words = magic.split(None, 1)
    if not words or words[0] not in STATEMENT_LINE_MAGICS or len(words) < 2:
        return None
    rest = words[1]
    while rest.startswith("-"):
        option, _, rest = rest.partition(" ")
        rest = rest.lstrip()
        if option in _TIMEIT_OPTIONS_WITH_VALUE:
            _, _, rest = rest.partition(" ")
            rest = rest.lstrip()
    return rest.rstrip() or None


class _ScanState:
    """Whether the next line starts a logical line of Python: IPython syntax is recognised only
    there, never inside brackets, a triple-quoted string or after a backslash."""

    def __init__(self) -> None:
        self.depth = 0
        self.open_quote: Optional[str] = None
        self.continued = False

    @property
    def at_logical_start(self) -> bool:
        return self.depth == 0 and self.open_quote is None and not self.continued

    def scan(self, line: str) -> None:
        index, length = 0, len(line)
        self.continued = False
        while index < length:
            if self.open_quote is not None:
                end = _closing_quote(line, index, self.open_quote)
                if end < 0:
                    return
                index, self.open_quote = end, None
                continue
            char = line[index]
            if char == "#":
                return
            if char in "\"'":
                quote = line[index: index + 3] if line[index: index + 3] in ('"""', "'''") else char
                end = _closing_quote(line, index + len(quote), quote)
                if end < 0:
                    if len(quote) == 3:
                        self.open_quote = quote
                    return  # an unterminated one-line string is a syntax error: the parser says so
                index = end
                continue
            if char in "([{":
                self.depth += 1
            elif char in ")]}":
                self.depth = max(self.depth - 1, 0)
            elif char == "\\" and index == length - 1:
                self.continued = True
            index += 1


def _closing_quote(line: str, start: int, quote: str) -> int:
    """The index just after ``quote`` closes at or after ``start``, or -1."""
    index = start
    while index < len(line):
        if line[index] == "\\":
            index += 2
            continue
        if line.startswith(quote, index):
            return index + len(quote)
        index += 1
    return -1


# -- lines of the .ipynb file ----------------------------------------------------------------

_JSON_TOKEN = re.compile(r'\s*(?:("[^"\\]*(?:\\.[^"\\]*)*")|([{}\[\],:])|(true|false|null|-?[0-9][0-9.eE+-]*))', re.S)


def _source_file_lines(text: str) -> list[list[int]]:
    """For each cell in document order, the line of the file on which each part of its source
    starts. Tools that show the raw file (SARIF viewers, GitHub annotations) point there."""
    newlines = [match.start() for match in re.finditer("\n", text)]
    return [[bisect.bisect_right(newlines, start) + 1 for start, _ in spans] for spans in _source_spans(text)]


def _source_spans(text: str) -> list[list[tuple[int, int]]]:
    """For each cell in document order, the (start, end) offsets in the file of each JSON string
    of its source, quotes included."""
    found: list[list[tuple[int, int]]] = []

    path: list = []  # keys and indexes from the document down to the current value
    stack: list[list] = []  # per open container: ["array"] or ["object", whether path ends in its key]
    expecting_key = False
    for token in _JSON_TOKEN.finditer(text):
        string, punctuation = token.group(1), token.group(2)
        if punctuation == "{":
            stack.append(["object", False])
            expecting_key = True
        elif punctuation == "[":
            stack.append(["array"])
            path.append(0)
        elif punctuation in ("}", "]"):
            if stack:
                closed = stack.pop()
                if closed[0] == "array" or closed[1]:
                    path.pop()
            expecting_key = False
        elif punctuation == ",":
            if stack and stack[-1][0] == "array":
                path[-1] += 1
            else:
                expecting_key = True
        elif punctuation == ":":
            expecting_key = False
        elif string is not None and expecting_key and stack:
            if stack[-1][1]:
                path.pop()
            path.append(json.loads(string))
            stack[-1][1] = True
            expecting_key = False
        elif string is not None:
            cell = _cell_of_source_path(path)
            if cell is not None:
                while len(found) <= cell:
                    found.append([])
                found[cell].append(token.span(1))
    return found


# -- writing fixed cells back ------------------------------------------------------------------


def code_cell_sources(text: str) -> dict[int, str]:
    """The source of each code cell of an nbformat-4 notebook, by its 1-based number among the
    code cells (the numbering of findings)."""
    return {number: source for number, (_, source, _) in _code_cells(text).items()}


def replace_code_cell_sources(text: str, sources: dict[int, str]) -> str:
    """The notebook's JSON with these code cells' sources replaced and every other byte kept:
    outputs, metadata, key order, indentation, and the JSON text of each unchanged line."""
    cells = _code_cells(text)
    spans = _source_spans(text)
    ascii_only = text.isascii()
    replacements = []
    for number, source in sources.items():
        position, old, was_list = cells[number]
        tokens = spans[position] if position < len(spans) else []
        if not tokens:
            raise NotANotebook(f"cannot locate the source of code cell {number}")
        encode = lambda part: json.dumps(part, ensure_ascii=ascii_only)  # noqa: E731
        if not was_list:
            replacements.append((tokens[0][0], tokens[-1][1], encode(source)))
            continue
        raw = {json.loads(text[start:end]): text[start:end] for start, end in tokens}
        if len(tokens) > 1:
            separator = text[tokens[0][1]:tokens[1][0]]
        else:
            opening = text.rfind("[", 0, tokens[0][0])
            separator = "," + text[opening + 1:tokens[0][0]]
        parts = keep_ends(source)
        replacements.append((tokens[0][0], tokens[-1][1], separator.join(raw.get(part) or encode(part) for part in parts)))
    for start, end, replacement in sorted(replacements, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _code_cells(text: str) -> dict[int, tuple[int, str, bool]]:
    """Code cell number -> (position in the cells list, source, whether the source is a list)."""
    document = json.loads(text)
    cells = document.get("cells") if isinstance(document, dict) else None
    if not isinstance(cells, list):
        raise NotANotebook("only nbformat-4 notebooks (with a top-level 'cells' list) can be fixed")
    found = {}
    for position, cell in enumerate(cells):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            found[len(found) + 1] = (position, "".join(source) if isinstance(source, list) else source, isinstance(source, list))
    return found


def _cell_of_source_path(path: list) -> Optional[int]:
    """The position in the cells list of a string at ``cells[i].source[j]`` (or nbformat 3's
    ``worksheets[w].cells[i].input[j]``, counted across worksheets as read)."""
    if len(path) >= 3 and path[0] == "cells" and path[2] == "source":
        return path[1]
    if len(path) >= 5 and path[0] == "worksheets" and path[2] == "cells" and path[4] == "input":
        return path[3]  # one worksheet in practice; several are counted from each sheet's start
    return None
