"""Reading Python source files: the size limit and PEP 263 decoding, shared by the engine and
the project index so both read a file the same way."""

from __future__ import annotations

import io
import tokenize

MAX_FILE_BYTES = 5 * 1024 * 1024  # larger files are almost always generated; parsing them would stall a commit hook
# A notebook's JSON is mostly outputs (images, tables); only its code must fit MAX_FILE_BYTES.
MAX_NOTEBOOK_BYTES = 256 * 1024 * 1024


def decode(data: bytes) -> str:
    """Decode per PEP 263: a BOM or coding cookie, else UTF-8."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return data.decode(encoding)
