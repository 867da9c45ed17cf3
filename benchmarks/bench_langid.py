"""The ``language`` stage vs raw fastText ``predict`` with the same lid.176 model, in the same run.

    .venv/bin/python benchmarks/bench_langid.py [--table]

Three inputs: the 15,000 langid-dev sentences (75 languages), 2.9 KB paragraphs of the speeches, and
whole speeches (longer than ``max_chars``: the stage scores windows, raw fastText the whole text).
CPU seconds on one core. ``--table`` prints the per-language accuracy table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

import orjson
from common import SHARED, speech_paragraph_docs

from corpus.document import Document
from corpus.stages import base


def timed_cpu(fn, items) -> tuple[float, list]:
    t0 = time.process_time()
    out = [fn(x) for x in items]
    return time.process_time() - t0, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", action="store_true")
    ap.add_argument("--repeat", type=int, default=3, help="best of N timings per side")
    args = ap.parse_args()
    stage, _ = base.build({"stage": "language"})
    stage.setup()
    model = stage._model

    def raw(text: str) -> str:
        return model.predict(text.replace("\n", " "), k=1)[0][0].removeprefix("__label__")

    def ours(doc: Document) -> str:
        stage.decide(doc)
        return doc.metadata["language"]

    recs = [orjson.loads(x) for x in (SHARED / "langid-dev" / "sentences.jsonl").read_bytes().splitlines()]
    sentences = [r["text"] for r in recs]
    speeches = [p.read_text(errors="replace") for p in sorted((SHARED / "prose").rglob("*.txt"))]
    inputs = {"sentences": sentences, "2.9 KB paragraphs": [d["text"] for d in speech_paragraph_docs(1000)],
              "whole speeches": speeches}
    print(f"{'input':<20}{'docs':>7}{'raw fastText docs/s':>21}{'stage docs/s':>14}{'stage/raw time':>16}")
    for name, texts in inputs.items():
        t_raw = min(timed_cpu(raw, texts)[0] for _ in range(args.repeat))
        docs = [Document(str(i), t, "b") for i, t in enumerate(texts)]  # a pipeline has them already
        t_ours = min(timed_cpu(ours, docs)[0] for _ in range(args.repeat))
        print(f"{name:<20}{len(texts):>7}{len(texts) / t_raw:>21.0f}{len(texts) / t_ours:>14.0f}{t_ours / t_raw:>16.2f}")
    if args.table:
        _, pred_raw = timed_cpu(raw, sentences)
        _, pred_ours = timed_cpu(ours, [Document(str(i), t, "b") for i, t in enumerate(sentences)])
        total, ok_raw, ok_ours = Counter(), Counter(), Counter()
        for r, a, b in zip(recs, pred_raw, pred_ours, strict=True):
            total[r["lang"]] += 1
            ok_raw[r["lang"]] += a == r["lang"]
            ok_ours[r["lang"]] += b == r["lang"]
        print("\n| lang | n | raw fastText | language stage |\n| --- | --- | --- | --- |")
        for lang in sorted(total):
            print(f"| {lang} | {total[lang]} | {ok_raw[lang] / total[lang]:.3f} | {ok_ours[lang] / total[lang]:.3f} |")
        n = sum(total.values())
        print(f"| all | {n} | {sum(ok_raw.values()) / n:.3f} | {sum(ok_ours.values()) / n:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
