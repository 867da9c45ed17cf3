"""Names the NER model does not tag, found by the words around them.

Rampart tags a name well when it stands with a first name or a title ("Dr. Jane Okafor"), and
hardly ever when a surname or a first name stands alone in running text: in "Unlike the Halvorsen
novel" or "our founders: Okafor, Lindqvist and Reed" it gives every token under 0.1 PERSON. Such
lone names make up most of the PERSON spans it misses. The sentence around them says what they
are, so a few cue patterns find them:

- an eponym: ``the Halvorsen novel`` (book, film, album, song, version, family, ...);
- a list of people: ``founders: Okafor, Lindqvist and Reed`` (authors, members, guests, ...);
- attribution: ``according to Okafor``, ``written by``, ``directed by``, ``starring``,
  ``thanks to``, ``says``/``said``, a line of dialogue ``Okafor: "...``;
- a title before a name the model found (``Mr.`` ``Dr.`` ...) becomes part of that name.

A candidate that is a common word (on the NER screen's lists, measured as words the model does not
tag: ``Friday``, ``Moon``, or in lower-case text ``parks``) is not a name, except inside a list of
which another item is one. Found spans are context-backed, so they win over the model's guess of
LOCATION for the same word.
"""

from __future__ import annotations

import re

from presidio_analyzer import RecognizerResult

from corpus.stages.pii.ner_screen import ScreenLists

_NAME = r"(?:(?:van|von|de|da|di|del|der|den|le|la|du|ter|ten|mac|st\.?)\s)?[^\W\d_][\w'\u2019\-]*"
_NAMES = rf"{_NAME}(?:\s{_NAME}){{0,2}}"
_EPONYM_NOUNS = ("novel|novels|book|books|biography|memoir|film|films|movie|movies|album|albums|song|songs|"
                 "version|versions|recording|family|families|household|estate|era|trial|"
                 "concert|interview|collection|cover|saga|trilogy|play|opera|portrait|quartet|prize|lecture")
_GROUP_NOUNS = ("founders|co-founders|cofounders|authors|co-authors|editors|members|partners|guests|speakers|"
                "players|siblings|children|kids|sons|daughters|friends|owners|directors|hosts|panelists|"
                "winners|candidates|parents|grandparents|teachers|colleagues|neighbours|neighbors|tenants")
_ATTRIBUTION = ("according to|written by|directed by|produced by|performed by|composed by|painted by|"
                "narrated by|starring|featuring|feat\\.|thanks to|interviewed|as told to|courtesy of")

PATTERNS = [
    re.compile(rf"\b(?:the|a|an)\s+(?P<n>{_NAMES})\s+(?:{_EPONYM_NOUNS})\b", re.IGNORECASE),
    re.compile(rf"\b(?:{_GROUP_NOUNS})\b\s*(?:were|are|was|:|,|include|included)?\s*(?::\s*)?"
               rf"(?P<list>{_NAMES}(?:\s*,\s*{_NAMES})*,?\s+(?:and|&)\s+{_NAMES})", re.IGNORECASE),
    re.compile(rf"\b(?:{_ATTRIBUTION}|says|said)\s+(?P<n>{_NAMES})", re.IGNORECASE),
    re.compile(rf"\b(?P<n>{_NAMES}),?\s+(?:says|said|writes|wrote|argues|argued|told|asked|replied|explained)\b",
               re.IGNORECASE),
    re.compile(rf"^[ \t>]*(?P<n>{_NAME}):\s*\\?[\"\u201c]", re.MULTILINE),
]
_LIST_SPLIT = re.compile(r"\s*,\s*(?:(?:and|&)\s+)?|\s+(?:and|&)\s+", re.IGNORECASE)
_TITLE = re.compile(r"\b(?:mr|mrs|ms|miss|mx|dr|prof|sir|madam|herr|frau|mme|mlle)\.?\s+$", re.IGNORECASE)
_PARTICLES = {"van", "von", "de", "da", "di", "del", "der", "den", "le", "la", "du", "ter", "ten", "mac", "st", "st."}
_DETERMINERS = {"the", "a", "an", "this", "that", "these", "those", "our", "my", "his", "her", "their", "your",
                "its", "every", "each", "some", "any", "no"}
NAME = "PersonCueRecognizer"
SCORE = 0.6


class PersonCues:
    """`find(text)`: lone names by their cues; `with_titles(text, results)`: titles joined to names."""

    def __init__(self, lists: ScreenLists):
        self.lists = lists

    def find(self, text: str) -> list[RecognizerResult]:
        out: list[RecognizerResult] = []
        for rx in PATTERNS:
            for m in rx.finditer(text):
                cased = any(c.isupper() for c in text[max(0, m.start() - 200):m.end() + 200])
                if "list" in m.groupdict() and m.group("list") is not None:
                    out += self._list(text, m.start("list"), m.group("list"), cased)
                elif self._is_name(m.group("n"), cased):
                    out.append(_result(m.start("n"), m.end("n")))
        return out

    def _list(self, text: str, start: int, items: str, cased: bool) -> list[RecognizerResult]:
        spans, pos = [], 0
        for sep in [*_LIST_SPLIT.finditer(items), None]:
            end = sep.start() if sep else len(items)
            if items[pos:end].strip():
                spans.append((start + pos, start + end))
            pos = sep.end() if sep else len(items)
        names = [self._is_name(text[s:e], cased) for s, e in spans]
        if not any(names):
            return []
        # the other items of a list of names are names too, if written like one
        return [_result(s, e) for (s, e), ok in zip(spans, names, strict=True)
                if ok or self._shaped(text[s:e], cased)]

    def _is_name(self, candidate: str, cased: bool) -> bool:
        """Written like a name (`_shaped`) and not only common words: in cased text a capitalised word
        off the capitalised list, in lower-case text a word off both lists."""
        if not self._shaped(candidate, cased):
            return False
        lists = self.lists
        for word in candidate.split():
            lower = word.lower().removesuffix("'s").removesuffix("\u2019s")
            if lower in _PARTICLES:
                continue
            if lower not in lists.capitalised and (cased or lower not in lists.lowercase):
                return True
        return False

    def _shaped(self, candidate: str, cased: bool) -> bool:
        """In cased text every word but a particle is capitalised; in lower-case text none is a common
        lower-case word."""
        words = [w for w in candidate.split() if w.lower() not in _PARTICLES]
        if words and words[0].lower() in _DETERMINERS:  # "The Scripture says"
            return False
        if cased:
            return bool(words) and all(w[0].isupper() for w in words)
        return bool(words) and all(w.lower() not in self.lists.lowercase for w in words)

    @staticmethod
    def with_titles(text: str, results: list[RecognizerResult]) -> None:
        """A personal title right before a PERSON span joins it ("Mr. Ford"), in place."""
        for r in results:
            if r.entity_type == "PERSON":
                m = _TITLE.search(text, max(0, r.start - 8), r.start)
                if m:
                    r.start = m.start()


def _result(start: int, end: int) -> RecognizerResult:
    return RecognizerResult("PERSON", start, end, SCORE, recognition_metadata={
        RecognizerResult.RECOGNIZER_NAME_KEY: NAME, RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: NAME,
        RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY: True})
