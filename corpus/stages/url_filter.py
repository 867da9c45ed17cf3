"""``url_filter``: drop documents whose URL is on a blocklist (domains, URL words, URL substrings).

The URL comes from a metadata field (``field: url``, the input record's ``url`` key). Blocklists
are user-supplied files: YAML with ``domains``/``words``/``subwords`` lists (see
``rules/blocklists/example.yaml``), or plain text with one domain per line; the pipeline entry
can add entries inline. A host matches a listed domain or any subdomain of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from corpus import keys, rules, schema
from corpus.document import Document
from corpus.errors import UserError
from corpus.stages.base import Filter, register

_URL_WORDS = re.compile(r"[^\W_]+")


@dataclass
class Blocklist:
    """The keys of a YAML blocklist file (the schema, `corpus.schema`); a text file is ``domains`` only."""

    domains: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)
    subwords: list[str] = field(default_factory=list)


LIST_KEYS = tuple(schema.keys(Blocklist))  # the stage takes the same lists inline


@dataclass
class UrlFilterParams:
    blocklists: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)
    subwords: list[str] = field(default_factory=list)
    field: str = keys.URL
    missing: Literal["keep", "drop"] = "keep"  # what a document without a URL gets

    def check(self) -> None:
        if not (self.blocklists or self.domains or self.words or self.subwords):
            raise UserError("stage 'url_filter': give blocklists (files) or domains/words/subwords")
        for ref in self.blocklists:
            rules.resolve(ref)


def load_blocklist(ref: str) -> Blocklist:
    """A blocklist file: YAML with ``domains``/``words``/``subwords``, or text with a domain a line."""
    path = rules.resolve(ref)
    if path.suffix in (".yaml", ".yml"):
        return rules.load_as(Blocklist, ref, "blocklist")
    lines = path.read_text(encoding="utf-8").splitlines()
    return Blocklist(domains=[ln.split("#")[0].strip() for ln in lines if ln.split("#")[0].strip()])


def host_of(url: str) -> str:
    try:
        host = urlsplit(url if "//" in url else "//" + url).hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


@register
class UrlFilter(Filter):
    name = "url_filter"
    category = keys.SAFETY
    path_params = ("blocklists",)
    Params = UrlFilterParams
    doc = "Drop documents whose URL (metadata field) has a blocked domain, word or substring."

    def check(self) -> None:
        """Read every blocklist now: a mistake in one stops `validate` and the build before any task."""
        for ref in self.p.blocklists:
            load_blocklist(ref)

    def setup(self) -> None:
        p: UrlFilterParams = self.p
        lists = {k: {v.lower() for v in getattr(p, k)} for k in LIST_KEYS}
        for ref in p.blocklists:
            found = load_blocklist(ref)
            for key in LIST_KEYS:
                lists[key].update(v.lower() for v in getattr(found, key))
        self._domains = {d.removeprefix("www.").strip(".") for d in lists["domains"]}
        self._words = lists["words"]
        self._subwords = re.compile("|".join(map(re.escape, sorted(lists["subwords"])))) if lists["subwords"] else None

    def decide(self, doc: Document) -> str | None:
        url = doc.metadata.get(self.p.field)
        if not isinstance(url, str) or not url:
            return "url_missing" if self.p.missing == "drop" else None
        url = url.lower()
        host = host_of(url)
        parts = host.split(".")
        if any(".".join(parts[i:]) in self._domains for i in range(len(parts))):
            return "url_blocked_domain"
        if self._words and not self._words.isdisjoint(_URL_WORDS.findall(url)):
            return "url_blocked_word"
        if self._subwords is not None and self._subwords.search(url):
            return "url_blocked_subword"
        return None
