"""``gopher_repetition``: Gopher's repetition rules (Rae et al. 2021, table A1).

Drops documents whose lines or paragraphs repeat, whose most frequent 2-4-gram covers too much of the
text, or whose repeated 5-10-grams do. Fractions are of characters of the whole text, as in the
paper and in datatrove; thresholds live in ``rules/quality/gopher_repetition.yaml``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from corpus import keys
from corpus.document import Document
from corpus.errors import UserError
from corpus.stages.base import register
from corpus.stages.quality import text
from corpus.stages.quality.rule import LanguageRule

_PARAGRAPHS = re.compile(r"\n{2,}")
_LINES = re.compile(r"\n+")
_MULT = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit multiplier (golden ratio), for n-gram keys


@dataclass
class GopherRepetitionParams:
    dup_line_frac: float | None = None
    dup_para_frac: float | None = None
    dup_line_char_frac: float | None = None
    dup_para_char_frac: float | None = None
    top_n_grams: dict[int, float] = field(default_factory=dict)
    dup_n_grams: dict[int, float] = field(default_factory=dict)
    language_rules: str | None = "quality/lang"
    default_language: str = "en"

    def check(self) -> None:
        for key in ("top_n_grams", "dup_n_grams"):
            for n in getattr(self, key):
                if not isinstance(n, int) or n < 1:
                    raise UserError(f"stage 'gopher_repetition': {key} keys must be n-gram sizes >= 1, not {n!r}")


def duplicates(items: list[str]) -> tuple[int, int]:
    """(number of items seen before, their total characters): repeats after the first occurrence."""
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count += 1
            chars += len(item)
        else:
            seen.add(item)
    return count, chars


def ngram_keys(words: list[str], max_n: int) -> Iterator[tuple[int, np.ndarray]]:
    """(n, one 64-bit key per n-gram position) for n = 1..max_n.

    A key is a polynomial hash of the words' string hashes, so equal n-grams get equal keys and
    counting them runs in numpy; two different n-grams sharing a key is a 2**-64 event.
    """
    if not words:
        return
    key = h = np.fromiter(map(hash, words), dtype=np.int64, count=len(words)).view(np.uint64)
    for n in range(1, min(max_n, len(words)) + 1):
        if n > 1:
            key = key[:-1] * _MULT + h[n - 1:]
        yield n, key


def top_ngram_chars(key: np.ndarray, n: int, ends: np.ndarray) -> int:
    """Characters of the most frequent n-gram (words joined by spaces) times its count; among
    equally frequent n-grams, the one seen first (as ``Counter.most_common`` picks)."""
    _, first, counts = np.unique(key, return_index=True, return_counts=True)
    top = counts.max()
    i = int(first[counts == top].min())
    return int(ends[i + n] - ends[i] + n - 1) * int(top)


def repeated_ngram_chars(key: np.ndarray, n: int, ends: np.ndarray) -> int:
    """Characters in n-grams that repeat an earlier one, scanning left to right and skipping past
    each repeat (so overlapping repeats are not counted twice), as datatrove does.

    Only n-grams that occur more than once can ever be a repeat, so the scan visits just those
    positions; ``ends`` holds the running sum of word lengths.
    """
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    positions = np.flatnonzero(counts[inverse] > 1)
    if not len(positions):
        return 0
    seen: set[int] = set()
    chars = resume = 0
    for i, gram in zip(positions.tolist(), key[positions].tolist(), strict=True):
        if i < resume:  # inside the repeat just counted: skipped, not remembered
            continue
        if gram in seen:
            chars += int(ends[i + n] - ends[i])
            resume = i + n
        else:
            seen.add(gram)
    return chars


@register
class GopherRepetition(LanguageRule):
    name = "gopher_repetition"
    category = keys.QUALITY
    Params = GopherRepetitionParams
    rules = "quality/gopher_repetition.yaml"
    doc = "Gopher repetition rules: duplicate lines/paragraphs, top n-gram and duplicated n-gram fractions."

    def check_doc(self, doc: Document, p: GopherRepetitionParams, split: text.WordSplitter) -> str | None:
        txt = doc.text
        if not txt:
            return "gopher_empty"
        size = len(txt)
        paragraphs = _PARAGRAPHS.split(txt.strip())
        dup, chars = duplicates(paragraphs)
        if p.dup_para_frac and dup / len(paragraphs) > p.dup_para_frac:
            return "gopher_dup_para_frac"
        if p.dup_para_char_frac and chars / size > p.dup_para_char_frac:
            return "gopher_dup_para_char_frac"
        lines = _LINES.split(txt)
        dup, chars = duplicates(lines)
        if p.dup_line_frac and dup / len(lines) > p.dup_line_frac:
            return "gopher_dup_line_frac"
        if p.dup_line_char_frac and chars / size > p.dup_line_char_frac:
            return "gopher_dup_line_char_frac"
        words = text.cached_words(split, txt)
        ends = np.zeros(len(words) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, words), dtype=np.int64, count=len(words)), out=ends[1:])
        last_top = max(p.top_n_grams, default=0)
        repeats = True  # once no n-gram repeats, no longer one does either
        for n, key in ngram_keys(words, max(last_top, *p.dup_n_grams, 0)):
            if n in p.top_n_grams and top_ngram_chars(key, n, ends) / size > p.top_n_grams[n]:
                return f"gopher_top_{n}gram"
            if n in p.dup_n_grams and repeats:
                chars = repeated_ngram_chars(key, n, ends)
                repeats = chars > 0
                if chars / size > p.dup_n_grams[n]:
                    return f"gopher_dup_{n}gram"
            if not repeats and n >= last_top:
                break
        return None
