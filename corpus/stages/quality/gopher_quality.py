"""``gopher_quality``: Gopher's quality rules (Rae et al. 2021, section A.1.1).

Document length in words, mean word length, hash and ellipsis ratios, bullet and ellipsis lines,
words with a letter, and a minimum of stop words (real prose uses function words). Thresholds and
the stop-word list live in ``rules/quality/gopher_quality.yaml``; ``rules/quality/lang/<code>.yaml``
replaces them per language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import repeat

from corpus import keys
from corpus.document import Document
from corpus.stages.base import register
from corpus.stages.quality import text
from corpus.stages.quality.rule import LanguageRule


@dataclass
class GopherQualityParams:
    min_doc_words: int | None = None
    max_doc_words: int | None = None
    min_avg_word_length: float | None = None
    max_avg_word_length: float | None = None
    max_symbol_word_ratio: float | None = None
    symbols: list[str] = field(default_factory=list)
    ellipses: list[str] = field(default_factory=list)
    max_bullet_lines_ratio: float | None = None
    bullets: list[str] = field(default_factory=list)
    max_ellipsis_lines_ratio: float | None = None
    min_alpha_words_ratio: float | None = None
    min_stop_words: int | None = None
    stop_words: list[str] = field(default_factory=list)
    language_rules: str | None = "quality/lang"
    default_language: str = "en"


def _ratio(count: int, total: int) -> float:
    return count / total if total else 0.0


@register
class GopherQuality(LanguageRule):
    name = "gopher_quality"
    category = keys.QUALITY
    Params = GopherQualityParams
    rules = "quality/gopher_quality.yaml"
    doc = "Gopher quality rules: word count and length, symbol ratios, bullet/ellipsis lines, alphabetic and stop words."

    def check_doc(self, doc: Document, p: GopherQualityParams, split: text.WordSplitter) -> str | None:
        txt = doc.text
        words = text.cached_words(split, txt)
        n_words = len(words)
        n_real, total_length, n_alpha = text.word_stats(words)
        if p.min_doc_words and n_real < p.min_doc_words:
            return "gopher_short_doc"
        if p.max_doc_words and n_real > p.max_doc_words:
            return "gopher_long_doc"
        mean = _ratio(total_length, n_real)
        if p.min_avg_word_length and mean < p.min_avg_word_length:
            return "gopher_short_words"
        if p.max_avg_word_length and mean > p.max_avg_word_length:
            return "gopher_long_words"
        if p.max_symbol_word_ratio:
            if _ratio(sum(map(txt.count, p.symbols)), n_words) > p.max_symbol_word_ratio:
                return "gopher_too_many_symbols"
            if _ratio(sum(map(txt.count, p.ellipses)), n_words) > p.max_symbol_word_ratio:
                return "gopher_too_many_ellipses"
        lines = txt.splitlines()
        if p.max_bullet_lines_ratio:  # per line in C: map over the lines, not a Python loop
            starts = map(str.startswith, map(str.lstrip, lines), repeat(tuple(p.bullets)))
            if _ratio(sum(starts), len(lines)) > p.max_bullet_lines_ratio:
                return "gopher_bullet_lines"
        if p.max_ellipsis_lines_ratio:
            ends = map(str.endswith, map(str.rstrip, lines), repeat(tuple(p.ellipses)))
            if _ratio(sum(ends), len(lines)) > p.max_ellipsis_lines_ratio:
                return "gopher_ellipsis_lines"
        if p.min_alpha_words_ratio and _ratio(n_alpha, n_words) < p.min_alpha_words_ratio:
            return "gopher_few_alpha_words"
        if p.min_stop_words and len(set(p.stop_words).intersection(words)) < p.min_stop_words:
            return "gopher_few_stop_words"
        return None
