"""Reporters turn findings into text for people or tools: each is a function findings -> str."""

from __future__ import annotations

from typing import Callable, Sequence

from torchlint.findings import Finding
from torchlint.reporters.github import render as render_github
from torchlint.reporters.json import render as render_json
from torchlint.reporters.sarif import render as render_sarif
from torchlint.reporters.text import render as render_text

Reporter = Callable[[Sequence[Finding]], str]
REPORTERS: dict[str, Reporter] = {
    "text": render_text,
    "json": render_json,
    "sarif": render_sarif,
    "github": render_github,
}
