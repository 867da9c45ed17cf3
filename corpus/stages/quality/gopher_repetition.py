"""``gopher_repetition``: Gopher's repetition rules (Rae et al. 2021, table A1).

Drops documents whose lines or paragraphs repeat, whose most frequent 2-4-gram covers too much of the
text, or whose repeated 5-10-grams do. Fractions are of characters of the whole text, as in the
paper and in datatrove; thresholds live in ``rules/quality/gopher_repetition.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from corpus import keys
from corpus.document import Document
from corpus.errors import UserError
from corpus.stages.base import register
from corpus.stages.quality import text
from corpus.stages.quality.rule import LanguageRule

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
    """(number of items seen before, their total characters): repeats after the first occurrence.

    Every item minus each distinct item once, counted in C.
    """
    distinct = set(items)
    return len(items) - len(distinct), sum(map(len, items)) - sum(map(len, distinct))


def split_lines(txt: str) -> list[str]:
    """``re.split(r"\n+", txt)`` without the regular expression: the empty pieces between newlines
    go, the first and last piece stay even when empty."""
    parts = txt.split("\n")
    if len(parts) < 3:
        return parts
    return [parts[0], *filter(None, parts[1:-1]), parts[-1]]


def split_paragraphs(txt: str) -> list[str]:
    """``re.split(r"\n{2,}", txt)`` without the regular expression: split at each pair of newlines,
    then a piece's leading newlines belong to the run before it, and a piece left empty in between
    was inside a run (the first and last piece stay, as the expression keeps them)."""
    parts = txt.split("\n\n")
    if len(parts) < 2:
        return parts
    return [parts[0], *filter(None, [p.lstrip("\n") for p in parts[1:-1]]), parts[-1].lstrip("\n")]


def _groups(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order sorting ``key``, size of the group of equal keys each sorted position belongs to).

    numpy's default sort, not a stable one: at 64 bits the stable sort is a merge sort, three times
    slower, and nothing here needs the order of equal keys.

    Most documents are short, so numpy's per-call overhead outweighs the work: the group starts
    are marked in one preallocated array (with the end as a last "start", so the sizes are one
    subtraction) rather than through ``concatenate``/``append``/``diff``/``flatnonzero``, which
    are Python-level wrappers.
    """
    order = key.argsort()
    ranked = key[order]
    edge = np.empty(len(key) + 1, dtype=bool)
    edge[0] = edge[-1] = True
    np.not_equal(ranked[1:], ranked[:-1], out=edge[1:-1])
    starts = edge.nonzero()[0]
    sizes = starts[1:] - starts[:-1]
    return order, sizes.repeat(sizes)


def repeating(key: np.ndarray) -> np.ndarray:
    """Positions (ascending) whose key occurs more than once."""
    order, size = _groups(key)
    mask = np.empty(len(key), dtype=bool)
    mask[order] = size > 1
    return mask.nonzero()[0]


class NGrams:
    """The n-grams of a word list, n = 1, 2, ..., as 64-bit keys, tracking only the repeating ones.

    A key is a polynomial hash of the words' string hashes, so equal n-grams get equal keys; two
    different n-grams sharing a key is a 2**-64 event. An n-gram can only repeat where the (n-1)-grams
    at its position and the next both repeat, so each step sorts just those candidates (a shrinking
    set) instead of every position, and the n-grams that occur once are never counted. Keys are kept
    for those positions only (``key[j]`` is the n-gram at ``rep[j]``): a step computes no others.
    """

    def __init__(self, words: list[str]) -> None:
        self.words = words
        self.h = np.fromiter(map(hash, words), dtype=np.int64, count=len(words)).view(np.uint64)
        self.n = 1
        self.rep = repeating(self.h) if len(words) else np.zeros(0, dtype=np.int64)
        self.key = self.h[self.rep]  # the key of the n-gram at each position in rep

    def next(self) -> None:
        """Step to n + 1: the key at p is the (n-1)-gram's key at p, times the multiplier, plus the hash
        of word p + n - 1, which exists where the (n-1)-gram at p + 1 does."""
        n, rep = self.n + 1, self.rep
        if len(rep):
            pair = rep[1:] == rep[:-1] + 1  # p and p + 1 both repeat at n - 1
            adjacent = rep[:-1][pair]
            key = self.key[:-1][pair] * _MULT + self.h[adjacent + (n - 1)]
            keep = repeating(key) if len(key) else adjacent
            self.rep, self.key = adjacent[keep], key[keep]
        self.n = n

    def top_chars(self) -> int:
        """Characters of the most frequent n-gram (words joined by spaces) times its count; among
        equally frequent n-grams, the one seen first (as ``Counter.most_common`` picks)."""
        n, top, i = self.n, 1, 0  # nothing repeats: each n-gram occurs once, the first one wins
        if len(self.rep):
            order, size = _groups(self.key)
            top = int(size.max())
            i = int(self.rep[order[size == top]].min())  # the earliest member of a largest group is its first
        return (sum(map(len, self.words[i:i + n])) + n - 1) * top

    def repeated_chars(self) -> int:
        """Characters in n-grams that repeat an earlier one, scanning left to right and skipping past
        each repeat (so overlapping repeats are not counted twice), as datatrove does.

        Only repeating n-grams can be a repeat, so the scan visits just those positions.
        """
        n, words = self.n, self.words
        seen: set[int] = set()
        chars = resume = 0
        for i, gram in zip(self.rep.tolist(), self.key.tolist(), strict=True):
            if i < resume:  # inside the repeat just counted: skipped, not remembered
                continue
            if gram in seen:
                chars += sum(map(len, words[i:i + n]))
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
        paragraphs = split_paragraphs(txt.strip())
        dup, chars = duplicates(paragraphs)
        if p.dup_para_frac and dup / len(paragraphs) > p.dup_para_frac:
            return "gopher_dup_para_frac"
        if p.dup_para_char_frac and chars / size > p.dup_para_char_frac:
            return "gopher_dup_para_char_frac"
        lines = split_lines(txt)
        dup, chars = duplicates(lines)
        if p.dup_line_frac and dup / len(lines) > p.dup_line_frac:
            return "gopher_dup_line_frac"
        if p.dup_line_char_frac and chars / size > p.dup_line_char_frac:
            return "gopher_dup_line_char_frac"
        words = text.cached_words(split, txt)
        if not words:
            return None
        last = min(max(*p.top_n_grams, *p.dup_n_grams, 0), len(words))
        grams = NGrams(words)
        for n in range(1, last + 1):
            if n > 1:
                grams.next()
            if n in p.top_n_grams and grams.top_chars() / size > p.top_n_grams[n]:
                return f"gopher_top_{n}gram"
            if n in p.dup_n_grams and grams.repeated_chars() / size > p.dup_n_grams[n]:
                return f"gopher_dup_{n}gram"
            if not len(grams.rep) and n >= max(p.top_n_grams, default=0):
                break  # once no n-gram repeats, no longer one does, and no top n-gram is left to check
        return None
