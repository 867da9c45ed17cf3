"""``length``: keep documents whose character and word counts lie within bounds."""

from __future__ import annotations

from dataclasses import dataclass

from corpus import keys
from corpus.document import Document
from corpus.stages.base import Filter, register


@dataclass
class LengthParams:
    min_chars: int = 0
    max_chars: int | None = None
    min_words: int = 0
    max_words: int | None = None


@register
class Length(Filter):
    name = "length"
    category = keys.QUALITY
    Params = LengthParams
    doc = "Drop documents shorter or longer than the given characters or whitespace-separated words."

    def decide(self, doc: Document) -> str | None:
        p: LengthParams = self.p
        n = len(doc.text)
        if n < p.min_chars:
            return "too_few_chars"
        if p.max_chars is not None and n > p.max_chars:
            return "too_many_chars"
        if p.min_words or p.max_words is not None:
            words = len(doc.text.split())
            if words < p.min_words:
                return "too_few_words"
            if p.max_words is not None and words > p.max_words:
                return "too_many_words"
        return None
