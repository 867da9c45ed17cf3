"""Peer of bench_quality.py, run in the peer environment: one measurement of datatrove 0.10.1's quality filters.

    python datatrove_quality.py TEXTS.jsonl WHICH   # WHICH: a filter class or "chained"; prints {"cpu_s", "kept"}

One measurement per fresh process (bench_quality.py starts one per filter and one for the chain), so
no measurement finds spaCy's tokenizer cache filled by another. The filters (defaults) run on one core;
CPU seconds as on Thresher's side. Each filter first reads one short text that is not in the set,
untimed: its word tokenizer (spaCy) loads on first use, and that set-up stays outside the timing as
the stages' ``setup()`` does on Thresher's side. ``chained``: each document through the four filters
in turn (each on its own copy), as a pipeline runs them.
"""

import json
import sys
import time

from datatrove.data import Document
from datatrove.pipeline import filters

NAMES = ["GopherRepetitionFilter", "GopherQualityFilter", "C4QualityFilter", "FineWebQualityFilter"]
WARM_UP = "The tokenizer loads on first use.\nThis text is not measured."

with open(sys.argv[1], encoding="utf-8") as f:
    texts = [json.loads(line)["text"] for line in f]
which = sys.argv[2]
peers = [getattr(filters, name)() for name in (NAMES if which == "chained" else [which])]
for peer in peers:
    peer.filter(Document(text=WARM_UP, id="warm-up"))
copies = [[Document(text=t, id=str(i)) for _ in peers] for i, t in enumerate(texts)]
t0 = time.process_time()
kept = [[peer.filter(d) is True for peer, d in zip(peers, ds, strict=True)] for ds in copies]
cpu_s = time.process_time() - t0
print(json.dumps({"cpu_s": cpu_s, "kept": kept if which == "chained" else [k[0] for k in kept]}))
