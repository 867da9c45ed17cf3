"""The four rule stages vs datatrove 0.10.1's four filters: same documents, same process, same run.

    .venv/bin/python benchmarks/bench_quality.py --docs 1000 [--json FILE]

Each filter sees every document (so each one's cost is measured on the same input, as a first stage
would), on one core; CPU seconds (``time.process_time``) so that other load on a shared machine
counts less. Prints throughput per filter and in total, the ratio, and the share of equal decisions.
``chained`` then runs each document through the four in turn (every filter decides on its own copy
of every document), as a build runs its stages: there the rule stages share the document's words.
datatrove's filters run in the peer environment (``peer_env.py``) on the same texts, both ways.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import orjson
from common import paragraphs_name, row, speech_paragraph_docs, write_result
from peer_env import run_peer

from corpus.document import Document
from corpus.io.jsonl import open_compressed
from corpus.stages import base

PAIRS = [("gopher_repetition", "GopherRepetitionFilter"), ("gopher_quality", "GopherQualityFilter"),
         ("c4", "C4QualityFilter"), ("fineweb", "FineWebQualityFilter")]


def run(decide, docs) -> tuple[float, list[bool]]:
    t0 = time.process_time()
    kept = [decide(d) for d in docs]
    return time.process_time() - t0, kept


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--size", type=int, default=2900, help="characters per document (the issue's 2.9 KB)")
    ap.add_argument("--json", help="write the summary rows here too (run_all.py reads it)")
    ap.add_argument("--input", help="measure on the first --docs documents of this JSONL (.gz, .zst) instead, "
                                    "e.g. real web pages")
    args = ap.parse_args()

    if args.input:
        with open_compressed(args.input) as f:
            texts = [orjson.loads(line)["text"] for line, _ in zip(f, range(args.docs), strict=False)]
    else:
        texts = [d["text"] for d in speech_paragraph_docs(args.docs, args.size)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "texts.jsonl"
        path.write_bytes(b"".join(orjson.dumps({"text": t}) + b"\n" for t in texts))
        peers = run_peer("datatrove_quality.py", path)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    print(f"{len(texts)} documents, {mb:.2f} MB, one core, CPU seconds")
    print(f"{'filter':<20}{'thresher docs/s':>17}{'datatrove docs/s':>18}{'ratio':>8}{'same decision':>15}")
    total_ours = total_peer = 0.0
    stages = []
    for name, peer_name in PAIRS:
        ours, _ = base.build({"stage": name})
        ours.setup()
        stages.append(ours)
        our_docs = [Document(str(i), t, "b") for i, t in enumerate(texts)]
        s_ours, k_ours = run(lambda d, s=ours: s.decide(d) is None, our_docs)
        s_peer, k_peer = peers[peer_name]["cpu_s"], peers[peer_name]["kept"]
        same = sum(a == b for a, b in zip(k_ours, k_peer, strict=True)) / len(texts)
        total_ours += s_ours
        total_peer += s_peer
        print(f"{name:<20}{len(texts) / s_ours:>17.1f}{len(texts) / s_peer:>18.1f}{s_peer / s_ours:>8.1f}{same:>15.4f}")
    print(f"{'all four':<20}{len(texts) / total_ours:>17.1f}{len(texts) / total_peer:>18.1f}"
          f"{total_peer / total_ours:>8.1f}")
    copies = [[Document(str(i), t, "b") for _ in stages] for i, t in enumerate(texts)]
    t0 = time.process_time()
    kept = [[s.decide(d) is None for s, d in zip(stages, ds, strict=True)] for ds in copies]
    chained_ours, chained_peer = time.process_time() - t0, peers["chained"]["cpu_s"]
    same = sum(a == b for a, b in zip(kept, peers["chained"]["kept"], strict=True)) / len(texts)
    print(f"{'chained':<20}{len(texts) / chained_ours:>17.1f}{len(texts) / chained_peer:>18.1f}"
          f"{chained_peer / chained_ours:>8.1f}{same:>15.4f}")
    print(f"MB/s per core: thresher {mb / total_ours:.2f}, datatrove {mb / total_peer:.3f}")
    write_result(args.json, "quality", Path(args.input).name if args.input else paragraphs_name(args.docs, args.size),
                 [row("4 rule stages", "datatrove's 4 filters", "docs per CPU-second",
                      round(len(texts) / total_ours, 1), round(len(texts) / total_peer, 1)),
                  row("4 rule stages, chained", "datatrove's 4 filters, chained", "docs per CPU-second",
                      round(len(texts) / chained_ours, 1), round(len(texts) / chained_peer, 1))])
    return 0


if __name__ == "__main__":
    sys.exit(main())
