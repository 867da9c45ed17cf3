"""The pattern side of the analyzer: Presidio's predefined recognizers, phone shapes, secrets, context.

Presidio's phone recognizer accepts only numbers that `phonenumbers` validates for a few regions,
so local and fictional-but-realistic numbers (``785 8949``, ``(88) 684-334``, ``166-684-7899``) are
missed: about 0.6 recall on presidio-research's own generated set. `PhoneShapeRecognizer` adds
number shapes, strong ones scored to pass alone, loose ones only with a context word nearby.

Presidio boosts scores from context words through an NLP engine's lemmas; the offline engine here
has no NLP pipeline, so `WindowContextEnhancer` finds the same context words in a window of
plain words around the match.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable

import regex
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts, NoOpNlpEngine
from presidio_analyzer.predefined_recognizers import CreditCardRecognizer
from presidio_analyzer.recognizer_registry import RecognizerRegistry

from corpus.stages.pii.secrets import secret_recognizers

_SEP = r"[ \t.\-]"
_EXT = r"(?:[ \t]?(?:x|ext\.?|#)[ \t]?\d{1,6})?"
_DATE = regex.compile(r"^(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.](?:\d{4}|\d{2}))$")
_SSN = regex.compile(r"^\d{3}-\d{2}-\d{4}$")  # US_SSN's shape, left to its recognizer
_ISBN_PREFIX = regex.compile(r"^97[89]")


class PhoneShapeRecognizer(PatternRecognizer):
    """Phone numbers by shape: NANP and ``+``/``00`` international forms score alone; grouped digits need context."""

    def __init__(self, context: list[str]):
        left = r"(?<![\w.+\-/])"
        right = r"(?![\w/]|[.\-]\d)"
        patterns = [
            Pattern("nanp", left + rf"(?:(?:\+1|001){_SEP}?)?(?:\(\d{{3}}\)[ \t]?|\d{{3}}[.\-])\d{{3}}[.\-]\d{{4}}{_EXT}" + right,
                    0.6),
            Pattern("international", r"(?<![\w+])(?:\+|00)[1-9]\d{0,3}(?:[ \t.\-]?\(?\d{1,5}\)?){2,6}" + _EXT + right, 0.6),
            Pattern("grouped", left + rf"(?:\(\d{{1,4}}\)[ \t]?)?\d{{1,5}}(?:{_SEP}\d{{1,8}}){{1,5}}{_EXT}" + right, 0.2),
            Pattern("digits", left + r"\d{7,12}" + right, 0.15),
        ]
        super().__init__(supported_entity="PHONE_NUMBER", patterns=patterns, context=context,
                         name="PhoneShapeRecognizer", global_regex_flags=regex.IGNORECASE)

    def invalidate_result(self, pattern_text: str) -> bool:
        digits = re.sub(r"\D", "", re.split(r"(?i)x|ext|#", pattern_text)[0])
        if not 6 <= len(digits) <= 15:
            return True
        if _DATE.match(pattern_text) or _SSN.match(pattern_text):
            return True
        # ISBN-13s, and dotted version strings with a one-digit part (10.0.19041.1)
        if len(digits) == 13 and _ISBN_PREFIX.match(digits) and _isbn13_ok(digits):
            return True
        groups = re.split(r"[.]", pattern_text)
        return len(groups) > 2 and any(len(g) == 1 for g in groups)


def _isbn13_ok(digits: str) -> bool:
    return sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10 == 0


class WindowContextEnhancer(ContextAwareEnhancer):
    """Context words found in the plain words around a match raise its score (no NLP artifacts needed).

    Same arithmetic as Presidio's lemma enhancer: ``+factor``, at least ``min_score``; a context word
    matches a word that starts with it (``phone`` matches ``phones``).
    """

    _WORD = re.compile(r"\w+")

    def __init__(self, factor: float = 0.35, min_score: float = 0.4, prefix_words: int = 6,
                 suffix_words: int = 3):
        super().__init__(factor, min_score, prefix_words, suffix_words)

    def enhance_using_context(self, text: str, raw_results: list[RecognizerResult], nlp_artifacts: NlpArtifacts,
                              recognizers: list[EntityRecognizer], context: list[str] | None = None,
                              ) -> list[RecognizerResult]:
        by_id = {r.id: r for r in recognizers}
        results = copy.copy(raw_results)
        for i, res in enumerate(results):
            meta = res.recognition_metadata or {}
            rec = by_id.get(meta.get(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY))
            if rec is None or not rec.context or meta.get(RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY):
                continue
            if self._has_context(text, res.start, res.end, rec.context):
                new = copy.copy(res)
                new.recognition_metadata = {**meta, RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY: True}
                new.score = min(self.MAX_SCORE, max(res.score + self.context_similarity_factor,
                                                    self.min_score_with_context_similarity))
                results[i] = new
        return results

    def _has_context(self, text: str, start: int, end: int, words: Iterable[str]) -> bool:
        before = self._WORD.findall(text[max(0, start - 20 * self.context_prefix_count):start])
        after = self._WORD.findall(text[end:end + 20 * self.context_suffix_count])
        near = [w.lower() for w in before[-self.context_prefix_count:] + after[:self.context_suffix_count]]
        wanted = [w.lower() for w in words]
        return any(w.startswith(c) for w in near for c in wanted)


def card_series_2() -> CreditCardRecognizer:
    """Mastercard's 2221-2720 range (issued since 2017), which Presidio's card pattern does not cover.

    Same Luhn validation as Presidio's card recognizer, whose class it is.
    """
    pattern = r"\b2(?:22[1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)[- ]?\d{4}[- ]?\d{4}[- ]?\d{4}\b"
    return CreditCardRecognizer(patterns=[Pattern("mastercard 2-series", pattern, 0.3)],
                                name="CardSeries2Recognizer")


def offline_nlp_engine() -> NoOpNlpEngine:
    """Presidio's NLP engine that loads nothing: context comes from `WindowContextEnhancer` instead."""
    engine = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
    engine.load()
    return engine


def pattern_registry(entities: Iterable[str], context: dict[str, list[str]],
                     disabled: Iterable[str] = ()) -> RecognizerRegistry:
    """Presidio's predefined English recognizers, phone shapes and secrets, for ``entities`` only.

    ``context`` adds context words per entity; ``disabled`` names recognizers to leave out.
    """
    wanted, off = set(entities), set(disabled)
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=offline_nlp_engine())
    extra: list[EntityRecognizer] = [PhoneShapeRecognizer(context.get("PHONE_NUMBER", [])), card_series_2(),
                                     *secret_recognizers()]
    keep: list[EntityRecognizer] = []
    for rec in [*registry.recognizers, *extra]:
        ents = set(rec.supported_entities) & wanted
        if not ents or rec.name in off or _is_ner(rec):
            continue
        for ent in ents:
            rec.context = list(dict.fromkeys([*(rec.context or []), *context.get(ent, [])]))
        keep.append(rec)
    registry.recognizers = keep
    return registry


def _is_ner(rec: EntityRecognizer) -> bool:
    """Presidio's NLP-backed recognizers (spaCy etc.) have no place in the offline pattern registry."""
    return type(rec).__name__ in {"SpacyRecognizer", "StanzaRecognizer", "TransformersRecognizer", "GLiNERRecognizer"}
