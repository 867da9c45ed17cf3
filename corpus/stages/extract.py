"""``extract``: an HTML page's main text (Markdown or plain), with the page's own metadata.

The WARC reader (`corpus.io.warc`) hands on the decoded HTML; this stage replaces it by the main
content. Backends (docs/web.md, docs/benchmarks.md for the figures):

- ``trafilatura`` (default): the best quality measured on html-dev, about 60 pages per CPU-second;
- ``resiliparse``: about 12x faster, lower precision (menus and teasers stay in);
- ``auto``: Resiliparse first; Trafilatura's fast mode (no fallback extractors) again on the pages
  whose fast output looks like a menu rather than prose (a mean line length under
  ``auto_min_line_chars``); on the other pages, Resiliparse's lines of fewer than
  ``auto_min_line_words`` words that do not end a sentence (menu items, buttons, captions) are
  dropped. The rules and settings measured best on html-dev (rules/web/extract.yaml, docs/web.md).

Documents that are not HTML (JSONL, WET text, an earlier run's extracted text) pass unchanged. The
page's metadata is read with Resiliparse's parser for every backend: ``title``, ``html_lang``,
``canonical_url``, ``published`` (the first publication-date ``<meta>`` found), ``robots`` (the
directives of ``<meta name="robots">``, e.g. ``noai``, ``noimageai``, ``noindex``) and
``tdm_reservation`` (TDMRep's ``<meta name="tdm-reservation">``), so the ``rights`` stage finds them in
one place beside the reader's ``x_robots_tag``. An empty result is excluded as
``extract_empty``, a backend error as ``extract_failed``, a page over ``timeout_s`` as
``extract_timeout``.
"""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from resiliparse.parse.html import HTMLTree

from corpus import keys
from corpus.document import Document
from corpus.engine.context import StageContext
from corpus.errors import UserError
from corpus.io.warc import HTML_TYPES
from corpus.stages.base import Stage, register

BACKENDS = ("trafilatura", "resiliparse", "auto")
FORMATS = ("text", "markdown")
# <meta> names and properties that carry a publication date, in order of trust.
_DATE_META = ("article:published_time", "datepublished", "date", "dc.date.issued", "dc.date", "pubdate",
              "og:published_time", "publish-date")
_DATE_SELECTOR = ", ".join(f'meta[{attr}="{key}" i]' for key in _DATE_META for attr in ("name", "property", "itemprop"))
_ROBOTS_SPLIT = re.compile(r"[\s,]+")
_SENTENCE_END = tuple('.!?:;"\u00bb\u201c\u201d)\u2026')  # a line ending so is prose, however short


class ExtractTimeout(Exception):
    """A page took longer than ``timeout_s``."""


@dataclass
class ExtractParams:
    timeout_s: float  # per document; 0: no limit (rules/web/extract.yaml)
    auto_min_line_chars: float  # auto: a fast output whose lines average fewer chars is redone
    auto_min_line_words: int  # auto: kept fast output drops shorter lines that do not end a sentence
    auto_fast_trafilatura: bool  # auto: the redo uses Trafilatura's fast mode (no fallback extractors)
    backend: str = "trafilatura"
    format: str = "text"  # text | markdown (markdown: trafilatura only)
    favor_precision: bool = True  # trafilatura's setting the html-dev figures use

    def check(self) -> None:
        if self.backend not in BACKENDS:
            raise UserError(f"stage 'extract': backend must be one of {', '.join(BACKENDS)}, not {self.backend!r}")
        if self.format not in FORMATS:
            raise UserError(f"stage 'extract': format must be text or markdown, not {self.format!r}")
        if self.format == "markdown" and self.backend != "trafilatura":
            raise UserError("stage 'extract': format markdown needs backend trafilatura (Resiliparse writes plain text)")
        if self.timeout_s < 0:
            raise UserError(f"stage 'extract': timeout_s must be 0 (no limit) or more, not {self.timeout_s}")


def is_html(doc: Document) -> bool:
    """Whether ``doc`` is a page still to extract: HTML by its crawl content type, not yet extracted."""
    return doc.metadata.get(keys.CONTENT_TYPE) in HTML_TYPES and keys.EXTRACTOR not in doc.metadata


def page_metadata(tree: HTMLTree) -> dict[str, Any]:
    """Title, ``<html lang>``, canonical URL, publication date and robots directives of a parsed page.

    Each is one CSS query with an attribute selector: reading every ``<meta>``'s attributes from Python
    costs more than the extraction itself (measured on html-dev)."""
    out: dict[str, Any] = {}
    doc = tree.document
    if tree.title:
        out[keys.TITLE] = tree.title.strip()
    root = doc.query_selector("html")
    if root is not None and root.getattr("lang"):
        out[keys.HTML_LANG] = root.getattr("lang").strip()
    link = doc.query_selector('link[rel="canonical" i]')
    if link is not None and link.getattr("href"):
        out[keys.CANONICAL_URL] = link.getattr("href").strip()
    dates = {}
    for meta in doc.query_selector_all(_DATE_SELECTOR):
        key = (meta.getattr("name") or meta.getattr("property") or meta.getattr("itemprop") or "").lower()
        if meta.getattr("content"):
            dates.setdefault(key, meta.getattr("content").strip())
    published = next((dates[k] for k in _DATE_META if k in dates), None)
    if published:
        out[keys.PUBLISHED] = published
    robots = [d for meta in doc.query_selector_all('meta[name="robots" i]')
              for d in _ROBOTS_SPLIT.split((meta.getattr("content") or "").lower()) if d]
    if robots:
        out[keys.ROBOTS_META] = list(dict.fromkeys(robots))
    tdm = doc.query_selector('meta[name="tdm-reservation" i]')
    if tdm is not None and tdm.getattr("content"):
        out[keys.TDM_RESERVATION] = tdm.getattr("content").strip()
    return out


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise `ExtractTimeout` in the block after ``seconds`` (a SIGALRM timer: only in a process's main
    thread, where the executors run stages; elsewhere, or with 0, there is no limit)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum: int, frame: object) -> None:
        raise ExtractTimeout()

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def resiliparse_text(tree: HTMLTree) -> str:
    """Resiliparse's main content, without alt texts, link targets, form fields, list bullets or
    comment sections (measured: fewer menu fragments and comment forms, same recall)."""
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(tree, main_content=True, alt_texts=False, links=False, form_fields=False,
                              noscript=False, list_bullets=False, comments=False)


def drop_fragments(text: str, min_words: int) -> str:
    """``text`` without its lines of fewer than ``min_words`` words that do not end like a sentence:
    what Resiliparse keeps of menus, buttons and teaser titles (``auto``'s precision step)."""
    return "\n".join(line for line in text.split("\n")
                     if len(line.split()) >= min_words or line.rstrip().endswith(_SENTENCE_END))


def looks_poor(text: str, min_line_chars: float) -> bool:
    """The ``auto`` rule: short lines on average mean navigation, teasers and link lists."""
    lines = [line for line in text.split("\n") if line.strip()]
    return not lines or len(text) / len(lines) < min_line_chars


@register
class Extract(Stage):
    name = "extract"
    category = keys.EXTRACT
    Params = ExtractParams
    rules = "web/extract.yaml"
    doc = "HTML pages (WARC responses) to their main text, Markdown or plain, with title, language, robots meta."

    def setup(self) -> None:
        """Import Trafilatura once per worker, before any page: its import (about a second) must not
        count against the first page's time limit."""
        if self.p.backend != "resiliparse":
            import trafilatura

            self._trafilatura = trafilatura

    def trafilatura_text(self, html: str, url: str | None, fast: bool = False) -> str:
        p: ExtractParams = self.p
        return self._trafilatura.extract(html, url=url, favor_precision=p.favor_precision, include_comments=False,
                                         fast=fast, output_format="markdown" if p.format == "markdown" else "txt") or ""

    def main_text(self, html: str, tree: HTMLTree, url: str | None) -> tuple[str, str]:
        """``(text, backend used)``."""
        p: ExtractParams = self.p
        if p.backend == "trafilatura":
            return self.trafilatura_text(html, url), "trafilatura"
        text = resiliparse_text(tree)
        if p.backend == "resiliparse":
            return text, "resiliparse"
        if looks_poor(text, p.auto_min_line_chars):
            return self.trafilatura_text(html, url, fast=p.auto_fast_trafilatura), "trafilatura"
        return drop_fragments(text, p.auto_min_line_words), "resiliparse"

    def process(self, docs: Iterable[Document], ctx: StageContext) -> Iterator[Document]:
        return self.route(self._extract(docs, ctx), ctx)

    def _extract(self, docs: Iterable[Document], ctx: StageContext) -> Iterator[tuple[Document, str | None]]:
        for doc in docs:
            if not is_html(doc):
                ctx.count("not_html_passed")
                yield doc, None
                continue
            try:
                with time_limit(self.p.timeout_s):
                    tree = HTMLTree.parse(doc.text)
                    doc.metadata.update(page_metadata(tree))
                    text, used = self.main_text(doc.text, tree, doc.metadata.get(keys.URL))
            except ExtractTimeout:
                yield doc, "extract_timeout"
                continue
            except Exception as e:  # noqa: BLE001 - a backend failing on one page costs that page only
                doc.metadata[keys.EXTRACT_ERROR] = f"{type(e).__name__}: {e}"[:200]
                yield doc, "extract_failed"
                continue
            doc.metadata[keys.EXTRACTOR] = used
            ctx.count(f"backend_{used}")
            if not text.strip():
                yield doc, "extract_empty"
                continue
            doc.text = text
            yield doc, None
