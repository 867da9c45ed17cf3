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

from corpus.document import Document
from corpus.engine.context import StageContext
from corpus.stages.base import Stage, register

# C0/C1 controls except tab, newline and carriage return; plus zero-width and BOM characters.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u200e\u200f\u2060\ufeff]")
_SPACES = re.compile(r"[^\S\n]+")
_TRAILING = re.compile(r" *\n *")
_BLANKS = re.compile(r"\n{3,}")


@dataclass
class NormalizeParams:
    form: str = "NFC"
    strip_control: bool = True
    collapse_whitespace: bool = True

    def check(self) -> None:
        from corpus.errors import UserError

        if self.form not in ("NFC", "NFKC", "NFD", "NFKD", "none"):
            raise UserError(f"stage 'normalize': form must be NFC, NFKC, NFD, NFKD or none, not {self.form!r}")


@register
class Normalize(Stage):
    name = "normalize"
    Params = NormalizeParams
    doc = "Unicode normalisation, control characters stripped, whitespace runs collapsed."

    def process(self, docs: Iterable[Document], ctx: StageContext) -> Iterator[Document]:
        p: NormalizeParams = self.p
        for doc in docs:
            text = doc.text
            if p.form != "none" and not unicodedata.is_normalized(p.form, text):
                text = unicodedata.normalize(p.form, text)
                ctx.count("unicode_normalized")
            if p.strip_control:
                stripped = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
                if len(stripped) != len(text):
                    ctx.count("control_stripped")
                text = stripped
            if p.collapse_whitespace:
                collapsed = _BLANKS.sub("\n\n", _TRAILING.sub("\n", _SPACES.sub(" ", text))).strip()
                if collapsed != text:
                    ctx.count("whitespace_collapsed")
                text = collapsed
            doc.text = text
            yield doc
