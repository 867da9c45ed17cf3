"""The pattern side of the analyzer: Presidio's predefined recognizers, phone shapes, secrets, context.

Presidio's phone recognizer accepts only numbers that `phonenumbers` validates for a few regions,
so local and fictional-but-realistic numbers (``785 8949``, ``(88) 684-334``, ``166-684-7899``) are
missed: about 0.6 recall on presidio-research's own generated set. `PhoneShapeRecognizer` adds
number shapes, strong ones scored to pass alone, loose ones only with a context word nearby.

Presidio boosts scores from context words through an NLP engine's lemmas; the offline engine here
has no NLP pipeline, so `WindowContextEnhancer` finds the same context words in a window of
plain words around the match.

Beyond Presidio's own: `CardNumberRecognizer` takes any Luhn-valid 12-19 digit number as a card when
a card word is near (Presidio's card pattern knows neither 12-digit Maestro nor 18-19 digit
numbers); `PlanPhoneRecognizer` checks digit runs against the numbering plans of the policy's
``phone_regions``, so a national number written without its country code (``0612 345 678``,
``020 7946 0958``) passes without a context word; `address_recognizer` finds the fragments a model
reading prose misses (``Apt. 12``, ``PSC 1234, Box 5678``, ``FPO AE 09123``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable

import phonenumbers
import regex
from presidio_analyzer import EntityRecognizer, LocalRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts, NoOpNlpEngine
from presidio_analyzer.predefined_recognizers import CreditCardRecognizer, IbanRecognizer, NhsRecognizer
from presidio_analyzer.recognizer_registry import RecognizerRegistry

from corpus.stages.pii.secrets import secret_recognizers

_SEP = r"[ \t.\-]"
_EXT = r"(?:[ \t]?(?:x|ext\.?|#)[ \t]?\d{1,6})?"
_DATE = regex.compile(r"^(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.](?:\d{4}|\d{2}))(?:$|[ T])")
# US_SSN's shape, left to its recognizer (no numbering plan of phone_regions writes 3-2-4 digits)
_SSN = regex.compile(r"^\d{3}([- ])\d{2}\1\d{4}$")
_ISBN_PREFIX = regex.compile(r"^97[89]")
_ISBN10 = regex.compile(r"^\d{1,5}-\d{1,7}-\d{1,7}-\d$")  # hyphenated, as printed (0-306-40615-2)
# IP_ADDRESS's shape: four octets of 0-255 without a leading zero (078.129.37.20 or 12.345.72.74 is a phone)
_IPV4 = regex.compile(r"^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$")
_DECIMAL = regex.compile(r"^[1-9]\d{0,2}\.\d{5,}$")  # a coordinate or a measurement (150.57953)
_PAIRS = regex.compile(r"^\d\d(?:\.\d\d){3}$")  # 21.23.23.90: a Norwegian or Danish phone, or an IPv4 address
_MONEY = regex.compile(r"^(?:0|[1-9]\d{0,2})(?:[ \u00a0,.]\d{3})*[.,]\d{2}$")  # 1 947.69, 12.345,00 (not 02.212.381.01)
_LEFT = r"(?<![\w.+\-/])"
_PAREN = r"\(\d{1,5}(?:[ \-]\d{1,4})?\)"  # an area code in brackets: (020), (0-312)
_RIGHT = r"(?![\w/]|[.\-]\d)"


def _not_a_phone(text: str) -> bool:
    """Shapes that other entities or plain numbers own: dates, SSNs, IPv4 addresses (but four pairs of
    digits, which phones share), amounts of money, ISBNs, and dotted version strings with a one-digit
    part (10.0.19041.1)."""
    if _DATE.match(text) or _SSN.match(text) or _IPV4.match(text) and not _PAIRS.match(text) or _MONEY.match(text):
        return True
    digits = re.sub(r"\D", "", text)
    if len(digits) == 13 and _ISBN_PREFIX.match(digits) and _isbn13_ok(digits):
        return True
    if _ISBN10.match(text) and sum((10 - i) * int(d) for i, d in enumerate(digits)) % 11 == 0:
        return True
    groups = text.split(".")
    return len(groups) > 2 and any(len(g) == 1 for g in groups) and not text.startswith("+")


class PhoneShapeRecognizer(PatternRecognizer):
    """Phone numbers by shape: NANP and ``+``/``00`` international forms score alone; grouped digits need context."""

    def __init__(self, context: list[str]):
        left, right = _LEFT, _RIGHT
        patterns = [
            Pattern("nanp", left + rf"(?:(?:\+1|001){_SEP}?)?(?:\(\d{{3}}\)[ \t]?|\d{{3}}[.\-])\d{{3}}[.\-]\d{{4}}{_EXT}" + right,
                    0.6),
            Pattern("international", r"(?<![\w+])(?:\+|00)[1-9]\d{0,3}(?:[ \t.\-]?\(?\d{1,5}\)?){2,6}" + _EXT + right, 0.6),
            Pattern("grouped", left + rf"(?:{_PAREN}[ \t\-/]?\d{{1,8}}(?:{_SEP}\d{{1,8}}){{0,5}}|"
                                      rf"\d{{1,5}}(?:{_SEP}\d{{1,8}}){{1,5}}){_EXT}" + right, 0.2),
            Pattern("digits", left + r"\d{7,12}" + right, 0.15),
        ]
        super().__init__(supported_entity="PHONE_NUMBER", patterns=patterns, context=context,
                         name="PhoneShapeRecognizer", global_regex_flags=regex.IGNORECASE)

    def invalidate_result(self, pattern_text: str) -> bool:
        digits = re.sub(r"\D", "", re.split(r"(?i)x|ext|#", pattern_text)[0])
        if not 6 <= len(digits) <= 15:
            return True
        return _not_a_phone(pattern_text)


def _isbn13_ok(digits: str) -> bool:
    return sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10 == 0


class PlanPhoneRecognizer(LocalRecognizer):
    """Digit runs that are valid numbers in the numbering plan of one of ``regions`` (`phonenumbers`).

    Presidio's `PhoneRecognizer` scans the whole text once per region and scores every find 0.4,
    below the policy's threshold without a context word. Here one regex finds phone-shaped runs,
    and each is parsed for every region until one plan accepts it. A valid number written as people
    write phones (grouped, in brackets, with a trunk ``0`` or a ``+``) scores 0.5, enough alone; a
    bare run of digits without a leading ``0``, a decimal number, or a number of fewer than 8 digits,
    scores 0.3 and needs a context word, since order numbers and house numbers ("21 3314 Harley Road") are often
    valid somewhere.
    """

    _CANDIDATE = regex.compile(r"(?<!:)" + _LEFT + rf"(?:\+|00)?(?:{_PAREN}[ \t.\-/]?)?\d(?:[ \t.\-/]?\d|[ \t]?{_PAREN}[ \t]?){{4,16}}"
                               + _RIGHT + r"(?!:\d)")
    SCORE, WEAK_SCORE = 0.5, 0.3

    def __init__(self, regions: Iterable[str], context: list[str]):
        self.regions = [r.upper() for r in regions]
        super().__init__(supported_entities=["PHONE_NUMBER"], context=context, name="PlanPhoneRecognizer")

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None,
                ) -> list[RecognizerResult]:
        out = []
        for m in self._CANDIDATE.finditer(text):
            value = m.group()
            digits = re.sub(r"\D", "", value)
            if not 6 <= len(digits) <= 15 or _not_a_phone(value) or not self._valid(value):
                continue
            # a decimal (a coordinate: 150.57953) or a valid IPv4 address of four pairs is a phone only
            # with a context word ("Tel. 40.37.36.17"), which then also beats the IP address
            shaped = ((not value.isdigit() or value.startswith("0")) and len(digits) >= 8
                      and not _DECIMAL.match(value) and not _IPV4.match(value))
            out.append(RecognizerResult("PHONE_NUMBER", m.start(), m.end(), self.SCORE if shaped else self.WEAK_SCORE,
                                        recognition_metadata={RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                                                              RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id}))
        return out

    def _valid(self, value: str) -> bool:
        international = value.startswith(("+", "00"))
        for region in ([None] if international else self.regions):
            try:
                num = phonenumbers.parse("+" + value.lstrip("+")[2 if value.startswith("00") else 0:]
                                         if international else value, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(num):
                return True
        return False


class CardNumberRecognizer(PatternRecognizer):
    """Any Luhn-valid number of 12-19 digits, contiguous or in groups: a card when a card word is near.

    Scored 0.3 alone (below the policy's threshold: plenty of long numbers pass Luhn by chance), 0.9
    with a context word (``card``, ``cc``, an issuer's name), above a phone shape that "card number"
    also backs. Presidio's card recognizer still takes the common issuer shapes without context.
    """

    context_min_score = 0.9

    CONTEXT = ["card", "cc", "credit", "debit", "visa", "mastercard", "maestro", "amex", "jcb", "discover",
               "diners", "unionpay", "rupay", "mir", "cvv", "cvc", "expiry"]

    def __init__(self) -> None:
        patterns = [
            Pattern("card digits", _LEFT + r"\d{12,19}" + _RIGHT, 0.3),
            Pattern("card groups", _LEFT + r"\d{4,6}([ \-])\d{2,6}(?:\1\d{1,6}){1,4}" + _RIGHT, 0.3),
        ]
        super().__init__(supported_entity="CREDIT_CARD", patterns=patterns, name="CardNumberRecognizer",
                         context=list(self.CONTEXT),
                         global_regex_flags=regex.DOTALL | regex.MULTILINE)

    def invalidate_result(self, pattern_text: str) -> bool:
        digits = re.sub(r"\D", "", pattern_text)
        return not 12 <= len(digits) <= 19 or not luhn_ok(digits)


class ContextNhsRecognizer(NhsRecognizer):
    """UK NHS numbers only with a context word: one ten-digit number in eleven passes the checksum.

    Presidio scores every checksum-valid ten-digit run 1.0, so a Unix timestamp or an order number
    in eleven is an NHS number; here it scores 0.3 and needs ``NHS``, ``patient``, ``hospital``...
    """

    def __init__(self) -> None:
        super().__init__(patterns=[Pattern("nhs", r"\b\d{3}[- ]?\d{3}[- ]?\d{4}\b", 0.3)],
                         context=["nhs", "national health", "health", "patient", "hospital", "gp"],
                         name="ContextNhsRecognizer")

    def validate_result(self, pattern_text: str) -> bool | None:
        return None if super().validate_result(pattern_text) else False


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


ADDRESS_CONTEXT = ["address", "street", "avenue", "road", "live", "lives", "living", "deliver", "delivery", "ship",
                   "mail", "post", "parcel", "moved", "office", "apartment", "building", "floor", "concierge",
                   "residence", "resides"]


def address_recognizer() -> PatternRecognizer:
    """Address fragments: unit designators with a number, and US military (APO/FPO/DPO) addresses.

    Case-sensitive (``Apt. 12``, not ``apt``). Designators that are rarely anything but an address
    (Apt, Suite, Flat, PO Box, Postfach, PSC ... Box, FPO AE 09123) and the rest of a line after a
    form's ``Address:`` label, when it holds a number, score 0.5; ``Unit``, ``Room``, ``Floor`` and the
    like (``Unit 4`` of a course, ``Room 101``) score 0.25 and need an address word near, unless
    they stand alone on a line of an address block.
    """
    military_line = r"\b[ADF]PO (?:AA|AE|AP) \d{5}(?:-\d{4})?\b"
    box = r"\b(?:PSC|CMR|Unit) \d{3,5},? Box \d{1,5}\b"
    ship = r"\b(?:USNS|USNV|USS|USCGC) [A-Z][\w'\-]+"
    weak = r"(?:Unit|Room|Rm|Floor|Fl|Building|Lot|Space|Dept|Office)\.?[ \t]?#?[ \t]?\d{1,5}[A-Z]?"
    # a post-office box in the languages of the EU; "BP 12" (boîte postale) is also a company's name
    po_box = (r"\b(?:P\.?[ \t]?O\.?[ \t]?Box|Post[ \t]Office[ \t]Box|Postfach|Postbus|Postboks|Postbox|Box|"
              r"Apartado(?:[ \t]de[ \t]correos)?|Casella[ \t]postale|Case[ \t]postale|Caixa[ \t]postal)[ \t]?\d{1,6}\b")
    # what follows a form's address label on its line, when it holds a number
    label = (r"(?i:(?<=^[ \t]*(?:address|addr\.?|home address|street address|mailing address|shipping address|"
             r"billing address|adresse|anschrift|direcci[oó]n|indirizzo|endere[cç]o|adres)[ \t]*:[ \t]*))"
             r"(?=[^\n]*\d)\S[^\n]*?(?=[ \t]*$)")
    # the street written next to a unit ("Sylviesteeg 54, Apt. 8", "Flat 8A, 905 Račianske mýto"), which a
    # model reading prose often leaves out; "Unit" is left out (``Unit 4, Chapter 2`` of a course)
    street = (r"(?:\d{1,5}[A-Za-z]?[ \t]+\p{Lu}[\w'\-]*(?:[ \t][^\W\d_][\w'.\-]*){0,3}"
              r"|\p{Lu}[\w'.\-]*(?:[ \t][^\W\d_][\w'.\-]*){0,2}[ \t]\d{1,5}[A-Za-z]?(?:/\d{1,4})?)")
    flat = r"(?:Apt|Apartment|Suite|Ste|Flat)\.?[ \t]?#?[ \t]?\d{1,5}[A-Z]?"
    floor = r"(?:Apt|Apartment|Suite|Ste|Flat|Room|Floor|Bldg)\.?[ \t]?#?[ \t]?\d{1,5}[A-Z]?"
    patterns = [
        Pattern("street with unit", rf"\b(?:{street},?[ \t]+{flat}|{floor},[ \t]+{street})\b", 0.5),
        Pattern("address label", label, 0.5),
        Pattern("post office box", po_box, 0.5),
        Pattern("boite postale", r"\bBP[ \t]?\d{1,5}\b", 0.25),
        Pattern("unit line", rf"^[ \t]*{weak}[ \t]*$", 0.5),
        Pattern("military address", rf"(?:{box}|{ship})[,\s]{{1,3}}{military_line}", 0.7),
        Pattern("military line", military_line, 0.6),
        Pattern("military box", box, 0.5),
        Pattern("unit", r"\b(?:Apt|Apartment|Suite|Ste|Flat|Bldg|Apto|Wohnung)\.?[ \t]?#?[ \t]?\d{1,5}[A-Z]?\b", 0.5),
        Pattern("weak unit", rf"\b{weak}\b", 0.25),
    ]
    return PatternRecognizer(supported_entity="ADDRESS", patterns=patterns, name="AddressFragmentRecognizer",
                             context=list(ADDRESS_CONTEXT), global_regex_flags=regex.DOTALL | regex.MULTILINE)


class WindowContextEnhancer(ContextAwareEnhancer):
    """Context words found in the plain words around a match raise its score (no NLP artifacts needed).

    Same arithmetic as Presidio's lemma enhancer: ``+factor``, at least ``min_score`` (or the
    recognizer's own ``context_min_score``); a context word matches a word that starts with it
    (``phone`` matches ``phones``). The words before a match stop at the end of the previous
    sentence ("Call me tomorrow. Order 80393597" is no phone number), and at the start of its line
    unless the match starts the line; the words after stop at the end of its line. A match with no
    context word whose line names it as something else just before it (``against``: ``part no.``,
    ``SKU``, ``order``) scores 0.
    """

    _SENTENCE_END = re.compile(r"[.!?]\s+(?=[A-Z])")

    _WORD = re.compile(r"\w+")

    def __init__(self, factor: float = 0.35, min_score: float = 0.4, prefix_words: int = 6,
                 suffix_words: int = 3, against: dict[str, list[str]] | None = None):
        super().__init__(factor, min_score, prefix_words, suffix_words)
        self.against = {ent: {w.lower() for w in words} for ent, words in (against or {}).items()}

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
                floor = getattr(rec, "context_min_score", self.min_score_with_context_similarity)
                new.score = min(self.MAX_SCORE, max(res.score + self.context_similarity_factor, floor))
                results[i] = new
            elif self._named_otherwise(text, res):
                new = copy.copy(res)
                new.score = 0.0
                results[i] = new
        return results

    def _named_otherwise(self, text: str, res: RecognizerResult) -> bool:
        """One of the two words right before the match says it is something else (``part no.
        345-7667-11``, ``SKU 2383726``): the ``against`` words of its entity, matched whole."""
        words = self.against.get(res.entity_type)
        if not words or res.score >= 0.6:  # an international or NANP form is a phone whatever precedes it
            return False
        line = text[max(0, res.start - 40):res.start].rsplit("\n", 1)[-1]
        return any(w.lower() in words for w in self._WORD.findall(line)[-2:])

    def _has_context(self, text: str, start: int, end: int, words: Iterable[str]) -> bool:
        window = self._SENTENCE_END.split(text[max(0, start - 20 * self.context_prefix_count):start])[-1]
        line = window.rsplit("\n", 1)[-1]
        if line.strip():  # the line before counts only for a match that starts its line ("Phone:\n...")
            window = line
        # the words after stop at the line's end too: "SSN: 302 10 6017\nPhone: ..." labels the next value
        following = self._SENTENCE_END.split(text[end:end + 20 * self.context_suffix_count])[0].split("\n", 1)[0]
        before = self._WORD.findall(window)
        after = self._WORD.findall(following)
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
                     disabled: Iterable[str] = (), phone_regions: Iterable[str] = ()) -> RecognizerRegistry:
    """Presidio's predefined English recognizers, phone shapes and plans, cards, address fragments and
    secrets, for ``entities`` only.

    ``context`` adds context words per entity; ``disabled`` names recognizers to leave out;
    ``phone_regions`` are the numbering plans a national number is checked against.
    """
    wanted, off = set(entities), set(disabled)
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=offline_nlp_engine())
    if phone_regions:  # the plan recognizer checks the same plans, each number once instead of each region
        off.add("PhoneRecognizer")
    off.add("NhsRecognizer")  # ContextNhsRecognizer instead
    phones = context.get("PHONE_NUMBER", [])
    extra: list[EntityRecognizer] = [PhoneShapeRecognizer(phones), card_series_2(), CardNumberRecognizer(),
                                     ContextNhsRecognizer(), address_recognizer(),
                                     # Presidio's IBAN pattern under the registry's IGNORECASE takes "Mail for
                                     # the" after an IBAN as more groups and fails the checksum; a
                                     # case-sensitive twin finds upper-case IBANs there
                                     IbanRecognizer(name="IbanUpperCaseRecognizer"), *secret_recognizers()]
    if phone_regions:
        extra.append(PlanPhoneRecognizer(phone_regions, phones))
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
