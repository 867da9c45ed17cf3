"""Which parts of a document the NER model has to read.

The model is nearly all of the `pii` stage's cost (a 6-layer BERT over every token), yet it tags
something in a few percent of ordinary prose. In cased text a person, street or town is written
with a capital letter, so a sentence whose capitalised words are all ordinary ones ("The",
"Congress", "Tonight") holds nothing the model would tag. The screen passes to the model:

- a paragraph with no capital letter at all, or with more capitals than small letters, whole:
  case says nothing there, only the model can tell;
- in other paragraphs, each sentence or line holding a capitalised word that is not on the list of
  common capitalised words (for a sentence's first word: nor on the list of common lower-case
  words), a personal title (Mr, Dr, ...), or, in a short line, a digit (address blocks, signature
  lines); each with ``neighbours`` sentences or lines of context on either side.

The lists are data, measured for a model (`thresher pii-screen-words`): a word is common when the
model tagged at most ``max_rate`` of its ``min_count`` or more occurrences in the texts it was built
from. docs/pii.md has what the default lists cost in recall and save in time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from corpus import rules
from corpus.errors import UserError
from corpus.stages.pii.ner import LINE_OR_SENTENCE_BREAK, PARAGRAPH_BREAK

# A word starts with a letter; apostrophes and hyphens stay inside it (O'Neill, Jean-Luc).
WORD = re.compile(r"[^\W\d_][\w'\u2019\-]*")


@dataclass(kw_only=True)
class ScreenFile:
    """The keys of a screen lists file (the schema, `corpus.schema`), in the order `thresher
    pii-screen-words` writes them (the long lists last)."""

    built_with: dict[str, Any] | None = None  # how the lists were measured: a record for the reader
    min_count: int | None = None  # the measurement's settings, a record too
    max_rate: float | None = None
    titles: list[str] = field(default_factory=list)
    short_line_chars: int = 48
    neighbours: int = 1
    capitalised: list[str]
    lowercase: list[str]


@dataclass(frozen=True)
class ScreenLists:
    """The screen's data: ``rules/pii/ner_screen.yaml`` or a file built for another model."""

    capitalised: frozenset[str]  # lower-cased words that, written with a capital, the model does not tag
    lowercase: frozenset[str]  # words the model does not tag in lower case (a sentence's first word)
    titles: frozenset[str] = field(default_factory=frozenset)
    short_line_chars: int = ScreenFile.short_line_chars
    neighbours: int = ScreenFile.neighbours

    @classmethod
    def load(cls, ref: str) -> ScreenLists:
        f = rules.load_as(ScreenFile, ref, "pii ner screen")
        return cls(capitalised=frozenset(map(str.lower, f.capitalised)), lowercase=frozenset(map(str.lower, f.lowercase)),
                   titles=frozenset(map(str.lower, f.titles)), short_line_chars=f.short_line_chars,
                   neighbours=f.neighbours)


class NerScreen:
    """`regions(text)`: the ``[start, end)`` stretches of a document the model must read, in order."""

    def __init__(self, lists: ScreenLists):
        self.lists = lists

    def regions(self, text: str) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        start = 0
        for m in [*PARAGRAPH_BREAK.finditer(text), None]:
            end = m.start() if m else len(text)
            if text[start:end].strip():
                out += self._paragraph(text, start, end)
            start = m.end() if m else len(text)
        return out

    def _paragraph(self, text: str, start: int, end: int) -> list[tuple[int, int]]:
        para = text[start:end]
        upper = sum(c.isupper() for c in para)
        if upper == 0 or upper > sum(c.islower() for c in para):
            return [(start, end)]
        units, s = [], start
        for b in LINE_OR_SENTENCE_BREAK.finditer(text, start, end):
            units.append((s, b.start()))
            s = b.end()
        units.append((s, end))
        units = [u for u in units if text[u[0]:u[1]].strip()]
        wanted = [self.wants(text[a:b]) for a, b in units]
        n = self.lists.neighbours
        keep = [any(wanted[max(0, i - n):i + n + 1]) for i in range(len(units))]
        out: list[tuple[int, int]] = []
        for i, (a, b) in enumerate(units):
            if not keep[i]:
                continue
            if i and keep[i - 1]:
                out[-1] = (out[-1][0], b)
            else:
                out.append((a, b))
        return out

    def wants(self, unit: str) -> bool:
        """Whether one sentence or line (of a cased paragraph) may hold a name, street or place."""
        lists = self.lists
        if len(unit.strip()) <= lists.short_line_chars and any(c.isdigit() for c in unit):
            return True
        first = True
        for m in WORD.finditer(unit):
            word = m.group()
            lower = word.lower()
            if lower in lists.titles:
                return True
            if word[0].isupper() and word != "I" and lower not in lists.capitalised and \
                    not (first and lower in lists.lowercase):
                return True
            first = False
        return False


def screen_for(spec: Any) -> NerScreen | None:
    """The screen named by the stage's ``ner.screen`` (a rules file), or None for ``none``."""
    if spec in (None, "none", False):
        return None
    if not isinstance(spec, str):
        raise UserError("stage 'pii': ner.screen is a rules file (pii/ner_screen.yaml) or none")
    return NerScreen(ScreenLists.load(spec))


@dataclass
class WordCounts:
    """How often each word was seen, capitalised or not, and how often the model tagged it."""

    seen: dict[tuple[str, bool], int] = field(default_factory=dict)
    tagged: dict[tuple[str, bool], int] = field(default_factory=dict)

    def add(self, text: str, spans: Iterable[tuple[int, int]]) -> None:
        spans = sorted(spans)
        for m in WORD.finditer(text):
            key = (m.group().lower(), m.group()[0].isupper())
            self.seen[key] = self.seen.get(key, 0) + 1
            if any(s < m.end() and m.start() < e for s, e in spans):
                self.tagged[key] = self.tagged.get(key, 0) + 1

    def common(self, capitalised: bool, min_count: int, max_rate: float) -> list[str]:
        return sorted(w for (w, cap), n in self.seen.items()
                      if cap == capitalised and n >= min_count and self.tagged.get((w, cap), 0) <= max_rate * n)


def count_words(texts: Sequence[str], ner: Any, entities: set[str], accepts: Any) -> WordCounts:
    """Run the model over ``texts`` whole and count, per word, how often it fell inside a kept span."""
    counts = WordCounts()
    for text, found in zip(texts, ner.find(texts), strict=True):
        counts.add(text, [(r.start, r.end) for r in found if r.entity_type in entities and accepts(r, text)])
    return counts
