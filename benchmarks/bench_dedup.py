"""MinHash dedup, Thresher vs datatrove's four MinHash steps, on the same corpus in the same run.

Corpus: ``--docs`` documents of about 2.9 KB, each a random mix of sentences from the public-domain
speeches bundled in ``tests/data/prose/`` (distinct documents, low pairwise Jaccard), of which
``--copies`` are edited copies of others at known exact Jaccard, spread evenly over the bands
0.5-0.6 ... 0.9-1.0 and shuffled through the input. Both tools read the same JSONL files with the same
number of worker processes; each runs as a subprocess whose process tree is sampled for peak RSS
(datatrove in the peer environment, ``peer_env.py``). The corpus is seeded (``--seed``).

Figures: wall seconds, documents/s, peak RSS (sum over the process tree, and the largest single
process), and recall per Jaccard band: an injected pair counts as found when the tool did not keep
both documents. ``--scaling`` also runs Thresher alone at several corpus sizes with the same injected
copies (so about the same candidate pairs) and a small ``partition_mb``, and reports the peak RSS of
its bucket and cluster phases from the ledger: the evidence that memory does not grow with corpus size.

    .venv/bin/python benchmarks/bench_dedup.py --docs 50000 --workers 2 --work /tmp/bench-dedup [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import orjson
import psutil
import yaml
from common import REPO, row, write_result
from dedup_corpus import edited_copy, prose_text, sentence_mixes
from peer_env import PEER_SCRIPTS, peer_python

BANDS = [(0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.01)]
RELATED = (0.3, 0.5)  # related but not near-duplicate: what a merge must not pull in


def build_corpus(n_docs: int, n_copies: int, out: Path, seed: int = 0,
                 related: int = 0) -> list[tuple[str, str, float]]:
    """Write ``out/{a,b}.jsonl``; returns the injected pairs ``(original id, copy id, exact Jaccard)``.
    ``related`` more copies (ids ``r<i>``, of other originals) sit at Jaccard 0.3-0.5: the LSH
    false positives that ``verify`` exists for. The default corpus has none and stays as it was."""
    rng = np.random.default_rng(seed)
    text = prose_text()
    base = sentence_mixes(text, n_docs - n_copies - related, 2900, rng)
    docs = [{"id": f"d{i}", "text": t} for i, t in enumerate(base)]
    pairs = []
    per_band = n_copies // len(BANDS)
    for b, (lo, hi) in enumerate(BANDS):
        for k in range(per_band):
            i = b * per_band + k
            target = rng.uniform(lo, min(hi, 1.0))
            copy, j = edited_copy(base[i], target, rng)
            docs.append({"id": f"c{i}", "text": copy})
            pairs.append((f"d{i}", f"c{i}", j))
    for k in range(related):
        i = len(BANDS) * per_band + k
        copy, j = edited_copy(base[i], rng.uniform(*RELATED), rng)
        docs.append({"id": f"r{i}", "text": copy})
        pairs.append((f"d{i}", f"r{i}", j))
    docs = [docs[i] for i in rng.permutation(len(docs))]
    out.mkdir(parents=True, exist_ok=True)
    half = len(docs) // 2
    for name, part in (("a.jsonl", docs[:half]), ("b.jsonl", docs[half:])):
        (out / name).write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in part))
    return pairs


def measured_run(cmd: list[str], cwd: Path) -> dict:
    """Run ``cmd``; wall seconds, CPU seconds (user + system of the whole process tree, which every
    process waits for) and peak RSS of the tree (sampled every 50 ms)."""
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peak_sum = peak_one = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_sum, peak_one
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                rss = [p.memory_info().rss for p in [root, *root.children(recursive=True)]]
            except psutil.Error:
                rss = []
            if rss:
                peak_sum, peak_one = max(peak_sum, sum(rss)), max(peak_one, max(rss))
            time.sleep(0.05)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, _ = proc.communicate()
    done.set()
    th.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise SystemExit(f"{cmd[:4]} failed:\n{out.decode(errors='replace')[-3000:]}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {"seconds": round(time.perf_counter() - t0, 1), "cpu_seconds": round(cpu, 1), "peak_rss_mb_tree": round(peak_sum / 2**20),
            "peak_rss_mb_process": round(peak_one / 2**20)}


def read_ids(files: list[Path]) -> set[str]:
    from corpus.io.jsonl import open_compressed

    ids = set()
    for p in files:
        with open_compressed(str(p)) as f:
            ids.update(orjson.loads(line)["id"] for line in f)
    return ids


def recall_by_band(pairs: list[tuple[str, str, float]], kept: set[str]) -> dict[str, float]:
    out = {}
    for lo, hi in BANDS:
        inside = [(a, b) for a, b, j in pairs if lo <= j < hi]
        found = sum(not (a in kept and b in kept) for a, b in inside)
        out[f"{lo:.1f}-{min(hi, 1.0):.1f}"] = round(found / len(inside), 3) if inside else None
    return out


def run_thresher(corpus: Path, work: Path, workers: int, **stage) -> tuple[dict, set[str], dict]:
    out = work / "thresher"
    shutil.rmtree(out, ignore_errors=True)
    pipeline = work / "thresher.yaml"
    pipeline.write_text(yaml.safe_dump({"name": "bench-dedup", "input": {"paths": [str(corpus / "a.jsonl"),
                                        str(corpus / "b.jsonl")]}, "output": str(out), "workers": workers,
                                        "stages": [{"stage": "dedup_minhash", **stage}]}))
    fig = measured_run([sys.executable, "-m", "corpus.cli", "build", str(pipeline), "--quiet"], REPO)
    stats = orjson.loads((out / "stats.json").read_bytes())
    st = next(s for s in stats["stages"] if s["stage"] == "dedup_minhash")
    return fig, read_ids(sorted((out / "data").glob("*.jsonl.zst"))), st


def run_datatrove(corpus: Path, work: Path, workers: int) -> tuple[dict, set[str]]:
    out = work / "datatrove"
    shutil.rmtree(out, ignore_errors=True)
    inp = work / "datatrove-input"  # datatrove reads a folder: link the same two files
    shutil.rmtree(inp, ignore_errors=True)
    inp.mkdir(parents=True)
    for name in ("a.jsonl", "b.jsonl"):
        os.symlink(corpus / name, inp / name)
    fig = measured_run([str(peer_python()), str(PEER_SCRIPTS / "datatrove_dedup.py"), str(inp), str(out),
                        str(workers)], work)
    return fig, read_ids(sorted((out / "out").glob("*.jsonl")))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=50_000)
    ap.add_argument("--copies", type=int, default=2_500, help="injected near-duplicates (spread over 5 bands)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench-dedup"))
    ap.add_argument("--seed", type=int, default=0, help="seed of the corpus (sentence mixes, edits, order)")
    ap.add_argument("--json", help="write the summary rows here too (run_all.py reads it)")
    ap.add_argument("--skip-datatrove", action="store_true")
    ap.add_argument("--scaling", type=str, default="", help="comma-separated corpus sizes for the memory test")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    report: dict = {"docs": args.docs, "copies": args.copies, "workers": args.workers, "cpus": os.cpu_count(),
                    "load_avg_before": os.getloadavg()}

    corpus = args.work / f"corpus-{args.docs}-{args.copies}-{args.seed}"
    t0 = time.perf_counter()
    pairs = build_corpus(args.docs, args.copies, corpus, args.seed)
    report["corpus_mb"] = round(sum((corpus / n).stat().st_size for n in ("a.jsonl", "b.jsonl")) / 2**20, 1)
    report["corpus_seconds"] = round(time.perf_counter() - t0, 1)
    print(f"corpus: {args.docs} docs, {report['corpus_mb']} MB, built in {report['corpus_seconds']} s", flush=True)

    fig, kept, st = run_thresher(corpus, args.work, args.workers)
    fig.update(docs_per_s=round(args.docs / fig["seconds"]), removed=args.docs - len(kept),
               recall=recall_by_band(pairs, kept), phases=st["phases"])
    report["thresher"] = fig
    print("thresher:", json.dumps({k: v for k, v in fig.items() if k != "phases"}), flush=True)
    if not args.skip_datatrove:
        fig, kept = run_datatrove(corpus, args.work, args.workers)
        fig.update(docs_per_s=round(args.docs / fig["seconds"]), removed=args.docs - len(kept),
                   recall=recall_by_band(pairs, kept))
        report["datatrove"] = fig
        report["speedup"] = round(report["datatrove"]["seconds"] / report["thresher"]["seconds"], 2)
        print("datatrove:", json.dumps(fig), flush=True)

    scaling = []
    for n in [int(x) for x in args.scaling.split(",") if x]:
        cdir = args.work / f"corpus-{n}-{args.copies}-{args.seed}"
        if not (cdir / "b.jsonl").exists():
            build_corpus(n, args.copies, cdir, args.seed)
        fig, kept, st = run_thresher(cdir, args.work, args.workers, partition_mb=1)
        ph = st["phases"]
        point = {"docs": n, "band_entries": ph["buckets"]["band_entries"], "partitions": ph["buckets"]["partitions"],
                 "candidate_pairs": ph["candidate_pairs"]["candidate_pairs"],
                 "peak_rss_mb_band_runs": ph["buckets"]["peak_rss_mb"]["band_runs"],
                 "peak_rss_mb_partitions": ph["buckets"]["peak_rss_mb"]["partitions"],
                 "peak_rss_mb_pairs": ph["candidate_pairs"]["peak_rss_mb"]["unique"],
                 "peak_rss_mb_clusters": ph["clusters"]["peak_rss_mb"], "seconds": fig["seconds"]}
        scaling.append(point)
        print("scaling:", json.dumps(point), flush=True)
    if scaling:
        report["scaling"] = scaling
    report["load_avg_after"] = os.getloadavg()
    (args.work / "report.json").write_text(json.dumps(report, indent=2))
    print(f"report: {args.work / 'report.json'}")
    rows = []
    if "datatrove" in report:
        th, dt = report["thresher"], report["datatrove"]
        rows = [row("thresher dedup_minhash", "datatrove MinHash (4 steps)", "docs/s", th["docs_per_s"], dt["docs_per_s"]),
                row("thresher dedup_minhash", "datatrove MinHash (4 steps)", "recall, Jaccard 0.8-0.9",
                    th["recall"]["0.8-0.9"], dt["recall"]["0.8-0.9"])]
    write_result(args.json, "dedup", f"dedup corpus: {args.docs:,} sentence mixes of tests/data/prose, "
                 f"{args.copies:,} edited copies at Jaccard 0.5-1.0, seed {args.seed}", rows, report=report)


if __name__ == "__main__":
    main()
