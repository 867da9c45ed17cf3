"""What ``verify: true`` costs ``dedup_minhash`` and what it buys: CPU seconds, precision, recall.

The corpus is ``bench_dedup.py``'s (sentence mixes of the bundled speeches, edited copies at Jaccard
0.5-1.0) plus ``--related`` copies at Jaccard 0.3-0.5 of other documents: related texts that are no
near-duplicates, the pairs LSH sometimes makes candidates. Thresher builds it ``--repeats`` times
with each setting, alternating, so that a load change on a shared machine hits both alike; the
figure compared is the CPU seconds of the build's process tree, which load skews far less than wall
seconds (the build is the one stage, so it is the stage's time plus reading and writing the corpus).

Per build: the ledger's phase seconds; **unresembled**, the share of clustered documents whose exact
Jaccard is below 0.5 to every other member of their cluster (merged with nothing they resemble);
**recall**, the share of injected pairs at Jaccard >= 0.8 that end in one cluster.

    .venv/bin/python benchmarks/bench_dedup_verify.py --docs 50000 --copies 2500 --related 2500 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

import orjson
from bench_dedup import build_corpus, run_thresher
from common import row, write_result
from dedup_corpus import unresembled

from corpus.io.jsonl import open_compressed
from corpus.stages.dedup.shingles import shingle_set, shingles

THRESHOLD = 0.8
SETTINGS = (False, True)


def read_corpus(corpus: Path) -> dict[str, str]:
    texts = {}
    for name in ("a.jsonl", "b.jsonl"):
        for line in (corpus / name).read_bytes().splitlines():
            d = orjson.loads(line)
            texts[d["id"]] = d["text"]
    return texts


def clusters_of(run: Path) -> dict[str, list[str]]:
    """Members per ``dedup_cluster``, from kept and excluded documents alike."""
    out: dict[str, list[str]] = defaultdict(list)
    for path in sorted([*(run / "data").glob("*.jsonl.zst"), *(run / "excluded").rglob("*.jsonl.zst")]):
        with open_compressed(str(path)) as f:
            for line in f:
                d = orjson.loads(line)
                out[d["metadata"]["dedup_cluster"]].append(d["id"])
    return out


def quality(clusters: dict[str, list[str]], texts: dict[str, str],
            pairs: list[tuple[str, str, float]]) -> dict[str, float | int]:
    merged = [m for m in clusters.values() if len(m) > 1]
    sets = {i: shingle_set(shingles(texts[i], 5)) for m in merged for i in m}
    in_clusters, lonely = unresembled(merged, sets)
    cluster = {i: rep for rep, m in clusters.items() for i in m}
    near = [(a, b) for a, b, j in pairs if j >= THRESHOLD]
    found = sum(cluster[a] == cluster[b] for a, b in near)
    return {"documents_in_clusters": in_clusters, "unresembled": len(lonely),
            "unresembled_share": round(len(lonely) / max(1, in_clusters), 5),
            "recall_pairs": len(near), "recall": round(found / max(1, len(near)), 5)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=50_000)
    ap.add_argument("--copies", type=int, default=2_500, help="near-duplicates at Jaccard 0.5-1.0")
    ap.add_argument("--related", type=int, default=2_500, help="related copies at Jaccard 0.3-0.5")
    ap.add_argument("--repeats", type=int, default=2, help="builds per setting, alternating")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench-dedup-verify"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the summary rows here too (run_all.py reads it)")
    args = ap.parse_args()
    corpus = args.work / f"corpus-{args.docs}-{args.copies}-{args.related}-{args.seed}"
    pairs = build_corpus(args.docs, args.copies, corpus, args.seed, related=args.related)
    texts = read_corpus(corpus)
    runs: dict[bool, list[dict]] = {v: [] for v in SETTINGS}
    for rep in range(args.repeats):
        for verify in SETTINGS:
            fig, _, st = run_thresher(corpus, args.work, args.workers, verify=verify)
            fig.update(quality(clusters_of(args.work / "thresher"), texts, pairs),
                       stage_seconds=st["seconds"],
                       phases={k: v["seconds"] for k, v in st["phases"].items() if "seconds" in v})
            runs[verify].append(fig)
            print(f"verify={verify} #{rep + 1}:", json.dumps(fig), flush=True)
    cpu = {v: statistics.median(r["cpu_seconds"] for r in runs[v]) for v in SETTINGS}
    cost = round(cpu[True] / cpu[False] - 1, 4)
    report = {"docs": args.docs, "copies": args.copies, "related": args.related, "workers": args.workers,
              "runs": {f"verify={v}": runs[v] for v in SETTINGS}, "cpu_seconds_median": {str(v): cpu[v] for v in SETTINGS},
              "verify_cpu_cost": cost}
    (args.work / "report.json").write_text(json.dumps(report, indent=2))
    print(f"verify costs {cost:+.1%} CPU ({cpu[False]} -> {cpu[True]} s, medians); report: {args.work / 'report.json'}")
    off, on = runs[False][-1], runs[True][-1]
    rows = [row("verify: true", "verify: false", "docs per CPU s (median)", round(args.docs / cpu[True]),
                round(args.docs / cpu[False])),
            row("verify: true", "verify: false", "clustered docs resembling a member (J >= 0.5)",
                1 - on["unresembled_share"], 1 - off["unresembled_share"]),
            row("verify: true", "verify: false", "recall J >= 0.8", on["recall"], off["recall"])]
    write_result(args.json, "dedup_verify", f"dedup corpus: {args.docs:,} sentence mixes of tests/data/prose, "
                 f"{args.copies:,} copies at Jaccard 0.5-1.0, {args.related:,} at 0.3-0.5, seed {args.seed}",
                 rows, report=report)


if __name__ == "__main__":
    main()
