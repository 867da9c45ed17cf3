"""Cheap pre-screen: which parts of a document could hold which entities.

Presidio's pattern recognizers scan the whole text once per recognizer, and its phone recognizer
runs `phonenumbers` over every region; most of a web corpus holds no candidate at all. A handful of
loose trigger regexes (one scan each, far looser than the recognizers they guard) find the few
places worth analysing. Each hit becomes a region padded with enough words on both sides for
context scoring; overlapping regions merge. The recognizers then run on those regions only, with
offsets shifted back into the document, so a document with no trigger skips the analyzers.

Triggers must never be stricter than the recognizer they stand for: a missed trigger is a missed
entity. An enabled entity without a trigger here is analysed over the whole document.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# Five or more digits with short separators between them: phone numbers, cards, national ids,
# bank numbers, driver licences, passports.
_DIGITS = r"\d(?:[ \t().+/\-]{0,3}\d){4,}"
_IPV4 = r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}"
_IPV6 = r"[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}"

TRIGGERS: dict[str, str] = {
    "EMAIL_ADDRESS": r"@",
    "URL_PASSWORD": r"://[^\s/@]*:[^\s/@]*@",
    "PHONE_NUMBER": r"\d(?:[ \t().+/\-]{0,3}\d){5,}",
    "CREDIT_CARD": _DIGITS,
    "US_SSN": _DIGITS,
    "US_ITIN": _DIGITS,
    "US_PASSPORT": r"\d{8,}",
    "US_BANK_NUMBER": r"\d{8,}",
    "US_DRIVER_LICENSE": r"\d{4,}",
    "UK_NHS": _DIGITS,
    "MEDICAL_LICENSE": r"\d{5,}",
    "IBAN_CODE": r"[A-Za-z]{2}\d{2}[ \-]?[A-Za-z0-9]{4}",
    "IP_ADDRESS": f"{_IPV4}|{_IPV6}",
    # unit designators and military post lines (AddressFragmentRecognizer)
    "ADDRESS": r"\b(?:Apt|Apartment|Suite|Ste|Flat|Bldg|Apto|Wohnung|Unit|Room|Rm|Floor|Fl|Building|Lot|Space|Dept|"
               r"Office|PSC|CMR|USNS|USNV|USS|USCGC|[ADF]PO|BP|Box|Postfach|Postbus|Postboks|Postbox|Apartado|"
               r"Casella|Case|Caixa)\b|(?i:addr|adress|anschrift|direcci|indirizzo|endere)",
    "CRYPTO": r"\b(?:[13][a-km-zA-HJ-NP-Z1-9]{25,}|bc1[a-z0-9]{20,})",
    "AWS_ACCESS_KEY": r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T)[A-Z0-9]",
    "AWS_SECRET_KEY": r"(?i)aws.{0,40}secret|secret.{0,3}access.{0,3}key",
    "GITHUB_TOKEN": r"\bgh[pousr]_|github_pat_",
    "SLACK_TOKEN": r"\bxox[abposre]-|hooks\.slack\.com",
    "GOOGLE_API_KEY": r"AIza",
    "OPENAI_API_KEY": r"\bsk-",
    "JWT": r"eyJ",
    # the whole block, so that its region covers the key however long it is
    "PRIVATE_KEY": r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?s:.*?)(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
}


@dataclass(slots=True)
class Region:
    """``text[start:end]`` is worth analysing for ``entities``."""

    start: int
    end: int
    entities: set[str]


class Prescreen:
    """Compiled triggers for a fixed set of entities; `regions` is the per-document call."""

    def __init__(self, entities: Iterable[str], margin: int = 80):
        self.margin = margin
        by_pattern: dict[str, set[str]] = {}
        self.unguarded: set[str] = set()
        for ent in entities:
            pattern = TRIGGERS.get(ent)
            if pattern is None:
                self.unguarded.add(ent)
            else:
                by_pattern.setdefault(pattern, set()).add(ent)
        self._triggers = [(re.compile(p), frozenset(ents)) for p, ents in by_pattern.items()]

    def regions(self, text: str) -> list[Region]:
        """Merged, padded regions in document order; one whole-text region for unguarded entities."""
        if self.unguarded and text:
            return [Region(0, len(text), set(self.unguarded) | self._all_hits(text))]
        hits: list[tuple[int, int, frozenset[str]]] = []
        for rx, ents in self._triggers:
            hits.extend((m.start(), m.end(), ents) for m in rx.finditer(text))
        if not hits:
            return []
        hits.sort(key=lambda h: h[0])
        out: list[Region] = []
        for start, end, ents in hits:
            lo, hi = self._pad(text, start, end)
            if out and lo <= out[-1].end:
                last = out[-1]
                last.end = max(last.end, hi)
                last.entities |= ents
            else:
                out.append(Region(lo, hi, set(ents)))
        return out

    def _all_hits(self, text: str) -> set[str]:
        found: set[str] = set()
        for rx, ents in self._triggers:
            if rx.search(text):
                found |= ents
        return found

    def _pad(self, text: str, start: int, end: int) -> tuple[int, int]:
        """Widen ``[start, end)`` by ``margin`` characters, then out to whitespace, never cutting a word."""
        lo = max(0, start - self.margin)
        while lo > 0 and not text[lo - 1].isspace():
            lo -= 1
        hi = min(len(text), end + self.margin)
        while hi < len(text) and not text[hi].isspace():
            hi += 1
        return lo, hi
