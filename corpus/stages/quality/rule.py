"""What the four rule stages share: per-language thresholds and word splitting (FineWeb-2 style).

A rule stage's parameters come from its ``rules/quality/<set>.yaml`` (the published defaults) and the
pipeline entry. For a document whose ``metadata.language`` has a file ``rules/quality/lang/<code>.yaml``
(``language_rules`` names the folder), that file's section for the stage replaces those values for
that language, and its ``words:`` keys replace those of the shipped English file (spaCy's English
tokenizer rules, which datatrove uses for every language). Documents without a language use
``default_language``. Resolution is lazy and cached per language, so a
pipeline pays for a language only when it meets one; but every file in the folder is checked before
the first task (`LanguageRule.check`), so a typo in one fails ``validate``, not a build halfway.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regex

from corpus import keys, rules, schema
from corpus.document import Document
from corpus.errors import UserError
from corpus.stages import base
from corpus.stages.base import Filter
from corpus.stages.quality import text

#: The words section every language starts from: datatrove splits every language with spaCy's English rules.
BASE_WORDS = "quality/lang/en.yaml"
WORDS = "words"  # the word-splitting section of a language file; the others are named by their stage


@dataclass
class WordRules:
    """The keys of a language file's ``words:`` section (the schema, `corpus.schema`): spaCy-style
    patterns, special cases and scripts written without spaces."""

    prefixes: str | None = None
    suffixes: str | None = None
    infixes: str | None = None
    url: str | None = None
    special_cases: dict[str, list[str]] = field(default_factory=dict)  # string -> the tokens that spell it
    unspaced_scripts: list[str] = field(default_factory=list)  # each character of these scripts is a word
    letters_stay_whole: bool = False


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
    sections = [WORDS, *_rule_stages()]
    for section in data:  # a misspelt section would leave the language on the default thresholds unnoticed
        if section not in sections:
            raise UserError(f"{folder}/{lang}.yaml: {schema.unknown_key(section, '', sections)}")
    return data


def language_codes(folder: str | None) -> list[str]:
    """The languages with a file in ``folder`` (a path, else under ``rules/``): those a stage could meet.
    A folder that is not there is the user's mistake, not a silent fallback to the default values."""
    if not folder:
        return []
    path = Path(folder) if Path(folder).is_dir() else rules.rules_dir() / folder
    if not path.is_dir():
        raise UserError(f"language_rules folder not found: {folder} (looked in {rules.rules_dir()})")
    return sorted(p.stem for p in path.glob("*.yaml"))


def _rule_stages() -> list[str]:
    """The stages a language file can hold a section for (`LanguageRule`s): this package's (its small
    modules imported, not every stage's, which takes seconds) and any other registered, such as a
    plugin's in the pipeline."""
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        importlib.import_module(f"{__package__}.{module.name}")
    return sorted(name for name, cls in base.REGISTRY.items() if issubclass(cls, LanguageRule))


def base_words() -> WordRules:
    """The shipped English ``words:`` section, which a language's own ``words:`` keys replace."""
    return _words_of(str(rules.resolve(BASE_WORDS)))


@functools.cache
def _words_of(path: str) -> WordRules:
    """A file's ``words:`` section, checked once per process (its 1,300 special cases take ~8 ms)."""
    return read_section(WordRules(), (rules.load(path) or {}).get(WORDS), WORDS, path)


def read_section(defaults: Any, section: Any, name: str, where: str) -> Any:
    """``defaults`` (a dataclass instance) with the keys of a rules file's ``section`` put in, checked by
    their annotations (`corpus.schema`); a mistake is one line naming the file ``where``."""
    try:
        return schema.replace(defaults, section, name)
    except UserError as e:
        raise UserError(f"{where}: {e}") from None


def word_splitter(words: WordRules, where: str) -> text.WordSplitter:
    """The splitter a ``words:`` section describes; a bad pattern or special case is the file's error."""
    specials = words.special_cases
    if not all("".join(v) == k for k, v in specials.items()):
        raise UserError(f"{where}: words.special_cases must map each string to the tokens that spell it")
    try:
        return text.splitter(words.prefixes or "", words.suffixes or "", words.infixes or "", words.url or "",
                             tuple(sorted((k, tuple(v)) for k, v in specials.items())),
                             tuple(words.unspaced_scripts), words.letters_stay_whole)
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

    def check(self) -> None:
        """Every language file the stage could meet, read and checked as `resolve` reads it, in the driver
        before any task; the instance's cache is left alone. The shipped 13 take ~0.08 s for the first
        rule stage and ~5 ms for each other (files, English words and splitters cached per process)."""
        for lang in language_codes(self.p.language_rules):
            self._for_language(lang)

    def resolve(self, lang: str) -> tuple[Any, text.WordSplitter]:
        cached = self._by_lang  # made by setup(), which the base class runs before any decide
        if lang not in cached:
            cached[lang] = self._for_language(lang)
        return cached[lang]

    def _for_language(self, lang: str) -> tuple[Any, text.WordSplitter]:
        """The parameters and splitter for ``lang``: its file's section for this stage and ``words:``."""
        data = language_file(self.p.language_rules, lang)
        where = f"{self.p.language_rules}/{lang}.yaml"
        params = read_section(self.p, data.get(self.name), self.name, where)
        return params, word_splitter(read_section(base_words(), data.get(WORDS), WORDS, where), where)

    def decide(self, doc: Document) -> str | None:
        lang = doc.metadata.get(keys.LANGUAGE) or self.p.default_language
        params, split = self.resolve(str(lang))
        return self.check_doc(doc, params, split)

    def check_doc(self, doc: Document, p: Any, split: text.WordSplitter) -> str | None:
        raise NotImplementedError
