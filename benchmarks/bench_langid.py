"""The ``language`` stage vs raw fastText ``predict`` with the same lid.176 model, in the same run.

    .venv/bin/python benchmarks/bench_langid.py [--table] [--json FILE]

Three inputs: the bundled langid-dev sentences (``tests/data/langid-dev``, 20 per language, 75
languages), ``--paragraphs`` 2.9 KB paragraphs of the bundled speeches, and the whole speeches (longer
than ``max_chars``: the stage scores windows, raw fastText the whole text). CPU seconds on one core.
``--table`` prints the per-language accuracy table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

from common import paragraphs_name, row, speech_paragraph_docs, speech_paths, speech_text, write_result
from testdata import sentences as labelled_sentences

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
    ap.add_argument("--paragraphs", type=int, default=1000, help="2.9 KB paragraphs of the speeches")
    ap.add_argument("--json", help="write the summary rows here too (run_all.py reads it)")
    args = ap.parse_args()
    stage, _ = base.build({"stage": "language"})
    stage.setup()
    model = stage._model

    def raw(text: str) -> str:
        return model.predict(text.replace("\n", " "), k=1)[0][0].removeprefix("__label__")

    def ours(doc: Document) -> str:
        stage.decide(doc)
        return doc.metadata["language"]

    recs = labelled_sentences()
    sentences = [r["text"] for r in recs]
    speeches = [speech_text(p) for p in speech_paths()]
    inputs = {"sentences": sentences,
              "2.9 KB paragraphs": [d["text"] for d in speech_paragraph_docs(args.paragraphs)],
              "whole speeches": speeches}
    rows = []
    print(f"{'input':<20}{'docs':>7}{'raw fastText docs/s':>21}{'stage docs/s':>14}{'stage/raw time':>16}")
    for name, texts in inputs.items():
        t_raw = min(timed_cpu(raw, texts)[0] for _ in range(args.repeat))
        docs = [Document(str(i), t, "b") for i, t in enumerate(texts)]  # a pipeline has them already
        t_ours = min(timed_cpu(ours, docs)[0] for _ in range(args.repeat))
        print(f"{name:<20}{len(texts):>7}{len(texts) / t_raw:>21.0f}{len(texts) / t_ours:>14.0f}{t_ours / t_raw:>16.2f}")
        if name != "whole speeches":  # there the stage does other work (windows), so it is not like for like
            rows.append(row(f"language stage, {name}", "raw fastText predict", "docs per CPU-second",
                            round(len(texts) / t_ours), round(len(texts) / t_raw)))
    write_result(args.json, "langid", f"tests/data/langid-dev sentences ({len(sentences):,}); "
                 f"{paragraphs_name(args.paragraphs)}; the {len(speeches)} whole speeches", rows)
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
