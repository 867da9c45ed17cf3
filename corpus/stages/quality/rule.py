"""What the four rule stages share: per-language thresholds and word splitting (FineWeb-2 style).

A rule stage's parameters come from its ``rules/quality/<set>.yaml`` (the published defaults) and the
pipeline entry. For a document whose ``metadata.language`` has a file ``rules/quality/lang/<code>.yaml``
(``language_rules`` names the folder), that file's section for the stage replaces those values for
that language, and its ``words:`` keys replace those of the shipped English file (spaCy's English
tokenizer rules, which datatrove uses for every language). Documents without a language use
``default_language``. Resolution is lazy and cached per language, so a
pipeline pays for a language only when it meets one.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import regex

from corpus import keys, rules
from corpus.document import Document
from corpus.errors import UserError
from corpus.stages.base import Filter
from corpus.stages.quality import text

WORD_KEYS = ("prefixes", "suffixes", "infixes", "url", "special_cases", "unspaced_scripts", "letters_stay_whole")
#: The words section every language starts from: datatrove splits every language with spaCy's English rules.
BASE_WORDS = "quality/lang/en.yaml"


def language_file(folder: str | None, lang: str) -> dict[str, Any]:
    """The override file for ``lang`` in ``folder`` (under ``rules/`` or a path), or ``{}`` if none."""
    if not folder or not lang:
        return {}
    try:
        path = rules.resolve(f"{folder}/{lang}.yaml")
    except UserError:  # no file for this language: the stage's own values apply
        return {}
    data = rules.load(path)
    if not isinstance(data, dict):
        raise UserError(f"{folder}/{lang}.yaml: expected a mapping of sections")
    return data


def base_words() -> dict[str, Any]:
    return (rules.load(BASE_WORDS) or {}).get("words") or {}


def word_splitter(words: dict[str, Any], where: str) -> text.WordSplitter:
    """The splitter a ``words:`` section describes; a bad pattern or special case is the file's error."""
    specials = words.get("special_cases") or {}
    if not isinstance(specials, dict) or not all(
            isinstance(v, list) and "".join(map(str, v)) == k for k, v in specials.items()):
        raise UserError(f"{where}: words.special_cases must map each string to the tokens that spell it")
    try:
        return text.splitter(*(str(words.get(k) or "") for k in WORD_KEYS[:4]),
                             tuple(sorted((k, tuple(v)) for k, v in specials.items())),
                             tuple(words.get("unspaced_scripts") or ()), bool(words.get("letters_stay_whole")))
    except (re.error, regex.error) as e:
        raise UserError(f"{where}: bad pattern under 'words': {e}") from None


class LanguageRule(Filter):
    """A `Filter` whose thresholds and word splitting depend on the document's language.

    Subclasses' ``Params`` carry ``language_rules`` and ``default_language``; they implement
    ``check_doc(doc, params, split)`` and get the parameters and splitter for the document's language.
    """

    def setup(self) -> None:
        """Resolve the default language now: a bad rules file fails before the first document, and
        loading and compiling the word rules (a tenth of a second) is not paid inside the stream."""
        self._by_lang: dict[str, tuple[Any, text.WordSplitter]] = {}
        self.resolve(self.p.default_language)

    def resolve(self, lang: str) -> tuple[Any, text.WordSplitter]:
        cached = self._by_lang  # made by setup(), which the base class runs before any decide
        if lang in cached:
            return cached[lang]
        data = language_file(self.p.language_rules, lang)
        overrides = data.get(self.name) or {}
        fields = {f.name for f in dataclasses.fields(self.p)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise UserError(f"{self.p.language_rules}/{lang}.yaml: unknown key {unknown[0]!r} under {self.name!r}")
        params = dataclasses.replace(self.p, **overrides) if overrides else self.p
        words = data.get("words") or {}
        bad = sorted(set(words) - set(WORD_KEYS))
        if bad:
            raise UserError(f"{self.p.language_rules}/{lang}.yaml: unknown key {bad[0]!r} under 'words'")
        split = word_splitter({**base_words(), **words}, f"{self.p.language_rules}/{lang}.yaml")
        cached[lang] = (params, split)
        return params, split

    def decide(self, doc: Document) -> str | None:
        lang = doc.metadata.get(keys.LANGUAGE) or self.p.default_language
        params, split = self.resolve(str(lang))
        return self.check_doc(doc, params, split)

    def check_doc(self, doc: Document, p: Any, split: text.WordSplitter) -> str | None:
        raise NotImplementedError
