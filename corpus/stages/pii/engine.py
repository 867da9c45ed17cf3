"""The analyzer, built once per worker: pre-screened pattern regions plus batched NER, offline.

`PiiEngine.analyze` takes a batch of documents and returns, per document, non-overlapping
`RecognizerResult`s with offsets into that document. Pattern recognizers (Presidio's, phone shapes,
secrets) run through one Presidio `AnalyzerEngine` on the regions the pre-screen found, so long
documents are analysed in pieces with offsets shifted back; the NER backend runs over the stretches of
every document of the batch that the NER screen lets through (all of them without a screen), at once,
in token windows; `ModelChecks` drops the model's spans that their context contradicts and
`PersonCues` adds the lone names the model misses.
"""

from __future__ import annotations

import bisect
import logging
import os

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")  # tldextract goes online otherwise

from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from presidio_analyzer import AnalyzerEngine, RecognizerResult  # noqa: E402

from corpus.stages.pii.model_checks import ModelChecks  # noqa: E402
from corpus.stages.pii.ner import NerBackend  # noqa: E402
from corpus.stages.pii.ner_screen import NerScreen  # noqa: E402
from corpus.stages.pii.person_cues import PersonCues  # noqa: E402
from corpus.stages.pii.prescreen import Prescreen  # noqa: E402
from corpus.stages.pii.recognizers import WindowContextEnhancer, offline_nlp_engine, pattern_registry  # noqa: E402
from corpus.stages.pii.secrets import SECRET_ENTITIES  # noqa: E402

# spans that other spans inside them belong to; the checked ones also beat a span that cuts into them
CHECKED = frozenset({*SECRET_ENTITIES, "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "EMAIL_ADDRESS"})
CONTAINERS = CHECKED | {"PHONE_NUMBER", "US_SSN"}

for _name in ("presidio-analyzer", "presidio-anonymizer", "tldextract"):
    logging.getLogger(_name).setLevel(logging.ERROR)  # their warnings can quote input text


@dataclass
class EngineStats:
    """How much work the pre-screen saved, for the ledger."""

    docs: int = 0
    docs_screened_out: int = 0
    chars: int = 0
    chars_analyzed: int = 0
    chars_to_ner: int = 0


class PiiEngine:
    """Pattern analysis on pre-screened regions plus one NER backend; results filtered by ``accept``."""

    def __init__(self, entities: Sequence[str], context: dict[str, list[str]], ner: NerBackend | None,
                 disabled_recognizers: Sequence[str] = (), context_words: tuple[int, int] = (6, 3),
                 margin: int = 80, screen: NerScreen | None = None, phone_regions: Sequence[str] = (),
                 cues: PersonCues | None = None, checks: ModelChecks | None = None,
                 context_against: dict[str, list[str]] | None = None):
        self.ner, self.screen, self.cues, self.checks = ner, screen, cues, checks
        ner_entities = ner.entities if ner else set()
        # an entity both sides find (ADDRESS: the model streets, patterns unit numbers) goes to both
        registry = pattern_registry(entities, context, disabled_recognizers, phone_regions)
        self.pattern_entities = sorted(set(entities) & {e for r in registry.recognizers for e in r.supported_entities})
        self.analyzer = AnalyzerEngine(
            registry=registry, nlp_engine=offline_nlp_engine(), supported_languages=["en"],
            context_aware_enhancer=WindowContextEnhancer(prefix_words=context_words[0],
                                                         suffix_words=context_words[1], against=context_against))
        self.prescreen = Prescreen(self.pattern_entities, margin=margin)
        self.ner_entities = sorted(set(entities) & ner_entities)
        self.stats = EngineStats()

    @property
    def entities(self) -> list[str]:
        return sorted({*self.pattern_entities, *self.ner_entities})

    def analyze(self, texts: Sequence[str]) -> list[list[RecognizerResult]]:
        """Candidate spans per document (every score; thresholds are the policy's business)."""
        found = [self._patterns(t) for t in texts]
        if self.ner is not None and self.ner_entities:
            for text, spans, more in zip(texts, found, self.ner_results(texts, self.screen), strict=True):
                spans.extend(self.checks.keep(text, more, spans) if self.checks else more)
                if self.cues is not None and "PERSON" in self.ner_entities:
                    spans.extend(self.cues.find(text))
                    self.cues.with_titles(text, spans)
        return found

    def ner_results(self, texts: Sequence[str], screen: NerScreen | None) -> list[list[RecognizerResult]]:
        """The model's spans per document, found in the stretches ``screen`` lets through (all without one)."""
        wanted = set(self.ner_entities)
        parts = [(d, s, e) for d, t in enumerate(texts) for s, e in (screen.regions(t) if screen else [(0, len(t))])]
        self.stats.chars_to_ner += sum(e - s for _, s, e in parts)
        out: list[list[RecognizerResult]] = [[] for _ in texts]
        for (d, s, _), results in zip(parts, self.ner.find([texts[d][s:e] for d, s, e in parts]), strict=True):
            for r in results:
                if r.entity_type in wanted:
                    r.start += s
                    r.end += s
                    out[d].append(r)
        return out

    def _patterns(self, text: str) -> list[RecognizerResult]:
        st = self.stats
        st.docs += 1
        st.chars += len(text)
        regions = self.prescreen.regions(text)
        if not regions:
            st.docs_screened_out += 1
            return []
        out: list[RecognizerResult] = []
        for reg in regions:
            st.chars_analyzed += reg.end - reg.start
            for r in self.analyzer.analyze(text[reg.start:reg.end], language="en", entities=sorted(reg.entities),
                                           score_threshold=0.0):
                r.start += reg.start
                r.end += reg.start
                out.append(r)
        return out


def resolve_overlaps(results: list[RecognizerResult]) -> list[RecognizerResult]:
    """Keep the best of overlapping spans; returned in text order.

    A span inside a credential or a checked identifier (card, IBAN, IP, e-mail, phone, SSN) is part
    of it and goes first: digits of an IBAN are no card, a piece of an IPv6 address no house number,
    whatever the model's score; so does a name or place that overlaps a checked identifier
    (`_overlaps_checked`). Then best is context-supported first (``fax 223-087-9502`` is a phone even
    though the number also passes the NHS checksum), then higher score, then longer.
    """
    wholes = [r for r in results if r.entity_type in CONTAINERS]
    if wholes:
        results = [r for r in results if not any(
            s is not r and (s.start <= r.start and r.end <= s.end
                            and (s.end - s.start > r.end - r.start or r.entity_type not in CONTAINERS)
                            or _overlaps_checked(r, s)) for s in wholes)]
    ranked = sorted(results, key=lambda r: (not _context_backed(r), -r.score, -(r.end - r.start), r.start,
                                            r.entity_type))
    starts: list[int] = []  # kept spans never overlap, so sorted by start they are sorted by end too
    kept: list[RecognizerResult] = []
    for r in ranked:
        i = bisect.bisect_right(starts, r.start)
        if (i and kept[i - 1].end > r.start) or (i < len(kept) and kept[i].start < r.end):
            continue
        starts.insert(i, r.start)
        kept.insert(i, r)
    return kept


def _overlaps_checked(r: RecognizerResult, s: RecognizerResult) -> bool:
    """``r``, a name or place (mostly the model's guess), overlaps ``s``, a checked identifier (card,
    IBAN, IP, e-mail, secret): "1fc3 is down" tagged as an address after ``fe80::fcd6:6fc5:1fc3``.
    Phone numbers and SSNs are shapes that house numbers share ("Suite 680 36 4022 Oakridge Lane"),
    so a street that overlaps one keeps its chance."""
    return s.entity_type in CHECKED and r.entity_type not in CONTAINERS and r.start < s.end and s.start < r.end


def _context_backed(r: RecognizerResult) -> bool:
    return bool((r.recognition_metadata or {}).get(RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY))
