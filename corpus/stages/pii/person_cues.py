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

_ADVERBS = "just|also|then|never|already|later|finally|has|had|will|would"
_NAME = (rf"(?!(?:and|or|{_ADVERBS})\b)(?:(?:van|von|de|da|di|del|der|den|le|la|du|ter|ten|mac|st\.?)[ \t])*"
         r"[^\W\d_][\w'\u2019\-]*")
_NAMES = rf"{_NAME}(?:[ \t]{_NAME}){{0,2}}"  # one to three words on one line
_EPONYM_NOUNS = ("novel|novels|book|books|biography|memoir|film|films|movie|movies|album|albums|song|songs|"
                 "version|versions|recording|family|families|household|estate|era|trial|"
                 "concert|interview|collection|cover|saga|trilogy|play|opera|portrait|quartet|prize|lecture")
_GROUP_NOUNS = ("founders|co-founders|cofounders|authors|co-authors|coauthors|editors|members|partners|guests|speakers|"
                "players|siblings|children|kids|sons|daughters|friends|owners|directors|hosts|panelists|"
                "winners|candidates|parents|grandparents|teachers|colleagues|neighbours|neighbors|tenants|"
                "attendees|participants|invitees|invited|committee|team|staff|cast|crew|signatories|recipients|"
                "organisers|organizers|judges|jury|volunteers|employees|students|witnesses|contributors|present")
_ATTRIBUTION = ("according to|written by|directed by|produced by|performed by|composed by|painted by|"
                "narrated by|signed by|sent by|posted by|reported by|starring|featuring|feat\\.|thanks to|"
                "interviewed|as told to|courtesy of|quoting|my name is|my name's|i am|i'm")
_SAYING = ("says|said|writes|wrote|argues|argued|told|tells|asked|asks|replied|replies|explained|emailed|texted|"
           "thinks|thought|believes|believed|lives|lived|married|smiled|laughed|admitted|insisted")
_ADVERB = rf"(?:(?:{_ADVERBS})[ \t]+)?"
_PERSONAL_NOUNS = ("idea|ideas|book|car|wife|husband|mother|father|mom|mum|dad|son|daughter|brother|sister|uncle|"
                   "aunt|cousin|grandmother|grandfather|parents|kids|children|family|friend|boyfriend|girlfriend|"
                   "partner|house|home|flat|apartment|birthday|wedding|funeral|post|comment|reply|answer|question|"
                   "suggestion|advice|opinion|email|phone|number|address|account|dog|cat|desk|office|bike")
# a form's label before the name, alone on its line with it ("Name: ...", "Ship to: ...")
_LABELS = ("(?:full |first |last |given |family |customer |client |contact |account |patient |user |maiden )?name|"
           "surname|customer|client|applicant|patient|account holder|card ?holder|holder|ship to|bill to|deliver to|"
           "attn\\.?|attention|contact person|contact|recipient|sender|employee|tenant|guest|passenger|from|to")
_SIGN_OFFS = ("regards|wishes|cheers|best|thanks|thank you|sincerely|yours|greetings|grüßen|grüße|groeten|saludos|"
              "cordialement|salutations|pozdrawiam|hälsningar|hilsen|terveisin")
_GREETINGS = "hi|hello|hey|dear|thanks|thank you|cheers|congrats|congratulations|bye"

# (pattern, side): the side of the cue, so that a candidate of several words that is not a name as
# a whole ("to what Smets" before "said") is tried again from the words next to the cue ("Smets")
PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"\b(?:the|a|an)[ \t]+(?P<n>{_NAMES})[ \t]+(?:{_EPONYM_NOUNS})\b", re.IGNORECASE), "after"),
    (re.compile(rf"\b(?:{_GROUP_NOUNS})\b[ \t]*(?:were|are|was|is|:|,|-|\u2013|include|included)?[ \t]*(?:[:\-\u2013][ \t]*)?"
                rf"(?P<list>{_NAMES}(?:[ \t]*[,;][ \t]*{_NAMES})+(?:,?[ \t]+(?:and|&)[ \t]+{_NAMES})?"
                rf"|{_NAMES}[ \t]+(?:and|&)[ \t]+{_NAMES})", re.IGNORECASE), "list"),
    (re.compile(rf"\b(?:{_ATTRIBUTION}|says|said)[ \t]+(?P<n>{_NAMES})", re.IGNORECASE), "before"),
    (re.compile(rf"\b(?P<n>{_NAMES}),?[ \t]+{_ADVERB}(?:{_SAYING})\b", re.IGNORECASE), "after"),
    (re.compile(rf"\b(?P<list>{_NAME}[ \t]+(?:and|&)[ \t]+{_NAME})[ \t]+{_ADVERB}(?:{_SAYING})\b", re.IGNORECASE),
     "list"),
    (re.compile(rf"^[ \t>]*(?P<n>{_NAME}):[ \t]*\\?[\"\u201c]", re.MULTILINE), "after"),
    (re.compile(rf"\b(?P<n>{_NAME})['\u2019]s[ \t]+(?:(?:new|old|own|late|last|first|latest)[ \t]+)?"
                rf"(?:{_PERSONAL_NOUNS})\b", re.IGNORECASE), "after"),
    (re.compile(rf"^[ \t]*(?:{_LABELS})[ \t]*:[ \t]*(?P<n>{_NAMES})[ \t]*(?=$|<|\||,)", re.IGNORECASE | re.MULTILINE),
     "before"),
    (re.compile(rf"(?:\b(?:{_SIGN_OFFS})|--|\u2014)[ \t]*[,!.]?[ \t]*\n[ \t]*(?P<n>{_NAMES})[ \t]*(?=$|\||,)",
                re.IGNORECASE | re.MULTILINE), "before"),
    # "hey all, Ute here" (not "Standing here, one faces...": only after a greeting)
    (re.compile(rf"\b(?:{_GREETINGS}|all|everyone|folks),?[ \t]+(?P<n>{_NAMES})[ \t]+here\b", re.IGNORECASE),
     "after"),
    (re.compile(rf"\b(?:{_GREETINGS})[ \t]+(?P<n>{_NAMES})[ \t]*[,!:]", re.IGNORECASE), "before"),
]
_LIST_SPLIT = re.compile(r"[ \t]*[,;][ \t]*(?:(?:and|&)[ \t]+)?|[ \t]+(?:and|&)[ \t]+", re.IGNORECASE)
# a delimited record (CSV, a form dump on one line): fields split by one separator, never followed by a
# space for a comma or a semicolon, as prose writes them
_RECORD_SEPS = (re.compile(r",(?!\s)"), re.compile(r";(?!\s)"), re.compile(r"\t"), re.compile(r"[ \t]*\|[ \t]*"))
_FIELD_NAME = re.compile(r"[\"']?(?P<n>[^\W\d_][\w'\u2019\-]*(?:[ \t][^\W\d_][\w'\u2019\-]*){0,3})[\"']?")
_IDENTIFIER = re.compile(r"@|\d{3}")  # a field of the record that holds contact data or a number
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
        for rx, side in PATTERNS:
            for m in rx.finditer(text):
                cased = _cased(text, m.start(), m.end())
                if side == "list":
                    out += self._list(text, m.start("list"), m.group("list"), cased)
                else:
                    span = self._name_at(text, m.start("n"), m.end("n"), side, cased)
                    out += [_result(*span)] if span else []
        return out + self._records(text)

    def _name_at(self, text: str, start: int, end: int, side: str, cased: bool) -> tuple[int, int] | None:
        """The longest run of the candidate's words next to the cue that is a name, as offsets ("lol
        Abha" before "told": "Abha"; "originally from Belize" after "I'm": none)."""
        words = list(re.finditer(r"\S+", text[start:end]))
        n = len(words)
        runs = [(0, j) for j in range(n, 0, -1)] if side == "before" else [(i, n) for i in range(n)]
        for i, j in runs:
            if i and words[i - 1].group().lower() in _DETERMINERS:  # "the Platemaker, said": a noun
                return None
            s, e = start + words[i].start(), start + words[j - 1].end()
            if self._is_name(text[s:e], cased):
                return s, e
        return None

    def _records(self, text: str) -> list[RecognizerResult]:
        """Name-shaped fields of delimited records that also hold contact data or a number
        (``Rebecca,Hill,199-36-0446``, ``"Ignác Staněk","Družná 7"``)."""
        out: list[RecognizerResult] = []
        pos = 0
        for line in text.split("\n"):
            for sep in _RECORD_SEPS:
                cuts = [0, *(x for m in sep.finditer(line) for x in (m.start(), m.end())), len(line)]
                fields = list(zip(cuts[::2], cuts[1::2], strict=True))
                if len(fields) < 3 or not any(_IDENTIFIER.search(line[a:b]) for a, b in fields):
                    continue
                for a, b in fields:
                    m = _FIELD_NAME.fullmatch(line[a:b].strip())
                    if m and self._is_name(m.group("n"), cased=True):
                        lead = a + len(line[a:b]) - len(line[a:b].lstrip()) + m.start("n")
                        out.append(_result(pos + lead, pos + lead + len(m.group("n"))))
                break
            pos += len(line) + 1
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


def _cased(text: str, start: int, end: int) -> bool:
    """Whether the lines of ``text[start:end]`` use capitals: a chat line in lower case among cased ones
    ("my name is britt sandvik") says nothing by case."""
    lo = text.rfind("\n", 0, start) + 1
    hi = text.find("\n", end)
    return any(c.isupper() for c in text[lo:hi if hi >= 0 else len(text)])


def _result(start: int, end: int) -> RecognizerResult:
    return RecognizerResult("PERSON", start, end, SCORE, recognition_metadata={
        RecognizerResult.RECOGNIZER_NAME_KEY: NAME, RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: NAME,
        RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY: True})
