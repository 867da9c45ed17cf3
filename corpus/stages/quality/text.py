"""Text measures shared by the rule sets: word splitting, sentence counting, punctuation classes.

The published rules count *words*, and their reference implementation (datatrove) gets them from
spaCy's English tokenizer. Calling spaCy costs more than every rule together, so `WordSplitter`
replays spaCy's algorithm in plain Python on spaCy's own data (``words:`` in
``rules/quality/lang/en.yaml``, copied out of spaCy by `spacy_rules`): split the text at whitespace;
per chunk, look up special cases (``don't`` -> ``do`` + ``n't``, ``U.S.``, ``:)``), strip prefixes
and suffixes one at a time (stopping at a special case), keep a URL whole, split the rest at infixes,
then re-join token runs that spell a special case. Each distinct chunk is split once (chunks repeat:
Zipf), which is where the speed comes from; the prefix and suffix searches of a new chunk try only
the patterns' branches that can match at its edge (`affixes`), and the infix search only the positions
a match can start at. Scripts written without spaces (Han, kana, Thai...) are then split into
characters (with their combining marks) when the document's language says so, because a whole clause
would otherwise count as one word.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain, compress, count, filterfalse
from operator import not_
from typing import TypeVar

import regex

from corpus.stages.quality.affixes import PrefixFinder, SuffixFinder, first_chars
from corpus.stages.quality.punctuation import SENTENCE_ENDS, SYMBOLS, TERMINAL

#: FineWeb's stop characters (datatrove's list, `punctuation.TERMINAL`): ``.``, ``!``, ``?``, ``。``, ``।``...
STERM = regex.compile(f"[{regex.escape(TERMINAL)}]")
# Distinct whitespace-separated chunks per generation of a splitter's cache (two kept). A chunk costs
# ~350 bytes with its words' classifications (measured: 94 MB for web-dev's 269k distinct chunks in
# 1,979 pages), so a process holds at most ~140 MB. 500k per generation (~350 MB) only helped a second
# pass over the same pages in one process; on unseen pages (a fresh process) it gains ~1-3%.
_CHUNK_CACHE = 200_000

Special = tuple[tuple[str, tuple[str, ...]], ...]
_V = TypeVar("_V")


def _finder(pattern: str) -> re.Pattern[str] | None:
    """spaCy's patterns are Python ``re`` patterns: compiled with ``re`` they match exactly as in spaCy."""
    return re.compile(pattern) if pattern else None


@dataclass(frozen=True, eq=False)  # one instance per rule set (`splitter`): hashed by identity, not by content
class WordSplitter:
    """Splits text into words as spaCy's tokenizer does with these rules; build it with `splitter` (cached).

    ``prefixes``/``suffixes`` are searched at a chunk's start/end, ``infixes`` inside what remains,
    ``url`` keeps a whole remainder; ``special_cases`` maps a string to the tokens it becomes.
    ``letters_stay_whole`` says no pattern matches in a string of letters (`spacy_rules` checks that
    over every letter), so such a chunk skips the searches: most distinct chunks are plain words.
    """

    prefixes: str = ""
    suffixes: str = ""
    infixes: str = ""
    url: str = ""
    special_cases: Special = ()
    unspaced_scripts: tuple[str, ...] = ()
    letters_stay_whole: bool = False

    def __post_init__(self) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "_pre", PrefixFinder(self.prefixes) if self.prefixes else None)
        setattr_(self, "_suf", SuffixFinder(self.suffixes) if self.suffixes else None)
        setattr_(self, "_inf", _finder(self.infixes))
        # an infix match starts at one of these characters (None: not known): the positions to try
        setattr_(self, "_inf_first", first_chars(self.infixes) if self.infixes else None)
        setattr_(self, "_url", _finder(self.url))
        specials = {key: list(toks) for key, toks in self.special_cases}
        setattr_(self, "_specials", specials)
        setattr_(self, "_chunks", [{}, {}])  # chunk -> tokens: this generation, the previous one
        unspaced = None
        if self.unspaced_scripts:
            scripts = "".join(rf"\p{{Script={s}}}" for s in self.unspaced_scripts)
            unspaced = regex.compile(rf"[{scripts}]\p{{M}}*|(?:(?![{scripts}]).)+")
        setattr_(self, "_unspaced", unspaced)
        # spaCy's "special matcher": after splitting, a run of tokens that spells a special case
        # containing affixes becomes that case's tokens (":" + ")" -> ":)" in "word:)").
        runs: dict[str, list[tuple[list[str], str]]] = {}
        for key in specials:
            if (self._pre and self._pre.search(key)) or self._suffix_len(key) or (self._inf and self._inf.search(key)):
                run = self._split_affixes(key, {})
                if run != [key] or specials[key] != [key]:  # a one-token run that stays itself changes nothing
                    runs.setdefault(run[0], []).append((run, key))
        setattr_(self, "_runs", runs)
        setattr_(self, "_run_starts", frozenset(runs))

    def _suffix_len(self, s: str) -> int:
        return self._suf(s) if self._suf is not None else 0

    def words(self, text: str) -> list[str]:
        """Split on whitespace, then each chunk once: chunks repeat (Zipf), so a cache makes this cheap.

        Only the chunks the cache lacks reach Python code; the lookups (one per chunk) and the joining
        of the cached token tuples run in C (``map``, ``compress``, ``chain``), which is most of a
        document's chunks.
        """
        cache: dict[str, tuple[str, ...]] = self._chunks[0]
        if len(cache) > _CHUNK_CACHE:  # a new generation; the previous one still answers (LRU-like)
            self._chunks[:] = [{}, cache]
        cache, older = self._chunks
        chunks = text.split()
        found = list(map(cache.get, chunks))  # each chunk looked up once; None where it is not cached
        if not all(found):  # token tuples are never empty: a falsy one is a chunk to split (or to bring forward)
            cached, older_get, split_chunk, add_fresh = cache.get, older.get, self._split_chunk, _FRESH.extend
            for i in compress(range(len(found)), map(not_, found)):
                chunk = chunks[i]
                toks = cached(chunk)  # a chunk met earlier in this text is cached by now
                if toks is None:
                    toks = older_get(chunk)
                    if toks is None:
                        toks = split_chunk(chunk)
                        add_fresh(toks)
                    cache[chunk] = toks
                found[i] = toks
            if len(_FRESH) > _CHUNK_CACHE:  # nothing has asked for word kinds lately (gopher_repetition alone)
                _FRESH.clear()
        return list(chain.from_iterable(found))

    def _split_chunk(self, chunk: str) -> tuple[str, ...]:
        whole = self.letters_stay_whole and chunk not in self._specials
        if whole and chunk.isalpha():
            return (chunk,) if self._unspaced is None else tuple(self._unspaced.findall(chunk))  # most chunks
        toks = self._rejoin_specials((whole and self._letters_then_suffix(chunk))
                                     or self._split_affixes(chunk, self._specials))
        if self._unspaced is not None:
            toks = [part for tok in toks for part in self._unspaced.findall(tok)]
        return tuple(toks)

    def _letters_then_suffix(self, chunk: str) -> list[str] | None:
        """`_split_affixes` of letters followed by one character that is a whole suffix there (``word,``,
        ``word.``: a third of the chunks that are not all letters), or None for another chunk.

        For a chunk that is neither a special case nor all letters, with letters staying whole: no prefix
        and a one-character suffix make the first step strip that character, and the second stops at
        the letters (not a special case), so the regular expressions run once each, not in a loop.
        """
        head = chunk[:-1]
        if not head.isalpha() or head in self._specials or self._suffix_len(chunk) != 1:
            return None
        m = self._pre.search(chunk) if self._pre is not None else None
        return [head, chunk[-1]] if m is None or m.end() == m.start() else None

    def _split_affixes(self, chunk: str, specials: dict[str, list[str]]) -> list[str]:
        """spaCy's ``Tokenizer._split_affixes`` and ``_attach_tokens`` (tokenizer.pyx), step for step."""
        if chunk in specials:
            return list(specials[chunk])
        prefixes: list[str] = []
        suffixes: list[str] = []
        s, last = chunk, 0
        whole = self.letters_stay_whole
        pre_search, suffix_len = (self._pre.search if self._pre is not None else None), self._suffix_len
        while s and len(s) != last:
            if s in specials or (whole and s.isalpha()):
                break
            last = len(s)
            m = pre_search(s) if pre_search is not None else None
            pre = m.end() - m.start() if m else 0
            if pre and s[pre:] in specials:
                prefixes.append(s[:pre])
                s = s[pre:]
                break
            suf = suffix_len(s[pre:])
            if suf and s[:-suf] in specials:
                suffixes.append(s[-suf:])
                s = s[:-suf]
                break
            if pre and suf and pre + suf <= len(s):
                prefixes.append(s[:pre])
                suffixes.append(s[-suf:])
                s = s[pre:-suf]
            elif pre:
                prefixes.append(s[:pre])
                s = s[pre:]
            elif suf:
                suffixes.append(s[-suf:])
                s = s[:-suf]
        out = prefixes
        if s in specials:
            out.extend(specials[s])
        elif s and not (whole and s.isalpha()) and not (self._url is not None and self._url.match(s)):
            out.extend(self._split_infixes(s))
        elif s:
            out.append(s)
        out.extend(reversed(suffixes))
        return out

    def _infixes(self, s: str) -> Iterator[re.Match[str]]:
        """``finditer`` of the infix pattern, trying only the positions whose character a match can start
        with: the pattern's symbol class spans planes beyond the first, which ``re`` tests range by
        range, so a full scan costs ~0.3 us a character; the matches (non-empty) are the same."""
        first = self._inf_first
        if first is None:
            yield from self._inf.finditer(s)
            return
        match, end = self._inf.match, 0
        for i in compress(count(), map(first.__contains__, s)):
            if i >= end:  # a search resumes where the last match ended
                m = match(s, i)  # look-behinds still see the text before i
                if m is not None:
                    yield m
                    end = m.end()

    def _split_infixes(self, s: str) -> list[str]:
        if self._inf is None:
            return [s]
        out: list[str] = []
        start = 0
        for m in self._infixes(s):
            if m.start() == 0:  # spaCy skips an infix at the very start
                continue
            if m.start() != start:
                out.append(s[start:m.start()])
            if m.end() != m.start():
                out.append(m.group())
            start = m.end()
        if start < len(s):
            out.append(s[start:])
        return out

    def _rejoin_specials(self, toks: list[str]) -> list[str]:
        """spaCy's ``_apply_special_cases``: longest runs first, then leftmost; overlaps lose."""
        if self._run_starts.isdisjoint(toks):
            return toks
        found = [(i, i + len(run), key) for i, tok in enumerate(toks) for run, key in self._runs.get(tok, ())
                 if toks[i:i + len(run)] == run]
        found.sort(key=lambda m: (m[0] - m[1], m[0]))
        seen: set[int] = set()
        kept = []
        for start, end, key in found:
            if start not in seen and end - 1 not in seen:
                kept.append((start, end, key))
            seen.update(range(start, end))
        out: list[str] = []
        at = 0
        for start, end, key in sorted(kept):
            out.extend(toks[at:start])
            out.extend(self._specials[key])
            at = end
        out.extend(toks[at:])
        return out


@lru_cache(maxsize=64)
def splitter(prefixes: str = "", suffixes: str = "", infixes: str = "", url: str = "", special_cases: Special = (),
             unspaced_scripts: tuple[str, ...] = (), letters_stay_whole: bool = False) -> WordSplitter:
    return WordSplitter(prefixes, suffixes, infixes, url, special_cases, unspaced_scripts, letters_stay_whole)


@lru_cache(maxsize=8)
def cached_words(split: WordSplitter, text: str) -> list[str]:
    """Words of ``text``, shared by the rule stages that run one after another on the same document.

    Callers must not mutate the returned list.
    """
    return split.words(text)


# Per distinct word, remembered (words repeat far more than chunks do): `_WORD_INFO` packs the length
# of a word that is not only symbols (0 for a symbol word) with whether it has a letter (bit 40 up),
# `_SENTENCE_CLASS` holds its class for sentence counting. A splitter notes the words of each chunk it
# splits in `_FRESH`, which the first look-up classifies, so the per-document sums below find them all
# without a look for unseen words, and a rule that needs no word kinds (gopher_repetition) pays nothing.
_WORD_INFO: dict[str, int] = {}
_SENTENCE_CLASS: dict[str, str] = {}
_FRESH: list[str] = []  # bounded: past a generation's size it is dropped, and a look-up classifies its words
_LETTER = 1 << 40  # a word's length stays below; sums over a document keep the two apart


def _remember(words: Iterable[str]) -> None:
    """Classify the words not seen yet (the two tables always hold the same words)."""
    if len(_WORD_INFO) > 2 * _CHUNK_CACHE:
        _WORD_INFO.clear()
        _SENTENCE_CLASS.clear()
    for w in filterfalse(_WORD_INFO.__contains__, words):
        alpha = w.isalpha()
        length = len(w) if alpha or not SYMBOLS.issuperset(w) else 0  # datatrove's symbol words
        _WORD_INFO[w] = length + (_LETTER if alpha or any(map(str.isalpha, w)) else 0)
        # "|" ends a sentence-start segment (a word that is not only punctuation, spaCy's is_punct: every
        # character of a P* category), "s" is a standalone sentence-terminal token of spaCy's sentencizer;
        # a word can be both ("|s"), punctuation that is neither writes nothing.
        terminal = "s" if len(w) == 1 and w in SENTENCE_ENDS else ""
        punct = not alpha and all(unicodedata.category(c)[0] == "P" for c in w)  # letters are not P*
        _SENTENCE_CLASS[w] = terminal if punct else "|" + terminal


def _looked_up(table: dict[str, _V], words: list[str]) -> list[_V]:
    """``table``'s value for each word, in C; words not classified yet (those split since the last
    look-up, a table cleared since, or words from elsewhere than a splitter) are classified first."""
    if _FRESH:
        _remember(_FRESH)
        _FRESH.clear()
    try:
        return list(map(table.__getitem__, words))
    except KeyError:
        _remember(words)
        return list(map(table.__getitem__, words))


def word_stats(words: list[str]) -> tuple[int, int, int]:
    """(words that are not only symbols, their total length, words with a letter).

    A "symbol word" is made only of datatrove's punctuation (`punctuation.SYMBOLS`: not "•", "©",
    emoji); "has a letter" is ``str.isalpha`` of any character. One packed value per word, summed in C.
    """
    info = _looked_up(_WORD_INFO, words)
    total = sum(info)
    return len(info) - info.count(0), total % _LETTER, total // _LETTER


def count_sentences(words: list[str]) -> int:
    """Sentences as spaCy's sentencizer counts them: a new one starts at the first token that is not
    punctuation after a standalone sentence-terminal token (``Mr.`` or ``U.S.`` are single tokens).

    Written as one string (`_remember`: ``|`` per word that is not only punctuation, ``s`` per terminal
    token), split at the ``|``: a sentence starts at every ``|`` whose preceding segment holds an ``s``.
    """
    if not words:
        return 0
    return _sentences("".join(_looked_up(_SENTENCE_CLASS, words)))


def _sentences(classes: str) -> int:
    segments = classes.split("|")
    del segments[-1]  # the text after the last word that starts a sentence
    return 1 + len(segments) - segments.count("")


_GAPS = re.compile(r"(\s+)")  # \s is str.isspace, where str.split and spaCy split


def count_line_sentences(split: WordSplitter, line: str) -> int:
    """Sentences of a stripped line as spaCy's sentencizer counts them, whitespace tokens included.

    spaCy makes one token of each gap between chunks that is not a single plain space (two spaces,
    a tab, a no-break space). That token is not punctuation, so after a sentence terminal it starts a
    sentence as a word does: ``Ende!  !! Gut.`` is three sentences, ``Ende! !! Gut.`` two (seen in whole
    pages' text: ``...sein!          .``). Lines whose gaps are all single spaces need the words alone.
    """
    if "  " not in line and line.isprintable():
        return count_sentences(split.words(line))
    classes = [("" if part == " " else "|") if i % 2 else "".join(_looked_up(_SENTENCE_CLASS, split.words(part)))
               for i, part in enumerate(_GAPS.split(line))]
    return _sentences("".join(classes))
