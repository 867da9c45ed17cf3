"""The four rule stages vs datatrove 0.10.1's four filters: same documents, same process, same run.

    .venv/bin/python benchmarks/bench_quality.py --docs 1000

Each filter sees every document (so each one's cost is measured on the same input, as a first stage
would), on one core; CPU seconds (``time.process_time``) so that other load on a shared machine
counts less. Prints throughput per filter and in total, the ratio, and the share of equal decisions.
"""

from __future__ import annotations

import argparse
import sys
import time

from common import speech_paragraph_docs

from corpus.document import Document
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
    args = ap.parse_args()
    from datatrove.data import Document as PeerDocument
    from datatrove.pipeline import filters

    texts = [d["text"] for d in speech_paragraph_docs(args.docs, args.size)]
    mb = sum(len(t.encode()) for t in texts) / 1e6
    print(f"{len(texts)} documents, {mb:.2f} MB, one core, CPU seconds")
    print(f"{'filter':<20}{'thresher docs/s':>17}{'datatrove docs/s':>18}{'ratio':>8}{'same decision':>15}")
    total_ours = total_peer = 0.0
    for name, peer_name in PAIRS:
        ours, _ = base.build({"stage": name})
        ours.setup()
        peer = getattr(filters, peer_name)()
        our_docs = [Document(str(i), t, "b") for i, t in enumerate(texts)]
        peer_docs = [PeerDocument(text=t, id=str(i)) for i, t in enumerate(texts)]
        s_ours, k_ours = run(lambda d, s=ours: s.decide(d) is None, our_docs)
        s_peer, k_peer = run(lambda d, f=peer: f.filter(d) is True, peer_docs)
        same = sum(a == b for a, b in zip(k_ours, k_peer, strict=True)) / len(texts)
        total_ours += s_ours
        total_peer += s_peer
        print(f"{name:<20}{len(texts) / s_ours:>17.1f}{len(texts) / s_peer:>18.1f}{s_peer / s_ours:>8.1f}{same:>15.4f}")
    print(f"{'all four':<20}{len(texts) / total_ours:>17.1f}{len(texts) / total_peer:>18.1f}"
          f"{total_peer / total_ours:>8.1f}")
    print(f"MB/s per core: thresher {mb / total_ours:.2f}, datatrove {mb / total_peer:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
