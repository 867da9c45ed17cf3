"""Peer of bench_quality.py, run in the peer environment: datatrove 0.10.1's four quality filters.

    python datatrove_quality.py TEXTS.jsonl   # prints {filter class | "chained": {"cpu_s", "kept"}}

Each filter (defaults) sees every document, on one core; CPU seconds as on Thresher's side. Each
filter first reads one document untimed: its word tokenizer (spaCy) loads on first use, and that
set-up stays outside the timing as the stages' ``setup()`` does on Thresher's side. ``chained``:
each document through the four filters in turn (each on its own copy), as a pipeline runs them.
"""

import json
import sys
import time

from datatrove.data import Document
from datatrove.pipeline import filters

NAMES = ["GopherRepetitionFilter", "GopherQualityFilter", "C4QualityFilter", "FineWebQualityFilter"]

with open(sys.argv[1], encoding="utf-8") as f:
    texts = [json.loads(line)["text"] for line in f]
out = {}
peers = [getattr(filters, name)() for name in NAMES]
for name, peer in zip(NAMES, peers, strict=True):
    peer.filter(Document(text=texts[0], id="warm-up"))
    docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
    t0 = time.process_time()
    kept = [peer.filter(d) is True for d in docs]
    out[name] = {"cpu_s": time.process_time() - t0, "kept": kept}
copies = [[Document(text=t, id=str(i)) for _ in peers] for i, t in enumerate(texts)]
t0 = time.process_time()
kept = [[peer.filter(d) is True for peer, d in zip(peers, ds, strict=True)] for ds in copies]
out["chained"] = {"cpu_s": time.process_time() - t0, "kept": kept}
print(json.dumps(out))
