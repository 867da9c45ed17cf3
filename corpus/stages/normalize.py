"""``normalize``: Unicode NFC, control characters stripped, whitespace runs collapsed.

Each change is counted (``extra``: documents changed per kind), so a user can see how much of the
corpus was touched. Line breaks are kept (runs of blank lines collapse to one blank line) because
the line-level quality rules downstream depend on them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from corpus import keys
from corpus.document import Document
from corpus.stages.base import Stage, register
from corpus.stages.context import StageContext

# C0/C1 controls except tab, newline and carriage return; plus zero-width and BOM characters.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u200e\u200f\u2060\ufeff]")
# Substrings whose absence in an ASCII text proves there is no whitespace to collapse.
_ASCII_WS_SIGNS = ("  ", "\t", " \n", "\n ", "\n\n\n", "\x0b", "\x0c")


def collapse_whitespace(text: str) -> str:
    """Runs of spaces and tabs become one space, lines are trimmed, blank-line runs become one.

    ``str.split`` does the work in C; most clean ASCII documents return at the first check.
    """
    if text.isascii() and not any(s in text for s in _ASCII_WS_SIGNS) and text == text.strip():
        return text
    out: list[str] = []
    blank = False
    for line in text.split("\n"):
        line = " ".join(line.split())
        if line:
            out.append(line)
            blank = False
        elif out and not blank:
            out.append("")
            blank = True
    if out and not out[-1]:
        out.pop()
    return "\n".join(out)


@dataclass
class NormalizeParams:
    form: Literal["NFC", "NFKC", "NFD", "NFKD", "none"] = "NFC"
    strip_control: bool = True
    collapse_whitespace: bool = True


@register
class Normalize(Stage):
    name = "normalize"
    category = keys.NORMALIZE
    Params = NormalizeParams
    doc = "Unicode normalisation, control characters stripped, whitespace runs collapsed."

    def process(self, docs: Iterable[Document], ctx: StageContext) -> Iterator[Document]:
        """Normalised documents; one whose text is left empty (it held only control or zero-width
        characters and whitespace) is removed as ``normalized_empty``, never kept as an empty text."""
        return self.route(((doc, None if doc.text.strip() else "normalized_empty")
                           for doc in self._normalize(docs, ctx)), ctx)

    def _normalize(self, docs: Iterable[Document], ctx: StageContext) -> Iterator[Document]:
        p: NormalizeParams = self.p
        for doc in docs:
            text = doc.text
            if p.form != "none" and not unicodedata.is_normalized(p.form, text):
                text = unicodedata.normalize(p.form, text)
                ctx.count("unicode_normalized")
            if p.strip_control:
                stripped = text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text
                stripped = _CONTROL.sub("", stripped)
                if len(stripped) != len(text):
                    ctx.count("control_stripped")
                text = stripped
            if p.collapse_whitespace:
                collapsed = collapse_whitespace(text)
                if collapsed != text:
                    ctx.count("whitespace_collapsed")
                text = collapsed
            doc.text = text
            yield doc
