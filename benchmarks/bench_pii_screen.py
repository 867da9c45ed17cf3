"""What the NER screen costs and saves: the model on whole documents vs on the screened stretches only.

For each text set: the share of characters the screen passes to the model, and, per entity, how
many of the spans the model finds reading everything it still finds reading the screened stretches
(a span counts as kept when a span of the same type overlaps it). Spans the screened run finds that
the full run did not are counted too. Only counts are printed.

Sets (all held out from the texts `rules/pii/ner_screen.yaml` was built from):
``speeches`` (the PII benchmark's prose, from ``tests/data/prose``), ``records`` (presidio-research's
labelled texts, ``tests/data/pii-dev``) and, when given with ``--news``, the Lee news corpus written
by `benchmarks/pii_screen_sources.py`. There is no outside peer: the comparison is the same model
reading everything.

    .venv/bin/python benchmarks/bench_pii_screen.py [--news /tmp/screen-src/heldout-news.jsonl] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

from common import PII_SET, paragraphs_name, row, speech_paragraph_docs, write_result

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")


def measure(texts: list[str], engine, policy) -> dict:
    """Spans of the unscreened model run kept by the screened run, per entity, and the characters passed."""
    def spans(results: list, text: str) -> set:
        return {(r.entity_type, r.start, r.end) for r in results if policy.accepts(r, text)}

    full = [spans(r, t) for t, r in zip(texts, engine.ner_results(texts, None), strict=True)]
    before = engine.stats.chars_to_ner
    screened = [spans(r, t) for t, r in zip(texts, engine.ner_results(texts, engine.screen), strict=True)]
    passed = engine.stats.chars_to_ner - before
    total, kept, new = Counter(), Counter(), Counter()
    for a, b in zip(full, screened, strict=True):
        for ent, s, e in a:
            total[ent] += 1
            kept[ent] += any(x == ent and xs < e and s < xe for x, xs, xe in b)
        for ent, s, e in b:
            new[ent] += not any(x == ent and xs < e and s < xe for x, xs, xe in a)
    return {"docs": len(texts), "chars_share": passed / max(1, sum(map(len, texts))),
            "entities": {ent: {"found": total[ent], "kept": kept[ent], "new": new[ent]} for ent in sorted(total | new)}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=100, help="speech documents of about 2.9 KB")
    ap.add_argument("--records", type=int, default=800, help="presidio-research texts")
    ap.add_argument("--news", help="heldout-news.jsonl from benchmarks/pii_screen_sources.py")
    ap.add_argument("--json", help="write the figures here too (run_all.py reads it)")
    args = ap.parse_args()

    from corpus.stages import base
    from corpus.stages.pii.stage import build

    stage, _ = base.build({"stage": "pii"})
    engine, policy = build(stage.p)
    records = json.loads(PII_SET.read_text(encoding="utf-8"))
    sets = {"speeches": [d["text"] for d in speech_paragraph_docs(args.docs)],
            "records": [r["full_text"] for r in records[:args.records]]}
    if args.news:
        sets["news"] = [json.loads(line)["text"] for line in Path(args.news).read_text(encoding="utf-8").splitlines()]
    results = {name: measure(texts, engine, policy) for name, texts in sets.items()}
    print("| set | docs | chars to the model | " + " | ".join(f"{e} kept" for e in sorted(engine.ner_entities)) +
          " | new spans |")
    print("| --- | ---: | ---: |" + " ---: |" * (len(engine.ner_entities) + 1))
    for name, r in results.items():
        cells = []
        for ent in sorted(engine.ner_entities):
            counts = r["entities"].get(ent, {"found": 0, "kept": 0})
            cells.append(f"{counts['kept']}/{counts['found']}")
        new = sum(c["new"] for c in r["entities"].values())
        print(f"| {name} | {r['docs']} | {r['chars_share']:.1%} | " + " | ".join(cells) + f" | {new} |")
    rows = [row(f"NER on the screened stretches, {name}", "NER reading everything", "model spans found",
                sum(e["kept"] for e in r["entities"].values()), sum(e["found"] for e in r["entities"].values()))
            for name, r in results.items()]
    write_result(args.json, "pii_screen", f"{paragraphs_name(args.docs)}; the first {args.records:,} texts of "
                 "tests/data/pii-dev/generated_large.json" + ("; " + args.news if args.news else ""), rows,
                 results=results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
