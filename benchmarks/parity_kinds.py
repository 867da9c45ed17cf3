"""Rule parity with datatrove 0.10.1 per kind of real web text (issue 15): the four rule sets, each alone
with its defaults, on the same text, per kind of extraction.

    .venv/bin/python benchmarks/parity_kinds.py DATA_DIR OUT_DIR [--kinds md_traf h_crlf ...]

DATA_DIR is a folder laid out as the project's development data (``html-dev/pages.warc.gz`` with
``html-dev/snippets.jsonl``, ``sft-dev/``, ``pii-dev/``, ``langid-dev/``). From the WARC's pages it
builds Markdown from HTML extractors (trafilatura's Markdown output with formatting, links, tables;
html2text and markdownify when installed), whole-page text (resiliparse with ``main_content=False``,
lxml's and BeautifulSoup's text of the whole page, menus and tables included), main text, the
extraction ground truth, windows of lines cut from those pages, the other data as documents, and the
same pages in hostile but real shapes (CRLF, no-break and other spaces, zero-width characters, tabs,
HTML entities, curly quotes, bullets, ellipses, symbol lines, emoji, numbers, URLs and tags, Markdown
markup). Each kind is written to ``OUT_DIR/<kind>.jsonl``, datatrove's decisions (as
``datatrove_oracle.py`` writes them, for ``thresher quality diff``) to ``OUT_DIR/datatrove/<kind>.jsonl``,
kept for the next run; prints the share of equal decisions per kind and rule set, and each differing
document. datatrove (and spaCy) must be importable, as in the project's test environment.
"""

from __future__ import annotations

import argparse
import html
import importlib.util
import json
import random
import re
import sys
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

from corpus.document import Document
from corpus.stages import base

RULES = {"gopher_repetition": "GopherRepetitionFilter", "gopher_quality": "GopherQualityFilter",
         "c4": "C4QualityFilter", "fineweb": "FineWebQualityFilter"}
Docs = list[tuple[str, str]]


def pages(warc: Path) -> list[tuple[str, str]]:
    """(URL, decoded HTML) of every response record."""
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding
    from warcio.archiveiterator import ArchiveIterator

    out = []
    with open(warc, "rb") as f:
        for rec in ArchiveIterator(f):
            if rec.rec_type == "response":
                body = rec.content_stream().read()
                out.append((rec.rec_headers.get_header("WARC-Target-URI"), bytes_to_str(body, detect_encoding(body))))
    return out


def extracted(html_pages: list[tuple[str, str]]) -> Iterator[tuple[str, Docs]]:
    """(kind, documents) for each extractor setting that is installed."""
    import lxml.html
    import trafilatura
    from resiliparse.extract.html2text import extract_plain_text

    markdown = {"md_traf": {}, "md_traf_links": dict(include_formatting=True, include_links=True, include_images=True),
                "md_traf_recall": dict(include_formatting=True, include_links=True, favor_recall=True,
                                       include_comments=True)}
    for kind, kw in markdown.items():
        yield kind, [(u, trafilatura.extract(h, url=u, output_format="markdown", **kw)) for u, h in html_pages]
    yield "txt_traf_notables", [(u, trafilatura.extract(h, url=u, include_tables=False)) for u, h in html_pages]
    yield "resil_full", [(u, extract_plain_text(h, main_content=False)) for u, h in html_pages]
    yield "resil_full_nofmt", [(u, extract_plain_text(h, main_content=False, preserve_formatting=False))
                               for u, h in html_pages]
    yield "resil_full_links", [(u, extract_plain_text(h, main_content=False, links=True, noscript=True))
                               for u, h in html_pages]
    yield "resil_main", [(u, extract_plain_text(h, main_content=True, alt_texts=False)) for u, h in html_pages]
    yield "lxml_text", [(u, lxml.html.fromstring(h.encode()).text_content()) for u, h in html_pages if h.strip()]
    if importlib.util.find_spec("bs4"):
        from bs4 import BeautifulSoup

        soups = [(u, BeautifulSoup(h, "lxml")) for u, h in html_pages]
        yield "bs4_text", [(u, s.get_text()) for u, s in soups]
        yield "bs4_lines", [(u, s.get_text("\n", strip=True)) for u, s in soups]
    if importlib.util.find_spec("html2text"):
        import html2text

        wide, wrapped = html2text.HTML2Text(), html2text.HTML2Text()
        wide.body_width = 0
        yield "md_html2text", [(u, wide.handle(h)) for u, h in html_pages]
        yield "md_html2text_wrap", [(u, wrapped.handle(h)) for u, h in html_pages]
    if importlib.util.find_spec("markdownify"):
        import markdownify

        yield "md_markdownify", [(u, markdownify.markdownify(h, strip=["script", "style"], heading_style="ATX"))
                                 for u, h in html_pages]


def other(data: Path, rng: random.Random) -> Iterator[tuple[str, Docs]]:
    """The extraction ground truth, instructions, PII texts and sentences of 75 languages as documents."""
    rows = [json.loads(line) for line in open(data / "html-dev/snippets.jsonl", encoding="utf-8")]
    yield "truth_with", [(r["url"], "\n".join(r["with"])) for r in rows]
    yield "truth_without", [(r["url"], "\n".join(r["without"])) for r in rows]
    yield "truth_single", [(f"{r['url']}#{k}", s) for r in rows for k, s in enumerate(r["with"] + r["without"])]
    for name in ("seed_tasks", "user_oriented_instructions"):
        tasks = [json.loads(line) for line in open(data / f"sft-dev/{name}.jsonl", encoding="utf-8")]
        yield f"sft_{name}", [(str(k), t["instruction"] + "\n\n" + "\n\n".join(f"{i['input']}\n{i['output']}"
                                                                               for i in t["instances"]))
                              for k, t in enumerate(tasks)]
    pii = [r["full_text"] for r in json.load(open(data / "pii-dev/generated_large.json", encoding="utf-8"))]
    yield "pii_texts", list(enumerate(pii))
    yield "pii_groups", [(k, "\n".join(rng.sample(pii, rng.randint(5, 40)))) for k in range(200)]
    by_lang: dict[str, list[str]] = {}
    for line in open(data / "langid-dev/sentences.jsonl", encoding="utf-8"):
        s = json.loads(line)
        by_lang.setdefault(s["lang"], []).append(s["text"])
    for kind, sep in (("langid_para", " "), ("langid_lines", "\n")):
        yield kind, [(f"{lang}{k}", sep.join(rng.sample(v, rng.randint(3, 30)))) for lang, v in by_lang.items()
                     for k in range(3)]


EMOJI = ["😀", "😂", "🙏", "👍", "🔥", "❤️", "✨", "🎉", "💯", "👉", "✅", "⭐️", "🇩🇪", "👨‍👩‍👧", "👍🏽", "™", "©", "®", "→",
         "★", "€", "°", "§", "±", "×", "✓", "♥", "•"]
SYMBOL_LINES = ["* * *", "---", "=====", "|---|---|", "»»»", "★★★★☆", "• • •", "~~~", "+--+--+", "##", "...", "…",
                "→", "|", "#", "-", "//", "<!-- -->", "&nbsp;", "⁂", "[ ]", "***", "> "]
NUMBERS = ["1,234,567.89", "1.234.567,89", "1 234 567", "1'234'567", "+49 (0)30 1234-567", "2024-01-01", "12:30",
           "10%", "$5.99", "€5,99", "5€", "5,-€", "½", "No.5", "#1", "§ 12", "v2.3.1", "-42", "1e-9", "10km/h",
           "25°C", "5'11\"", "100k", "1st", "'90s", "£1.2m", "US$100", "(555) 123-4567", "30.11.2026", "3."]
TAGS = ["#python", "@user", "@j_doe:", "https://example.com/a/b?c=d&e=f#frag", "www.example.org", "john.doe@example.com",
        "<a@b.de>", "(https://x.io)", "[link](https://x.io/y)", "![img](/a.png)", "<br>", "&amp;", "&#8217;",
        "&lt;div&gt;", "`code()`", "**bold**", "_it_", "C++", "C#", ".NET", "e.g.", "U.S.A.", "z.B.", "bzw.", "a.m."]
SPACES = "\u2009\u200a\u2002\u2003\u3000\u205f\u1680\u2007\u202f\x85\u2028\u2029\x0b\x0c\x1c\x1d\x1e\x1f"


def hostile(docs: Docs, rng: random.Random) -> Iterator[tuple[str, Docs]]:
    """The same real pages in shapes real pipelines leave text in."""
    def spaces(t: str, repl: Callable[[], str], p: float) -> str:
        return re.sub(" ", lambda m: repl() if rng.random() < p else " ", t)

    def sprinkle(t: str, pool: list[str], p: float) -> str:
        return " ".join(w + (" " + rng.choice(pool) if rng.random() < p else "") for w in t.split(" "))

    def glue(t: str, pool: list[str] | str, p: float) -> str:
        return re.sub(r"(\w) ", lambda m: m.group(1) + (rng.choice(pool) if rng.random() < p else "") + " ", t)

    shapes: dict[str, Callable[[str], str]] = {
        "h_crlf": lambda t: t.replace("\n", "\r\n"),
        "h_cr": lambda t: t.replace("\n", "\r"),
        "h_nbsp": lambda t: spaces(t, lambda: "\xa0", 0.3),
        "h_nbsp_punct": lambda t: re.sub(r" ([:;!?»])", "\xa0\\1", re.sub(r"(\d) (\d)", "\\1\u202f\\2", t)),
        "h_double_spaces": lambda t: spaces(t, lambda: rng.choice(["  ", " \t", "\t", "   "]), 0.2),
        "h_unicode_spaces": lambda t: spaces(t, lambda: rng.choice(SPACES), 0.1),
        "h_zero_width": lambda t: glue(t, ["\u200b", "\u200c", "\u200d", "\ufeff", "\u2060", "\xad", "\u200e"], 0.1),
        "h_tabs": lambda t: "\n".join("\t" * rng.randint(0, 2) + spaces(ln, lambda: "\t", 0.1) for ln in t.split("\n")),
        "h_entities": html.escape,
        "h_double_entities": lambda t: html.escape(html.escape(t)).replace(" ", "&nbsp;", t.count(" ") // 5),
        "h_curly": lambda t: re.sub("'", "’", re.sub(r'"(\w)', "“\\1", re.sub(r'(\w)"', "\\1”", t))),
        "h_bullets": lambda t: "\n".join(rng.choice(["• ", "· ", "– ", "* ", "▪ ", "- ", "► ", "◦ ", "1. ", "", ""]) + ln
                                         for ln in t.split("\n")),
        "h_ellipsis": lambda t: re.sub(r"\.(\s)", lambda m: rng.choice(["…", "...", ". . .", ".", "?!", "!!!"])
                                       + m.group(1), t),
        "h_symbol_lines": lambda t: "\n".join(ln + ("\n" + rng.choice(SYMBOL_LINES) if rng.random() < 0.2 else "")
                                              for ln in t.split("\n")),
        "h_emoji": lambda t: sprinkle(t, EMOJI, 0.08),
        "h_emoji_glued": lambda t: glue(t, EMOJI, 0.05),
        "h_numbers": lambda t: sprinkle(t, NUMBERS, 0.06),
        "h_tags": lambda t: sprinkle(t, TAGS, 0.06),
        "h_glued_punct": lambda t: glue(t, ",.;:!?)]}\"'»”’…/-—–|*_~^", 0.15),
        "h_markdown": lambda t: "\n".join(rng.choice(["# ", "## ", "> ", "| ", "    ", "", ""]) + ln
                                          + rng.choice(["", " |", "  ", " \\", "**"]) for ln in t.split("\n")),
        "h_nfd": lambda t: unicodedata.normalize("NFD", t),
        "h_upper": str.upper,
        "h_one_line": lambda t: " ".join(t.split()),
        "h_no_punctuation": lambda t: re.sub(r"[^\w\s]", "", t.lower()),
        "h_blank_lines": lambda t: t.replace("\n", "\n\n"),
    }
    for kind, shape in shapes.items():
        yield kind, [(i, shape(t)) for i, t in docs]
    lines = [ln for _, t in docs for ln in t.split("\n") if ln.strip()]
    yield "h_short", [(k, " ".join(rng.choice(lines).split()[:rng.randint(1, 12)])) for k in range(400)]
    yield "h_windows", windows("h", docs, rng, 480)
    yield "h_long", [(k, "\n\n".join(t for _, t in rng.sample(docs, min(150, len(docs))))) for k in range(4)]


def windows(kind: str, docs: Docs, rng: random.Random, n: int = 400) -> Docs:
    """``n`` windows of 3-120 consecutive lines: page fragments near the rules' minimums."""
    out = []
    for k in range(n):
        lines = rng.choice(docs)[1].split("\n")
        size = rng.choice([rng.randint(3, 30), rng.randint(20, 120)])
        start = rng.randrange(max(1, len(lines) - size))
        out.append((f"{kind}#{k}", "\n".join(lines[start:start + size])))
    return out


def kinds(data: Path) -> Iterator[tuple[str, Docs]]:
    rng = random.Random(15)
    built = dict(extracted(pages(data / "html-dev/pages.warc.gz")))
    yield from built.items()
    for kind in ("resil_full", "lxml_text", "md_traf_links", "resil_main", "bs4_lines", "md_html2text", "md_markdownify"):
        if kind in built:
            yield f"w_{kind}", windows(kind, [d for d in built[kind] if d[1]], rng)
    sample = [d for kind in ("md_traf_links", "resil_full", "lxml_text", "txt_traf_notables", "resil_main")
              for d in rng.sample([d for d in built[kind] if d[1]], 40)]
    yield from hostile(sample, rng)
    yield from other(data, rng)


def decisions(docs: list[dict], cache: Path) -> dict[str, dict[str, str]]:
    """datatrove's decision per document and rule set (read from ``cache`` when it is there)."""
    if cache.exists():
        return {r["id"]: r for r in map(json.loads, open(cache, encoding="utf-8"))}
    from datatrove.data import Document as PeerDocument
    from datatrove.pipeline import filters

    peers = {name: getattr(filters, cls)() for name, cls in RULES.items()}
    out = {}
    for d in docs:
        row = {"id": d["id"]}
        for name, peer in peers.items():
            r = peer.filter(PeerDocument(text=d["text"], id=d["id"]))
            row[name] = "keep" if r is True else r[1]
        out[d["id"]] = row
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text("".join(json.dumps(r) + "\n" for r in out.values()), encoding="utf-8")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--kinds", nargs="*", help="only these kinds (default: every kind)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if not all((args.out / f"{k}.jsonl").exists() for k in args.kinds or ["-"]):
        for kind, docs in kinds(args.data):
            with open(args.out / f"{kind}.jsonl", "w", encoding="utf-8") as f:
                f.writelines(json.dumps({"id": f"{kind}:{i}", "text": t}) + "\n" for i, t in docs if t and t.strip())
    stages = {}
    for name in RULES:
        stages[name], _ = base.build({"stage": name, "mode": "annotate"})
    print(f"{'kind':24} {'docs':>5} " + " ".join(f"{name:>17}" for name in RULES))
    for path in sorted(args.out.glob("*.jsonl")):
        if args.kinds and path.stem not in args.kinds:
            continue
        docs = [json.loads(line) for line in open(path, encoding="utf-8")]
        theirs = decisions(docs, args.out / "datatrove" / path.name)
        same = dict.fromkeys(RULES, 0)
        for d in docs:
            for name, stage in stages.items():
                mine, peer = stage.decide(Document(d["id"], d["text"], "t")) or "keep", theirs[d["id"]][name]
                same[name] += (mine == "keep") == (peer == "keep")
                if (mine == "keep") != (peer == "keep"):
                    print(f"  {name}\t{d['id']}\tThresher {mine}\tdatatrove {peer}", file=sys.stderr)
        print(f"{path.stem:24} {len(docs):5} " + " ".join(f"{100 * same[n] / max(1, len(docs)):16.2f}%" for n in RULES),
              flush=True)


if __name__ == "__main__":
    main()
