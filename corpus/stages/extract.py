"""``extract``: an HTML page's main text (Markdown or plain), with the page's own metadata.

The WARC reader (`corpus.io.warc`) hands on the decoded HTML; this stage replaces it by the main
content. Backends (docs/web.md, docs/benchmarks.md for the figures):

- ``trafilatura`` (default): the best quality measured on html-dev, about 60 pages per CPU-second;
- ``resiliparse``: about 12x faster, lower precision (menus and teasers stay in);
- ``auto``: Resiliparse first; Trafilatura's fast mode (no fallback extractors) again on the pages
  whose fast output looks like a menu rather than prose (a mean line length under
  ``auto_min_line_chars``). On the other pages only the main run of Resiliparse's blocks is kept
  (`main_run`: the contiguous blocks of most words beyond ``auto_run_words`` each, as in Finn et
  al.'s Body Text Extraction; author boxes, newsletter calls and teasers before or after the article
  fall outside it), and inside it blocks mostly made of link text (``auto_max_link_share``) and
  lines of fewer than ``auto_min_line_words`` words that do not end a sentence (menu items, buttons,
  captions) are dropped. The rules and settings measured best on html-dev (rules/web/extract.yaml,
  docs/benchmarks.md).

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
from html import unescape
from typing import Any

from resiliparse.parse.html import HTMLTree

from corpus import keys
from corpus.document import Document
from corpus.errors import UserError
from corpus.io.warc import HTML_TYPES
from corpus.stages.base import Stage, register
from corpus.stages.context import StageContext

BACKENDS = ("trafilatura", "resiliparse", "auto")
FORMATS = ("text", "markdown")
# <meta> names and properties that carry a publication date, in order of trust.
_DATE_META = ("article:published_time", "datepublished", "date", "dc.date.issued", "dc.date", "pubdate",
              "og:published_time", "publish-date")
_DATE_ATTRS = ("name", "property", "itemprop")
_ROBOTS, _TDM = "robots", "tdm-reservation"
# Every element `page_metadata` reads, anywhere in the page (a robots or TDM ``<meta>`` may sit in the
# body): one walk of the document. ``meta:is(...)`` tests the tag once per element and the attributes
# only on ``<meta>``s; a flat list of 26 ``meta[...]`` selectors costs one tag test per selector and
# element (measured on html-dev: the query 0.14 ms a page against 0.25 ms; `page_metadata` 0.20 ms, with
# the four whole-page queries of before 0.35 ms).
_META_SELECTOR = ('link[rel="canonical" i], meta:is(' + ", ".join(
    [f'[name="{_ROBOTS}" i]', f'[name="{_TDM}" i]', *(f'[{a}="{k}" i]' for k in _DATE_META for a in _DATE_ATTRS)]) + ")")
_ROBOTS_SPLIT = re.compile(r"[\s,]+")
_SENTENCE_END = tuple('.!?:;"\u00bb\u201c\u201d)\u2026')  # a line ending so is prose, however short
_TAG = re.compile(r"<[^>]*>")
_LINK = re.compile(r"<a\b[^>]*>(.*?)</a>", re.S)
# Resiliparse's settings for both backends that use it (`resiliparse_text`, `resiliparse_blocks`)
_RESILIPARSE = {"main_content": True, "alt_texts": False, "form_fields": False, "noscript": False,
                "list_bullets": False, "comments": False}


class ExtractTimeout(Exception):
    """A page took longer than ``timeout_s``."""


@dataclass
class ExtractParams:
    timeout_s: float  # per document; 0: no limit (rules/web/extract.yaml)
    auto_min_line_chars: float  # auto: a fast output whose lines average fewer chars is redone
    auto_min_line_words: int  # auto: kept fast output drops shorter lines that do not end a sentence
    auto_run_words: int  # auto: a block adds its words minus this to the main run's score
    auto_max_link_share: float  # auto: a block with this share of its characters in links is boilerplate
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

    One CSS query finds the few elements that carry them (`_META_SELECTOR`); each is then sorted by
    its attributes in document order: the first canonical ``<link>`` and the first TDM ``<meta>``
    count, every robots ``<meta>`` adds its directives, and of the date ``<meta>``s the most trusted
    key wins (`_DATE_META`). Reading every ``<meta>``'s attributes from Python instead costs more than
    the extraction itself (measured on html-dev)."""
    out: dict[str, Any] = {}
    doc = tree.document
    if tree.title:
        out[keys.TITLE] = tree.title.strip()
    root = doc.query_selector("html")
    if root is not None and root.getattr("lang"):
        out[keys.HTML_LANG] = root.getattr("lang").strip()
    canonical = tdm = None
    dates: dict[str, str] = {}
    robots: list[str] = []
    for node in doc.query_selector_all(_META_SELECTOR):
        if node.tag == "link":
            canonical = node if canonical is None else canonical
            continue
        name = (node.getattr("name") or "").lower()
        content = node.getattr("content")
        if name == _ROBOTS:
            robots += [d for d in _ROBOTS_SPLIT.split((content or "").lower()) if d]
        elif name == _TDM:
            tdm = node if tdm is None else tdm
        values = [node.getattr(a) for a in _DATE_ATTRS]
        if content and any(v and v.lower() in _DATE_META for v in values):
            dates.setdefault(next((v for v in values if v), "").lower(), content.strip())
    if canonical is not None and canonical.getattr("href"):
        out[keys.CANONICAL_URL] = canonical.getattr("href").strip()
    published = next((dates[k] for k in _DATE_META if k in dates), None)
    if published:
        out[keys.PUBLISHED] = published
    if robots:
        out[keys.ROBOTS_META] = list(dict.fromkeys(robots))
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

    return extract_plain_text(tree, links=False, **_RESILIPARSE)


def resiliparse_blocks(tree: HTMLTree) -> list[tuple[str, float]]:
    """Resiliparse's main content (the settings of `resiliparse_text`) as its lines, each with the
    share of its characters inside links: the same extraction asked for as minimal HTML with links,
    the one cheap way to see link text (reading each ``<a>`` from Python costs more than Trafilatura).
    A ``<pre>`` element (a code listing) is one block, its lines kept: each of its short lines on its
    own would count against the run and could cut an article in two."""
    from resiliparse.extract.html2text import extract_plain_text

    marked = extract_plain_text(tree, preserve_formatting="minimal_html", links=True, **_RESILIPARSE)
    blocks = []
    lines = iter(marked.split("\n"))
    for raw in lines:
        if "<pre" in raw:
            while "</pre>" not in raw:
                raw += "\n" + next(lines, "</pre>")
        text = unescape(_TAG.sub("", raw)).strip()
        if text:
            linked = sum(len(unescape(_TAG.sub("", a)).strip()) for a in _LINK.findall(raw)) if "<a" in raw else 0
            blocks.append((text, linked / len(text)))
    return blocks


def main_run(blocks: list[tuple[str, float]], run_words: int, max_link_share: float) -> list[tuple[str, float]]:
    """The contiguous blocks whose words beyond ``run_words`` each sum highest (a mostly-link block
    counts all its words against): the article, without what precedes and follows it."""
    best = score = 0
    start = best_start = 0
    best_end = -1
    for i, (text, link_share) in enumerate(blocks):
        words = len(text.split())
        value = -words if link_share >= max_link_share else words - run_words
        if score <= 0:
            score, start = value, i
        else:
            score += value
        if score > best:
            best, best_start, best_end = score, start, i
    return blocks[best_start:best_end + 1]


def is_prose(line: str, min_words: int) -> bool:
    """A line of ``min_words`` words or more, or one that ends like a sentence: not a menu item,
    button or teaser title (``auto``'s precision step)."""
    return len(line.split()) >= min_words or line.rstrip().endswith(_SENTENCE_END)


def looks_poor(blocks: list[tuple[str, float]], min_line_chars: float) -> bool:
    """The ``auto`` rule: short blocks (lines) on average mean navigation, teasers and link lists."""
    return not blocks or sum(len(text) for text, _ in blocks) / len(blocks) < min_line_chars


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
        if p.backend == "resiliparse":
            return resiliparse_text(tree), "resiliparse"
        blocks = resiliparse_blocks(tree)
        if looks_poor(blocks, p.auto_min_line_chars):
            return self.trafilatura_text(html, url, fast=p.auto_fast_trafilatura), "trafilatura"
        return "\n".join(text for text, link_share in main_run(blocks, p.auto_run_words, p.auto_max_link_share)
                         if link_share < p.auto_max_link_share and is_prose(text, p.auto_min_line_words)), "resiliparse"

    def extract_page(self, html: str, url: str | None, metadata: dict[str, Any]) -> tuple[str, str]:
        """One page, the engine aside (the benchmark times this): the page's own metadata goes into
        ``metadata`` first, so that a page whose extraction then fails keeps it; ``(text, backend used)``."""
        tree = HTMLTree.parse(html)
        metadata.update(page_metadata(tree))
        return self.main_text(html, tree, url)

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
                    text, used = self.extract_page(doc.text, doc.metadata.get(keys.URL), doc.metadata)
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
