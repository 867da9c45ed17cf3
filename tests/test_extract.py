"""The ``extract`` stage (issue 20): main text from HTML with each backend, the page's metadata
(title, language, canonical URL, publication date, robots meta), reason codes, and a build from a
self-made WARC where the robots meta tag and the X-Robots-Tag header both reach the kept document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import read_docs, thresher, write_pipeline
from warc_fixtures import Warc, article

from corpus.document import Document
from corpus.engine.ledger import StageStats
from corpus.errors import UserError
from corpus.stages import base
from corpus.stages.extract import main_run
from corpus.stages.testing import run_stage

URL = "https://example.org/news/bridge"
HEAD = ('<meta name="robots" content="noai, noimageai"><meta name="ROBOTS" content="noindex">'
        '<meta property="article:published_time" content="2024-11-05T09:00:00Z">')


def page(**kw) -> Document:
    html = article("Bridge repairs", URL, lang="de-CH", extra_head=HEAD, **kw)
    return Document("p1", html, "crawl.warc.gz", {"url": URL, "content_type": "text/html"})


def extract(spec: dict, docs: list[Document]) -> tuple[list[Document], StageStats, list[Document]]:
    """Run the stage over ``docs`` in this process; ``(kept, stats, excluded)``."""
    out = run_stage({"stage": "extract", **spec}, docs)
    return out.kept, out.stats, [doc for doc, _ in out.excluded]


@pytest.mark.parametrize("backend", ["trafilatura", "resiliparse", "auto"])
def test_each_backend_keeps_the_article_and_the_page_metadata(backend: str) -> None:
    [doc], stats, _ = extract({"backend": backend}, [page()])
    assert doc.text.count("the river Elbe rose slowly") == 4
    assert "<p>" not in doc.text and "Subscribe to our newsletter" not in doc.text
    m = doc.metadata
    assert m["title"] == "Bridge repairs" and m["html_lang"] == "de-CH" and m["canonical_url"] == URL
    assert m["published"] == "2024-11-05T09:00:00Z"
    assert m["robots"] == ["noai", "noimageai", "noindex"]
    assert m["extractor"] in ("trafilatura", "resiliparse") and stats.extra[f"backend_{m['extractor']}"] == 1


def test_auto_redoes_a_menu_like_page_with_trafilatura() -> None:
    """A page of short lines (the auto rule's sign of navigation) goes to Trafilatura; prose stays fast."""
    menu = "".join(f"<li><a href='/t{i}'>Topic {i}</a></li>" for i in range(60))
    short = Document("m", f"<html><body><ul>{menu}</ul><p>{'A short notice. ' * 3}</p></body></html>", "s",
                     {"content_type": "text/html"})
    long_lines = page(paragraphs=8)
    _, stats, _ = extract({"backend": "auto"}, [short, long_lines])
    assert stats.extra["backend_resiliparse"] == 1 and stats.extra["backend_trafilatura"] == 1


def test_markdown_keeps_headings() -> None:
    html = ("<html><body><article><h2>Repairs</h2>" + "<p>The river Elbe rose slowly through the night while the "
            "council met.</p>" * 4 + "<h2>Costs</h2><p>The repair will cost a great deal of money, the council "
            "said on Tuesday evening after a long meeting.</p></article></body></html>")
    doc = Document("m", html, "s", {"content_type": "text/html"})
    [out], _, _ = extract({"format": "markdown"}, [doc])
    assert "## Repairs" in out.text and "## Costs" in out.text


def test_empty_timeout_and_passing_documents() -> None:
    empty = Document("e", "<html><head><title>Nothing</title></head><body></body></html>", "s",
                     {"content_type": "text/html"})
    plain = Document("t", "Already text, from a JSONL file.", "s", {})
    kept, stats, excluded = extract({}, [empty, plain])
    assert [d.id for d in kept] == ["t"] and kept[0].text == "Already text, from a JSONL file."
    assert stats.removed == {"extract_empty": 1} and excluded[0].metadata["title"] == "Nothing"
    assert stats.extra["not_html_passed"] == 1
    # a limit no page can meet: the timer fires inside the extraction
    kept, stats, _ = extract({"timeout_s": 1e-6}, [page(paragraphs=200)])
    assert kept == [] and stats.removed == {"extract_timeout": 1}
    # an extracted document is not extracted again (a chained run)
    [once], _, _ = extract({}, [page()])
    [twice], _, _ = extract({}, [once])
    assert twice.text == once.text


def test_page_metadata_is_read_anywhere_in_the_page() -> None:
    """Robots and TDM reservations placed in the body count like those in the head; the first canonical
    link and the first TDM tag decide even when empty; the most trusted date key wins whatever its
    place; a date key counts only as the tag's first attribute of name, property and itemprop."""
    head = ('<link rel="CANONICAL"><link rel="canonical" href="/second">'
            '<meta name="date" content="2001-01-01"><meta name="author" property="pubdate" content="1999-09-09">')
    body = ('<meta name="Robots" content="NoAI noindex"><meta name="tdm-reservation" content=" 1 ">'
            '<meta name="tdm-reservation" content="0"><meta itemprop="datePublished" content=" 2020-02-02 ">'
            '<meta name="robots" content="noai, noimageai">')
    html = f"<html lang='fr'><head><title>T</title>{head}</head><body><p>{'Words of prose here. ' * 20}</p>{body}</body></html>"
    [doc], _, _ = extract({"backend": "resiliparse"}, [Document("b", html, "s", {"content_type": "text/html"})])
    m = doc.metadata
    assert m["robots"] == ["noai", "noindex", "noimageai"] and m["tdm_reservation"] == "1"
    assert m["published"] == "2020-02-02" and m["html_lang"] == "fr" and "canonical_url" not in m


@pytest.mark.parametrize("spec", [{"backend": "readability"}, {"format": "html"},
                                  {"backend": "resiliparse", "format": "markdown"}, {"timeout_s": -1}])
def test_settings_are_checked(spec: dict) -> None:
    with pytest.raises(UserError, match="stage 'extract'"):
        base.build({"stage": "extract", **spec})


def test_robots_meta_and_x_robots_tag_reach_the_kept_document(tmp_path: Path) -> None:
    w = Warc(gzip=True)
    w.response(URL, article("Bridge repairs", URL, extra_head=HEAD).encode(), headers=[("X-Robots-Tag", "noai")])
    w.response("https://example.org/plain", article("Plain", "https://example.org/plain").encode())
    w.save(tmp_path / "crawl.warc.gz")
    p = write_pipeline(tmp_path / "p.yaml", name="web", input={"paths": ["crawl.warc.gz"]}, output="out",
                       workers=1, stages=[{"stage": "extract", "backend": "auto"}])
    r = thresher("build", str(p), "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    docs = {d["metadata"]["url"]: d["metadata"] for d in read_docs(tmp_path / "out")}
    assert docs[URL]["x_robots_tag"] == "noai" and docs[URL]["robots"] == ["noai", "noimageai", "noindex"]
    assert "robots" not in docs["https://example.org/plain"]
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["invariant"]["holds"] and stats["skipped"] == {"warcinfo": 1}


def test_auto_keeps_the_main_run_of_blocks() -> None:
    """On a prose page kept from Resiliparse, ``auto`` keeps the article's run of blocks: the author
    box after it, a link list and a button inside it are dropped, a short sentence inside it stays;
    the ``resiliparse`` backend keeps them all."""
    prose = [f"<p>Paragraph {n}: the river Elbe rose slowly through the night while the council of the town "
             f"met to discuss the repairs of the old stone bridge and its costs. The mayor said the work would "
             f"take a year.</p>" for n in range(6)]
    related = "<p>" + " ".join(f"<a href='/r{k}'>Other bridges in the region, part {k}</a>" for k in range(3)) + "</p>"
    html = ("<html><body><article><h1>Bridge repairs</h1>" + "".join(prose[:3]) + "<p>Rain is due.</p>"
            + "<div>Share this story</div>" + related + "".join(prose[3:]) + "</article>"
            "<div class='author'><h3>About the author</h3><p>Jane Doe writes about rivers for the paper.</p></div>"
            "</body></html>")

    def doc() -> Document:
        return Document("a", html, "s", {"content_type": "text/html"})
    [fast], _, _ = extract({"backend": "resiliparse"}, [doc()])
    [auto], stats, _ = extract({"backend": "auto"}, [doc()])
    assert stats.extra["backend_resiliparse"] == 1
    for boilerplate in ("Share this story", "Other bridges in the region", "About the author", "Jane Doe writes"):
        assert boilerplate in fast.text and boilerplate not in auto.text, boilerplate
    assert "Rain is due." in auto.text and auto.text.count("the river Elbe rose slowly") == 6


def test_auto_keeps_a_code_listing_and_the_prose_on_both_sides() -> None:
    """A ``<pre>`` listing is one block: its short lines neither cut the article's run in two nor go."""
    prose = "".join(f"<p>Step {n}: create a virtual environment for the project, install the packages it needs "
                    f"from the lock file, and run the tests before you change anything at all.</p>" for n in range(3))
    code = "<pre>" + "\n".join(f"pip install pkg{k}" for k in range(20)) + "</pre>"
    html = f"<html><body><article><h1>Python environments</h1>{prose}{code}{prose.replace('Step', 'Then')}</article></body></html>"
    [auto], stats, _ = extract({"backend": "auto"}, [Document("c", html, "s", {"content_type": "text/html"})])
    assert stats.extra["backend_resiliparse"] == 1
    assert auto.text.count("create a virtual environment") == 6
    assert "pip install pkg0\npip install pkg1\n" in auto.text and "pip install pkg19" in auto.text


def test_main_run_is_the_densest_contiguous_stretch() -> None:
    """Blocks score their words beyond ``run_words``, a mostly-link block all its words against."""
    blocks = [("Home News Sport", 1.0), ("Sign up for our newsletter today", 0.0), ("word " * 30, 0.0),
              ("Short line", 0.0), ("word " * 20, 0.0), ("Related: five other stories you may like", 0.9),
              ("Jane Doe writes about rivers", 0.0)]
    assert main_run(blocks, run_words=8, max_link_share=0.5) == blocks[2:5]
    assert main_run([("Menu", 0.0)], run_words=8, max_link_share=0.5) == []
