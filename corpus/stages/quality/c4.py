"""``c4``: the C4 cleaning rules (Raffel et al. 2020, section 2.2; TFDS ``c4_utils``).

Line-level cleaning: lines without terminal punctuation, with fewer than three words, with a word
over 1000 characters, mentioning javascript or a cookie/terms policy are removed (in filter mode the
kept text replaces the document's). Document rules: "lorem ipsum" or a curly bracket drops the
document, and so do fewer than five sentences left after cleaning. Thresholds and phrase lists live
in ``rules/quality/c4.yaml``. Removed lines are counted per reason in ``stats.json`` ``extra``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import compress, repeat

from corpus import keys
from corpus.document import Document
from corpus.stages.base import register
from corpus.stages.context import StageContext
from corpus.stages.quality import text
from corpus.stages.quality.rule import LanguageRule

_CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")  # Wikipedia-style markers


@dataclass
class C4Params:
    remove_citations: bool = True
    end_punctuation: list[str] | None = field(default_factory=list)
    exclude_ellipsis: bool = True
    min_words_per_line: int | None = None
    max_word_length: int | None = None
    filter_lorem_ipsum: bool = True
    filter_javascript: bool = True
    filter_curly_bracket: bool = True
    policy_substrings: list[str] = field(default_factory=list)
    min_num_sentences: int | None = None
    remove_lines: bool = True
    language_rules: str | None = "quality/lang"
    default_language: str = "en"


@register
class C4(LanguageRule):
    name = "c4"
    category = keys.QUALITY
    Params = C4Params
    rules = "quality/c4.yaml"
    doc = "C4 rules: drop lines without terminal punctuation, short/javascript/policy lines; lorem ipsum, braces, few sentences."

    def setup(self) -> None:
        super().setup()
        self._lines_removed: Counter[str] = Counter()

    def process(self, docs: Iterable[Document], ctx: StageContext) -> Iterator[Document]:
        self.setup()
        try:
            yield from super().process(docs, ctx)
        finally:
            for reason, n in self._lines_removed.items():
                ctx.count(f"lines_removed_{reason}", n)
            self._lines_removed.clear()

    def check_doc(self, doc: Document, p: C4Params, split: text.WordSplitter) -> str | None:
        removed: Counter[str] = Counter()
        try:
            return self._check_lines(doc, p, split, removed)
        finally:
            self._lines_removed.update(removed)

    def _check_lines(self, doc: Document, p: C4Params, split: text.WordSplitter, removed: Counter[str]) -> str | None:
        ends = tuple(p.end_punctuation or ())
        policies = [s.lower() for s in p.policy_substrings]
        txt = doc.text
        lines = list(map(str.strip, txt.splitlines()))
        # Asked of the whole text first: when no line is longer than a word may be, or no "[" starts a
        # citation, no line needs the step.
        longest = p.max_word_length if p.max_word_length and max(map(len, lines), default=0) > p.max_word_length else 0
        citations = p.remove_citations and "[" in txt
        numbered = enumerate(lines)
        if ends and not longest and not citations:  # then a line without an ending is removed for that alone:
            numbered = compress(numbered, map(str.endswith, lines, repeat(ends)))  # such lines are skipped in C
        kept: list[str] = []
        sentences = 0
        last = -1  # the previous line looked at; those between were skipped for their ending
        for i, stripped in numbered:
            if i > last + 1:
                removed["no_terminal_punct"] += i - last - 1
            last = i
            if longest and len(stripped) > longest and max(map(len, stripped.split())) > longest:
                removed["long_word"] += 1
                continue
            line = _CITATION.sub("", stripped) if citations and "[" in stripped else stripped
            if ends and (not line.endswith(ends) or (p.exclude_ellipsis and line.endswith("..."))):
                removed["no_terminal_punct"] += 1
                continue
            if p.min_words_per_line and len(stripped.split(None, p.min_words_per_line - 1)) < p.min_words_per_line:
                removed["too_few_words"] += 1
                continue
            lower = line.lower()
            if p.filter_lorem_ipsum and "lorem ipsum" in lower:
                return "c4_lorem_ipsum"
            if p.filter_javascript and "javascript" in lower:
                removed["javascript"] += 1
                continue
            if p.filter_curly_bracket and "{" in line:
                return "c4_curly_bracket"
            if policies and any(map(lower.__contains__, policies)):
                removed["policy"] += 1
                continue
            if p.min_num_sentences and sentences < p.min_num_sentences:  # past the minimum, no need to count
                sentences += text.count_line_sentences(split, line)
            kept.append(line)
        if len(lines) > last + 1:
            removed["no_terminal_punct"] += len(lines) - last - 1
        if p.min_num_sentences and sentences < p.min_num_sentences:
            return "c4_too_few_sentences"
        if p.remove_lines and self.mode == "filter":
            doc.text = "\n".join(kept).strip()
        return None
