"""Spans of the NER model that its own context contradicts, dropped before the policy sees them.

Two mistakes of the default model recur on text it was not trained on, each over a whole class of
inputs rather than a few strings:

- a lone number or code read as an address (the model's ZIP_CODE or BUILDING_NUMBER): ``ticket
  549968``, the decimals of ``25.80240``, ``SKU 2383726``. A house number or postcode stands next to a
  street or a town, which the model tags too, after a street's name ("Aqqusinersuaq 171"), or after
  an address word ("my zip code is 05520"); one with none of these within ``NEAR`` characters
  identifies no place and is dropped;
- a common lower-case word read as a name in cased text (``That was Lara's idea, not mine.``:
  "mine"). Names in cased text are capitalised; a PERSON span written in lower case whose words are
  all on the NER screen's list of common lower-case words is dropped. Lower-case text (chat, all
  lower case) keeps every span, since case says nothing there.
"""

from __future__ import annotations

import re

from presidio_analyzer import RecognizerResult

from corpus.stages.pii.ner_screen import ScreenLists

NEAR = 40
_WORD = re.compile(r"[^\W\d_][\w'\-]*")
# words that make a lone number a postcode or house number ("ship", "office" do not: "We shipped ticket 804802")
_ADDRESS_WORDS = ("zip", "postal", "postcode", "plz", "address", "street", "road", "avenue", "house", "live")
_LETTER_WORD = re.compile(r"[^\W\d_]{2,}")
_NUMBER_ONLY = re.compile(r"[A-Z]?[#\W\d_]*\d[\W\d_]*[^\W\d_]?")  # 549968, 80240, 28,494, #12, 90A, Z7846


class ModelChecks:
    """`keep(text, found, others)`: the model's spans ``found`` minus the contradicted ones."""

    def __init__(self, lists: ScreenLists):
        self.lists = lists

    def keep(self, text: str, found: list[RecognizerResult], others: list[RecognizerResult],
             ) -> list[RecognizerResult]:
        """``others``: the pattern recognizers' spans, whose unit numbers count as places too."""
        places = [r for r in (*found, *others) if r.entity_type in ("ADDRESS", "LOCATION")]
        return [r for r in found if not (self._lone_number(text, r, places) or self._common_word(text, r))]

    def _lone_number(self, text: str, r: RecognizerResult, places: list[RecognizerResult]) -> bool:
        if r.entity_type != "ADDRESS" or not _NUMBER_ONLY.fullmatch(text[r.start:r.end]):
            return False
        if any(p is not r and p.start < r.end + NEAR and r.start - NEAR < p.end for p in places):
            return False
        before = _WORD.findall(text[max(0, r.start - NEAR):r.start])[-4:]
        if any(w.lower().startswith(_ADDRESS_WORDS) for w in before):  # "my zip code is 05520"
            return False
        # a street the model did not tag: "Aqqusinersuaq 171" (not "SKU 2383726", "Note 12")
        last = before[-1] if before else ""
        return not (last[:1].isupper() and not last.isupper() and last.lower() not in self.lists.capitalised)

    def _common_word(self, text: str, r: RecognizerResult) -> bool:
        if r.entity_type != "PERSON":
            return False
        value = text[r.start:r.end]
        words = _LETTER_WORD.findall(value)
        if not words or value != value.lower():
            return False
        cased = any(c.isupper() for c in text[max(0, r.start - 200):r.end + 200])
        return cased and all(w in self.lists.lowercase for w in words)
