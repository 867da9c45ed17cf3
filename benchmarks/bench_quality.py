"""The four rule stages vs datatrove 0.10.1's four filters: same documents, each measurement in a fresh process.

    .venv/bin/python benchmarks/bench_quality.py --docs 1000 [--repeat 3] [--input PAGES.jsonl.gz] [--json FILE]

Each filter alone sees every document (its cost on the same input, as a first stage would), and
``chained`` runs each document through the four in turn (every filter decides on its own copy of every
document), as a build runs its stages: there the rule stages share the document's words. Every one of
these measurements, on both sides, runs in a process of its own started for it, so none finds a cache
(Thresher's chunk cache, spaCy's tokenizer cache) filled by another: what is timed is a cold start on
unseen text. CPU seconds (``time.process_time`` inside that process, after imports and set-up) on one
core, so other load on a shared machine counts less; ``--repeat`` takes the median of that many runs.
Prints throughput per filter and in total, the ratio, and the share of equal decisions. datatrove's
filters run in the peer environment (``peer_env.py``, ``peers/datatrove_quality.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
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
CHAINED = "chained"
RUNS = [*PAIRS, (CHAINED, CHAINED)]  # (our measurement, the peer's)


def read_texts(path: str, limit: int) -> list[str]:
    with open_compressed(path) as f:
        return [orjson.loads(line)["text"] for line, _ in zip(f, range(limit), strict=False)]


def measure(which: str, path: str) -> dict:
    """One measurement in this process: a stage (or the four chained) over every text of ``path``."""
    texts = read_texts(path, sys.maxsize)
    names = [name for name, _ in PAIRS] if which == CHAINED else [which]
    stages = []
    for name in names:
        stage, _ = base.build({"stage": name})
        stage.setup()
        stages.append(stage)
    copies = [[Document(str(i), t, "b") for _ in stages] for i, t in enumerate(texts)]
    t0 = time.process_time()
    kept = [[s.decide(d) is None for s, d in zip(stages, ds, strict=True)] for ds in copies]
    cpu_s = time.process_time() - t0
    return {"cpu_s": cpu_s, "kept": kept if which == CHAINED else [k[0] for k in kept]}


def ours(which: str, path: Path) -> dict:
    """`measure` in a fresh Python process (this interpreter, this script)."""
    r = subprocess.run([sys.executable, __file__, "--one", which, "--input", str(path)], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"measuring {which} failed (exit {r.returncode}):\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def medians(path: Path, repeat: int) -> dict[str, dict[str, dict]]:
    """{"ours"|"peer": {measurement: {"cpu_s": median, "kept"}}}, the two sides alternating per round."""
    runs: dict[str, dict[str, list[dict]]] = {"ours": {}, "peer": {}}
    for _ in range(repeat):
        for which, peer_name in RUNS:
            runs["ours"].setdefault(which, []).append(ours(which, path))
            runs["peer"].setdefault(which, []).append(run_peer("datatrove_quality.py", path, peer_name))
    return {side: {which: {"cpu_s": statistics.median(r["cpu_s"] for r in rs), "kept": rs[0]["kept"],
                           "stable": all(r["kept"] == rs[0]["kept"] for r in rs)}
                   for which, rs in by.items()} for side, by in runs.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--size", type=int, default=2900, help="characters per document (the issue's 2.9 KB)")
    ap.add_argument("--repeat", type=int, default=1, help="fresh-process runs per measurement; the median is shown")
    ap.add_argument("--json", help="write the summary rows here too (run_all.py reads it)")
    ap.add_argument("--input", help="measure on the first --docs documents of this JSONL (.gz, .zst) instead, "
                                    "e.g. real web pages")
    ap.add_argument("--one", choices=[which for which, _ in RUNS], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:  # the benchmark's own child process: one measurement over the texts of --input
        print(json.dumps(measure(args.one, args.input)))
        return 0
    if args.repeat < 1:
        print("bench_quality.py: --repeat must be at least 1", file=sys.stderr)
        return 2

    if args.input:
        texts = read_texts(args.input, args.docs)
    else:
        texts = [d["text"] for d in speech_paragraph_docs(args.docs, args.size)]
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "texts.jsonl"
        path.write_bytes(b"".join(orjson.dumps({"text": t}) + b"\n" for t in texts))
        got = medians(path, args.repeat)
    n, mb = len(texts), sum(len(t.encode()) for t in texts) / 1e6
    print(f"{n} documents, {mb:.2f} MB, one core, CPU seconds, each measurement in a fresh process "
          f"(median of {args.repeat}), load average {load:.2f} -> {os.getloadavg()[0]:.2f}")
    print(f"{'filter':<20}{'thresher docs/s':>17}{'datatrove docs/s':>18}{'ratio':>8}{'same decision':>15}")
    total_ours = total_peer = 0.0
    for which, _ in RUNS:
        mine, peer = got["ours"][which], got["peer"][which]
        if which == CHAINED:
            print(f"{'all four':<20}{n / total_ours:>17.1f}{n / total_peer:>18.1f}{total_peer / total_ours:>8.1f}")
        else:
            total_ours += mine["cpu_s"]
            total_peer += peer["cpu_s"]
        same = sum(a == b for a, b in zip(mine["kept"], peer["kept"], strict=True)) / n
        print(f"{which:<20}{n / mine['cpu_s']:>17.1f}{n / peer['cpu_s']:>18.1f}{peer['cpu_s'] / mine['cpu_s']:>8.1f}"
              f"{same:>15.4f}{'' if mine['stable'] and peer['stable'] else '  (decisions varied between runs!)'}")
    chained_ours, chained_peer = got["ours"][CHAINED]["cpu_s"], got["peer"][CHAINED]["cpu_s"]
    print(f"CPU seconds: thresher all four {total_ours:.2f}, chained {chained_ours:.2f}; "
          f"datatrove all four {total_peer:.2f}, chained {chained_peer:.2f}")
    print(f"MB/s per core: thresher {mb / total_ours:.2f}, datatrove {mb / total_peer:.3f}")
    write_result(args.json, "quality", Path(args.input).name if args.input else paragraphs_name(args.docs, args.size),
                 [row("4 rule stages", "datatrove's 4 filters", "docs per CPU-second",
                      round(n / total_ours, 1), round(n / total_peer, 1)),
                  row("4 rule stages, chained", "datatrove's 4 filters, chained", "docs per CPU-second",
                      round(n / chained_ours, 1), round(n / chained_peer, 1))])
    return 0


if __name__ == "__main__":
    sys.exit(main())
