"""``fineweb``: the FineWeb quality rules (Penedo et al. 2024, section 3.4 "custom filters").

Drops documents where too few lines end with terminal punctuation, too many lines are short, too
many characters sit in duplicated lines, or there are too many line breaks per word (lists, menus).
Thresholds live in ``rules/quality/fineweb.yaml``; FineWeb-2 tunes them per language in
``rules/quality/lang/<code>.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter

from corpus import keys
from corpus.document import Document
from corpus.stages.base import register
from corpus.stages.quality import text
from corpus.stages.quality.gopher_repetition import duplicates
from corpus.stages.quality.rule import LanguageRule


@dataclass
class FineWebParams:
    line_punct_thr: float | None = None
    line_punct_exclude_zero: bool = False
    stop_chars: list[str] | None = None
    short_line_thr: float | None = None
    short_line_length: int = 30
    char_duplicates_ratio: float | None = None
    new_line_ratio: float | None = None
    language_rules: str | None = "quality/lang"
    default_language: str = "en"


def _terminal_lines(lines: list[str], stop_chars: tuple[str, ...] | None) -> int:
    """How many of ``lines`` (none empty) end with a stop character (by default datatrove's list, `text.STERM`)."""
    if stop_chars is not None:
        return sum(map(str.endswith, lines, repeat(stop_chars)))
    return len(text.STERM.findall("".join(map(itemgetter(-1), lines))))  # the last characters, searched at once


@register
class FineWeb(LanguageRule):
    name = "fineweb"
    category = keys.QUALITY
    Params = FineWebParams
    rules = "quality/fineweb.yaml"
    doc = "FineWeb rules: line punctuation ratio, short-line ratio, duplicated-line characters, newlines per word."

    def check_doc(self, doc: Document, p: FineWebParams, split: text.WordSplitter) -> str | None:
        txt = doc.text
        lines = list(filter(str.strip, txt.split("\n")))
        if not lines:
            return "fineweb_empty"
        stops = tuple(p.stop_chars) if p.stop_chars is not None else None
        if p.line_punct_thr is not None:
            ratio = _terminal_lines(lines, stops) / len(lines)
            if ratio < p.line_punct_thr and not (ratio == 0 and p.line_punct_exclude_zero):
                return "fineweb_line_punct"
        if p.short_line_thr is not None:
            if sum(map(p.short_line_length.__ge__, map(len, lines))) / len(lines) > p.short_line_thr:
                return "fineweb_short_lines"
        if p.char_duplicates_ratio is not None:
            chars = len(txt) - txt.count("\n")
            if chars and duplicates(lines)[1] / chars > p.char_duplicates_ratio:
                return "fineweb_dup_line_chars"
        if p.new_line_ratio is not None:
            # every whitespace-separated chunk holds a word or more: when the ratio passes per chunk,
            # it passes per word, and the words need not be split
            chunks, breaks = len(txt.split()), txt.count("\n")
            if not chunks or (breaks / chunks > p.new_line_ratio
                              and breaks / len(text.cached_words(split, txt)) > p.new_line_ratio):
                return "fineweb_list_ratio"
        return None
