"""The quality rules' fast paths decide exactly as the straightforward ones, on random and hostile text.

Each fast path (cached word lists joined in C, word kinds and sentence classes summed from per-word
tables, n-grams counted only where a shorter n-gram repeats, set-based duplicate counts, splits
without regular expressions, c4's whole-text short cuts) is compared with the plain loop it replaces,
written out here, on texts hypothesis builds from pieces that sit on the rules' edges: sentence
terminals, abbreviations, citations, brackets, bullets, ellipses, long words, blank lines, CJK.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from corpus.document import Document
from corpus.stages import base
from corpus.stages.quality import gopher_repetition, punctuation, text

PIECES = ["the", "a", "of", "Mr.", "U.S.", "don't", ".", "!", "?", "...", "…", "。", "।", ",", "-", "—", "•", "#",
          "[1]", "[edit]", "[citation needed]", "{", "}", "lorem ipsum", "javascript", "privacy policy", ":)",
          "1990's", "3.5km", "(8)", "https://example.org/a?b=c", "©", "→", "１", "漢字", "x" * 1001, "word", "Word.",
          "end.", "'", '"', "”", "e.g.", "\u00ad", "\u200b", "\u17d4", "\u17d6", "\u2024"]
SEPARATORS = [" ", "  ", "\n", "\n\n", "\n\n\n", "\t", " \n ", "\r\n", "\u2028", "\x0c"]
hostile = st.lists(st.tuples(st.one_of(st.sampled_from(PIECES), st.text(max_size=6)), st.sampled_from(SEPARATORS)),
                   max_size=60).map(lambda parts: "".join(p + s for p, s in parts))
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def stage(name: str, **params):
    s, _ = base.build({"stage": name, **params})
    s.setup()
    return s


SPLIT = stage("gopher_quality").resolve("en")[1]


# --- the straightforward paths --------------------------------------------------------------------------------

def plain_words(txt: str) -> list[str]:
    return [tok for chunk in txt.split() for tok in SPLIT._split_chunk(chunk)]


def plain_word_stats(words: list[str]) -> tuple[int, int, int]:
    real = [w for w in words if any(c not in punctuation.SYMBOLS for c in w)]
    return len(real), sum(map(len, real)), sum(1 for w in words if any(c.isalpha() for c in w))


def plain_count_sentences(words: list[str]) -> int:
    if not words:
        return 0
    n, seen_end = 1, False
    for w in words:
        if seen_end and not all(unicodedata.category(c).startswith("P") for c in w):
            n, seen_end = n + 1, False
        if len(w) == 1 and w in punctuation.SENTENCE_ENDS:
            seen_end = True
    return n


def plain_line_sentences(line: str) -> int:
    """spaCy's tokens of a line: its words, and one whitespace token per gap that is not one plain space."""
    tokens = [tok for i, part in enumerate(re.split(r"(\s+)", line))
              for tok in ((() if part == " " else ("\t",)) if i % 2 else plain_words(part))]
    return plain_count_sentences(tokens)


def plain_duplicates(items: list[str]) -> tuple[int, int]:
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count, chars = count + 1, chars + len(item)
        seen.add(item)
    return count, chars


def plain_top_chars(words: list[str], n: int) -> int:
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    gram, count = Counter(grams).most_common(1)[0]
    return len(" ".join(gram)) * count


def plain_repeated_chars(words: list[str], n: int) -> int:
    seen: set[tuple[str, ...]] = set()
    chars, i = 0, 0
    while i < len(words) - n + 1:
        gram = tuple(words[i:i + n])
        if gram in seen:
            chars, i = chars + sum(map(len, gram)), i + n
        else:
            seen.add(gram)
            i += 1
    return chars


def plain_c4(txt: str, p) -> tuple[str | None, Counter, str]:
    """c4's line loop as it was before the whole-text short cuts."""
    removed: Counter[str] = Counter()
    ends, policies, kept, sentences = tuple(p.end_punctuation or ()), [s.lower() for s in p.policy_substrings], [], 0
    for line in txt.splitlines():
        line = line.strip()
        tokens = line.split()
        if p.max_word_length and any(len(t) > p.max_word_length for t in tokens):
            removed["long_word"] += 1
            continue
        if p.remove_citations:
            line = re.sub(r"\[\d*]|\[edit]|\[citation needed]", "", line)
        if ends and (not line.endswith(ends) or (p.exclude_ellipsis and line.endswith("..."))):
            removed["no_terminal_punct"] += 1
            continue
        if p.min_words_per_line and len(tokens) < p.min_words_per_line:
            removed["too_few_words"] += 1
            continue
        lower = line.lower()
        if p.filter_lorem_ipsum and "lorem ipsum" in lower:
            return "c4_lorem_ipsum", removed, txt
        if p.filter_javascript and "javascript" in lower:
            removed["javascript"] += 1
            continue
        if p.filter_curly_bracket and "{" in line:
            return "c4_curly_bracket", removed, txt
        if policies and any(s in lower for s in policies):
            removed["policy"] += 1
            continue
        sentences += plain_line_sentences(line)
        kept.append(line)
    if p.min_num_sentences and sentences < p.min_num_sentences:
        return "c4_too_few_sentences", removed, txt
    return None, removed, "\n".join(kept).strip()


def plain_fineweb(txt: str, p) -> str | None:
    """fineweb as it was before the per-line work moved into C and the chunk bound on the line ratio."""
    lines = [ln for ln in txt.split("\n") if ln.strip()]
    if not lines:
        return "fineweb_empty"
    ends = sum(ln.endswith(tuple(punctuation.TERMINAL)) for ln in lines) / len(lines)
    if ends < p.line_punct_thr and not (ends == 0 and p.line_punct_exclude_zero):
        return "fineweb_line_punct"
    if sum(len(ln) <= p.short_line_length for ln in lines) / len(lines) > p.short_line_thr:
        return "fineweb_short_lines"
    chars = len(txt) - txt.count("\n")
    if chars and plain_duplicates(lines)[1] / chars > p.char_duplicates_ratio:
        return "fineweb_dup_line_chars"
    words = plain_words(txt)
    if not words or txt.count("\n") / len(words) > p.new_line_ratio:
        return "fineweb_list_ratio"
    return None


# --- fast == straightforward ----------------------------------------------------------------------------------

@FAST
@given(hostile)
def test_word_list_kinds_and_sentences(txt):
    words = SPLIT.words(txt)
    assert words == plain_words(txt)
    assert text.word_stats(words) == plain_word_stats(words)
    assert text.count_sentences(words) == plain_count_sentences(words)
    for line in txt.splitlines():
        assert text.count_sentences(SPLIT.words(line)) == plain_count_sentences(plain_words(line))
        assert text.count_line_sentences(SPLIT, line.strip()) == plain_line_sentences(line.strip())


@FAST
@given(st.lists(st.sampled_from(["a", "b", "c", "ab", "."]), max_size=80))
def test_ngrams_count_as_tuples_do(words):
    if not words:
        return
    grams = gopher_repetition.NGrams(words)
    for n in range(1, min(10, len(words)) + 1):
        if n > 1:
            grams.next()
        assert grams.top_chars() == plain_top_chars(words, n), n
        assert grams.repeated_chars() == plain_repeated_chars(words, n), n


@FAST
@given(st.lists(st.sampled_from(["a", "b", "", " ", "\n", "\n\n", "\n\n\n", "\r"]), max_size=40).map("".join))
def test_line_and_paragraph_splits(txt):
    assert gopher_repetition.split_lines(txt) == re.split(r"\n+", txt)
    assert gopher_repetition.split_paragraphs(txt) == re.split(r"\n{2,}", txt)
    items = txt.split()
    assert gopher_repetition.duplicates(items) == plain_duplicates(items)


KEPT = ("We hold these truths to be self-evident. All men are created equal [1]. They are endowed, Mr. Smith "
        "said! Is it so? It is so.\nA second line holds three words.\nmenu\n" + "y" * 50 + " is one long word.")


@FAST
@given(hostile, st.sampled_from([None, 40]))
@example(KEPT, None)
@example(KEPT, 40)
@example(KEPT + "\nSee the [edit] {code}.", None)
def test_c4_lines_and_decision(txt, max_word_length):
    c4 = stage("c4", **({"max_word_length": max_word_length} if max_word_length else {}))
    params, split = c4.resolve("en")
    removed: Counter[str] = Counter()
    doc = Document("d", txt, "t")
    reason = c4._check_lines(doc, params, split, removed)
    want_reason, want_removed, want_text = plain_c4(txt, params)
    assert (reason, removed) == (want_reason, want_removed)
    if reason is None:
        assert doc.text == want_text


@FAST
@given(hostile)
@example(KEPT)
@example("\n".join(f"Extraordinarilylongunhyphenatedwordnumber{i}x." for i in range(6)))  # list ratio, exact
@example("\n".join(f"Line {i} of a plain paragraph holds enough words to pass." for i in range(6)))  # by the bound
def test_fineweb_decision(txt):
    fineweb = stage("fineweb")
    params, split = fineweb.resolve("en")
    assert fineweb.check_doc(Document("d", txt, "t"), params, split) == plain_fineweb(txt, params)


def test_word_cache_generations_answer_as_a_fresh_split(monkeypatch):
    """Past the generation size the cache starts a new generation; words stay the same throughout, and so
    do their kinds when the words split but not yet classified are dropped (none asked for a while)."""
    monkeypatch.setattr(text, "_CHUNK_CACHE", 5)
    split = text.WordSplitter(**{k: getattr(SPLIT, k) for k in ("prefixes", "suffixes", "infixes", "url",
                                                                "special_cases", "letters_stay_whole")})
    docs = [" ".join(f"w{i}{j}, (x{j % 3}) Mr. end." for j in range(4)) for i in range(12)]
    for k, txt in enumerate(docs * 2):
        words = split.words(txt)
        assert words == plain_words(txt)
        if k % 3 == 2:  # the two texts before were split without a look-up
            assert text.word_stats(words) == plain_word_stats(words)
            assert text.count_sentences(words) == plain_count_sentences(words)
    assert len(split._chunks[0]) <= 5 + 16 and split._chunks[1]


@pytest.mark.parametrize("words, sentences", [([], 0), (["Hello"], 1), ([".", "Hello"], 2), (["Hi", ".", "."], 1),
                                              (["Hi", ".", ",", "there", "!", "Yes"], 3), (["Mr.", "Smith"], 1)])
def test_sentence_counts_by_hand(words, sentences):
    assert text.count_sentences(words) == plain_count_sentences(words) == sentences


WORD_RULES = SPLIT.prefixes, SPLIT.suffixes
EDGE_CHARS = sorted({c for pattern in WORD_RULES for c in pattern if not c.isspace()} | set("aZ09é\n.'’°"))
affix_text = st.lists(st.sampled_from(EDGE_CHARS), max_size=8).map("".join) | st.text(max_size=8)


@FAST
@given(affix_text)
def test_affix_searches_try_only_the_branches_that_can_match_at_the_edge(s):
    from corpus.stages.quality.affixes import PrefixFinder, SuffixFinder

    prefixes, suffixes = WORD_RULES
    m, mine = re.compile(prefixes).search(s), PrefixFinder(prefixes).search(s)
    assert (m and m.span()) == (mine and mine.span())
    m = re.compile(suffixes).search(s)
    assert SuffixFinder(suffixes)(s) == (m.end() - m.start() if m else 0)
    for pattern in (r"(?i)^a|^b", r"^a|b", r"(?m)b$|a$", r"[^a]$|\w$|(?:ab|c)+$", r"^(?:x|y)?z|^[0-9]"):
        m = re.compile(pattern).search(s)
        if pattern.startswith(("^", "(?i)^")):
            mine = PrefixFinder(pattern).search(s)
            assert (m and m.span()) == (mine and mine.span()), pattern
        else:
            assert SuffixFinder(pattern)(s) == (m.end() - m.start() if m else 0), pattern


# heads that are special cases ("cannot"), spell one with the next character ("Apr" + "."), or start a run
# of tokens that spells one, and any letters
HEADS = sorted({h for k in SPLIT._specials for h in (k, k[:-1]) if h.isalpha()} | set(filter(str.isalpha, SPLIT._run_starts)))
letters = st.text(st.characters(whitelist_categories=("Lu", "Ll", "Lo", "Lm")), min_size=1, max_size=6)
letters_then_one = st.tuples(st.sampled_from(HEADS) | letters, st.sampled_from(EDGE_CHARS) | st.characters()).map("".join)


@FAST
@given(letters_then_one | affix_text)
@example("word,")
@example("cannot,")
@example("x,")
@example("Apr.")
@example("Adm.")
@example("ABC.")
def test_letters_then_one_suffix_split_as_the_loop_does(chunk):
    """`_split_chunk`'s short cut for letters and one suffix character gives the full loop's tokens."""
    if not chunk or chunk != "".join(chunk.split()):
        return
    assert SPLIT._split_chunk(chunk) == tuple(SPLIT._rejoin_specials(SPLIT._split_affixes(chunk, SPLIT._specials)))
    own = text.WordSplitter(prefixes=r"^x,|^\(", suffixes=r",$|\)$", letters_stay_whole=True)  # a prefix of a letter
    assert own._split_chunk(chunk) == tuple(own._split_affixes(chunk, {}))


INFIX_CHARS = sorted({c for c in SPLIT.infixes if not c.isspace()} | set("aZ09é.,-:/~+^*…©\U0001F600\u0300"))
infix_text = st.lists(st.sampled_from(INFIX_CHARS), max_size=12).map("".join) | st.text(max_size=12)


@FAST
@given(infix_text)
@example("1-2,3...a.B©x")
def test_infix_search_tries_only_the_positions_a_match_can_start_at(s):
    """`_infixes` (matches tried only where their first character is) finds what ``finditer`` finds."""
    assert [m.span() for m in SPLIT._infixes(s)] == [m.span() for m in re.finditer(SPLIT.infixes, s)]
    for pattern in (r"a|(?<=b)c", r"x*|y", r"(?i)a|b", r"(?<=[0-9])[+\-](?=[0-9-])|\.\.+|a(?=b)"):
        split = text.WordSplitter(infixes=pattern)
        assert [m.span() for m in split._infixes(s)] == [m.span() for m in re.finditer(pattern, s)], pattern
