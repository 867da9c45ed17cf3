"""Text measures shared by the rule sets: word splitting, sentence counting, punctuation classes.

The published rules count *words*, and their reference implementation (datatrove) gets them from
spaCy's rule-based tokenizer. Calling spaCy costs more than every rule together, so words come from
a compiled regular expression applied to each whitespace-separated chunk (as spaCy does, with a
cache of chunks already split), following spaCy's splitting where it changes a count: punctuation
split from words, hyphenated words split at the hyphen, English clitics split off (``do`` + ``n't``,
``it`` + ``'s``), abbreviations and dotted initialisms kept whole (``Mr.``, ``U.S.``), numbers kept
whole (``1,000.5``, ``10:30``, ``1990s``). Scripts written without spaces (Han, kana, Thai, Lao,
Khmer, Myanmar, Tibetan) are split into characters (with their combining marks) when the document's
language says so, because a whole clause would otherwise count as one word.

Everything language-specific (clitics, abbreviations, fused words, unspaced scripts) is data in
``rules/quality/lang/<code>.yaml`` under ``words:``; `WordSplitter` is built from it once per language.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import regex

#: Sentence-terminal characters (Unicode ``Sentence_Terminal``): ``.``, ``!``, ``?``, ``。``, ``।``...
STERM = regex.compile(r"\p{Sentence_Terminal}")
_ALL_PUNCT = regex.compile(r"\p{P}+")
# A "symbol word" has no letter, mark or digit (datatrove uses a hand-made punctuation list).
_HAS_WORD_CHAR = regex.compile(r"[\p{L}\p{M}\p{N}]")
_HAS_ALPHA = regex.compile(r"\p{L}")  # str.isalpha: a letter of any script

_URL = r"https?://\S+|www\.\S+|[\p{L}\p{N}._%+-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)+"
_INITIALISM = r"(?:\p{L}\.){2,}|\p{Lu}\.(?=\s|$)"  # U.S., e.g., p.m. ; the initial in "John F. Kennedy"
_NUMBER = r"\p{N}+(?:[.,:/]\p{N}+)*[\p{L}\p{M}\p{N}]*(?:['’]\p{L}+)?"  # 1,000.5 10:30 3/4 1990s 20th 1930's
_CHUNK_CACHE = 200_000  # distinct whitespace-separated chunks remembered per splitter
_TAIL = r"\.{2,}|-{2,}|\S"  # an ellipsis or a dash run is one token; any other symbol stands alone


@dataclass(frozen=True)
class WordSplitter:
    """Splits text into words for one language; build it with `splitter` (cached)."""

    clitics: tuple[str, ...] = ()
    abbreviations: tuple[str, ...] = ()
    splits: tuple[str, ...] = ()
    unspaced_scripts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        word_char = r"[\p{L}\p{M}\p{N}]"
        parts = [_URL]
        if self.abbreviations:
            alts = "|".join(regex.escape(a.rstrip(".")) for a in sorted(self.abbreviations, key=len, reverse=True))
            parts.append(rf"(?<![\p{{L}}\p{{N}}])(?:{alts})\.")
        parts.append(_INITIALISM)
        for entry in self.splits:  # "can not": "cannot" is two words
            head, *rest = entry.split()
            tail = "".join(rest)
            parts.append(rf"(?<![\p{{L}}\p{{N}}])(?i:{regex.escape(head)})(?=(?i:{regex.escape(tail)})(?![\p{{L}}\p{{N}}]))")
        if self.unspaced_scripts:
            scripts = "".join(rf"\p{{Script={s}}}" for s in self.unspaced_scripts)
            parts.append(rf"[{scripts}]\p{{M}}*")
            word_char = rf"(?![{scripts}])[\p{{L}}\p{{M}}\p{{N}}]"
        parts.append(_NUMBER)
        # a hyphen at the edge of a whitespace-separated chunk stays on its word ("self- reliance")
        parts.append(rf"(?:(?<!\S)-+)?{word_char}+(?:['’]{word_char}+)*(?:-+(?!\S))?")
        parts.append(_TAIL)
        object.__setattr__(self, "_pattern", regex.compile("|".join(f"(?:{p})" for p in parts), regex.V0))
        object.__setattr__(self, "_clitics", tuple(sorted({c.replace("’", "'").lower() for c in self.clitics},
                                                          key=len, reverse=True)))
        object.__setattr__(self, "_chunks", {})

    def words(self, text: str) -> list[str]:
        """Split on whitespace, then each chunk once: chunks repeat (Zipf), so a cache makes this cheap."""
        cache: dict[str, list[str]] = self._chunks
        if len(cache) > _CHUNK_CACHE:
            cache.clear()
        out: list[str] = []
        for chunk in text.split():
            toks = cache.get(chunk)
            if toks is None:
                toks = cache[chunk] = self._split_chunk(chunk)
            out.extend(toks)
        return out

    def _split_chunk(self, chunk: str) -> list[str]:
        tokens = self._pattern.findall(chunk)
        if not self._clitics or ("'" not in chunk and "’" not in chunk):
            return tokens
        out: list[str] = []
        for tok in tokens:
            if "'" in tok or "’" in tok:
                low = tok.replace("’", "'").lower()
                for clitic in self._clitics:
                    if low.endswith(clitic) and len(low) > len(clitic):
                        cut = len(tok) - len(clitic)
                        out.append(tok[:cut])
                        tok = tok[cut:]
                        break
            out.append(tok)
        return out


@lru_cache(maxsize=64)
def splitter(clitics: tuple[str, ...] = (), abbreviations: tuple[str, ...] = (), splits: tuple[str, ...] = (),
             unspaced_scripts: tuple[str, ...] = ()) -> WordSplitter:
    return WordSplitter(clitics, abbreviations, splits, unspaced_scripts)


@lru_cache(maxsize=8)
def cached_words(split: WordSplitter, text: str) -> list[str]:
    """Words of ``text``, shared by the rule stages that run one after another on the same document.

    Callers must not mutate the returned list.
    """
    return split.words(text)


_WORD_KINDS: dict[str, tuple[bool, bool]] = {}


def _kind(word: str) -> tuple[bool, bool]:
    """(has a letter, mark or digit; has a letter), remembered per distinct word."""
    kind = _WORD_KINDS.get(word)
    if kind is None:
        if len(_WORD_KINDS) > _CHUNK_CACHE:
            _WORD_KINDS.clear()
        kind = _WORD_KINDS[word] = (word.isalpha() or _HAS_WORD_CHAR.search(word) is not None,
                                    word.isalpha() or _HAS_ALPHA.search(word) is not None)
    return kind


def word_stats(words: list[str]) -> tuple[list[int], int]:
    """Lengths of the words that are not only symbols, and how many words have a letter.

    A "symbol word" has no letter, mark or digit (datatrove uses a hand-made punctuation list);
    "has a letter" is ``str.isalpha`` of any character.
    """
    kinds = [_kind(w) for w in words]
    lengths = [len(w) for w, (is_word, _) in zip(words, kinds, strict=True) if is_word]
    return lengths, sum(alpha for _, alpha in kinds)


def count_sentences(words: list[str]) -> int:
    """Sentences as spaCy's sentencizer counts them: a new one starts at the first token that is not
    punctuation after a standalone sentence-terminal token (``Mr.`` or ``U.S.`` are single tokens)."""
    if not words:
        return 0
    n = 1
    seen_end = False
    for w in words:
        if seen_end and not _ALL_PUNCT.fullmatch(w):
            n += 1
            seen_end = False
        if len(w) == 1 and STERM.match(w):
            seen_end = True
    return n
