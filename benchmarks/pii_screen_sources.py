"""Write the texts that `rules/pii/ner_screen.yaml` is built from, and the held-out news set.

The word lists of the NER screen are measured on text that neither the PII benchmark nor
`pii-eval` uses, so their figures stay held-out:

- ``wiki/``: the 106 Wikipedia articles in gensim 4.4.0's test data (CC BY-SA), markup stripped;
- ``sentences.jsonl``: the Leipzig sentences (``{"text", "lang"}``, CC BY 4.0) given with ``--sentences``,
  in nine European languages;
- ``instructions.txt``: the self-instruct tasks (Apache-2.0) given with ``--instructions``;
- ``heldout-news.jsonl``: the Lee news corpus from the same gensim wheel, for measuring only.

The shipped lists were built from 200 sentences per language (lingua-py's ``language-testdata``, as
``tests/data/langid-dev`` has 20 of) and from self-instruct's ``seed_tasks.jsonl`` (bundled in
``tests/data/sft-dev``) and ``user_oriented_instructions.jsonl``. The bundled files alone give
lists built from less text. Then, from the repository root (about 5 minutes on one core):

    .venv/bin/python benchmarks/pii_screen_sources.py /tmp/screen-src --sentences SENTENCES.jsonl \\
        --instructions seed_tasks.jsonl user_oriented_instructions.jsonl
    .venv/bin/thresher pii-screen-words /tmp/screen-src/wiki/*.txt /tmp/screen-src/sentences.jsonl \\
        /tmp/screen-src/instructions.txt --out rules/pii/ner_screen.yaml --about "$ABOUT"

with ``ABOUT`` the sources line that ``rules/pii/ner_screen.yaml`` records under ``built_with.about``.
"""

from __future__ import annotations

import argparse
import bz2
import html
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import orjson

WIKI = "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
NEWS = "gensim/test/test_data/lee_background.cor"
LANGS = {"en", "de", "fr", "es", "it", "nl", "pt", "sv", "pl"}


def strip_wiki(markup: str) -> str:
    """Plain prose of one article: templates, references, tables, files and link targets removed."""
    t = html.unescape(markup)
    for _ in range(3):
        t = re.sub(r"\{\{[^{}]*\}\}", "", t)
    t = re.sub(r"<ref[^>]*/>|<ref[^>]*>.*?</ref>|<[^>]+>", "", t, flags=re.S)
    t = re.sub(r"\[\[(?:File|Image|Category):[^\]]*\]\]", "", t)
    t = re.sub(r"\[\[(?:[^|\]]*\|)?([^\]]*)\]\]", r"\1", t)
    t = re.sub(r"\[https?://\S+ ([^\]]*)\]", r"\1", t)
    t = re.sub(r"'{2,}", "", t)
    t = re.sub(r"^[=*#:;|!{}].*$", "", t, flags=re.M)
    return re.sub(r"\n{3,}", "\n\n", t).strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="folder to write the texts into")
    ap.add_argument("--sentences", type=Path, required=True, help='JSONL of {"text", "lang"} sentences')
    ap.add_argument("--instructions", type=Path, nargs="+", required=True, help="self-instruct task JSONL files")
    args = ap.parse_args()
    for path in [args.sentences, *args.instructions]:
        if not path.is_file():
            ap.exit(2, f"pii_screen_sources.py: {path}: no such file\n")
    out = args.out
    (out / "wiki").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "gensim==4.4.0", "-d", tmp, "-q"],
                       check=True)
        with zipfile.ZipFile(next(Path(tmp).glob("gensim-*.whl"))) as z:
            xml = bz2.decompress(z.read(WIKI)).decode("utf-8")
            news = z.read(NEWS).decode("utf-8").splitlines()
    articles = [strip_wiki(p) for p in re.findall(r"<text[^>]*>(.*?)</text>", xml, re.S)]
    articles = [a for a in articles if len(a) > 500]
    for i, a in enumerate(articles):
        (out / "wiki" / f"{i:03d}.txt").write_text(a, encoding="utf-8")
    with open(out / "sentences.jsonl", "wb") as f:
        for line in args.sentences.read_bytes().splitlines():
            if orjson.loads(line)["lang"] in LANGS:
                f.write(line + b"\n")
    parts = []
    for path in args.instructions:
        for line in path.read_bytes().splitlines():
            rec = orjson.loads(line)
            parts.append(rec.get("instruction", ""))
            parts += [v for inst in rec.get("instances", []) for v in (inst.get("input", ""), inst.get("output", ""))]
    (out / "instructions.txt").write_text("\n\n".join(p for p in parts if p.strip()), encoding="utf-8")
    with open(out / "heldout-news.jsonl", "wb") as f:
        for line in news:
            if line.strip():
                f.write(orjson.dumps({"text": line}) + b"\n")
    print(f"{len(articles)} articles, news {len(news)} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
