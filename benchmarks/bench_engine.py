"""The engine alone (read JSONL, normalize, write .jsonl.zst) against datatrove's JsonlReader -> JsonlWriter.

Same corpus, same machine, same run, same number of workers and tasks (one per input file); both write
zstd-compressed JSONL. Thresher runs twice: with no stage (pure engine cost, like datatrove's
pipeline) and with ``normalize``. datatrove runs in the peer environment (``peer_env.py``), timed
around its executor's run as Thresher is around ``build.run``.

    .venv/bin/python benchmarks/bench_engine.py [--docs 50000] [--workers 1 2] [--json FILE]

``--task-sizes 64 4 1`` measures instead what smaller tasks cost: the corpus in one file, Thresher
alone (with ``normalize``) at each ``task_size_mb``.

    .venv/bin/python benchmarks/bench_engine.py --docs 20000 --files 1 --task-sizes 64 4 1
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from functools import partial
from pathlib import Path

import yaml
from common import paragraphs_name, row, speech_paragraph_docs, timed, write_jsonl_files, write_result
from peer_env import run_peer

from corpus import config  # imported before any clock starts, as the peer's script imports datatrove
from corpus.engine import build


def run_thresher(inp: Path, out: Path, workers: int, stages: list[dict], task_size_mb: float = 4096) -> None:
    p = out.parent / f"{out.name}.yaml"
    p.write_text(yaml.safe_dump({"name": "bench", "input": {"paths": [str(inp / "*.jsonl")], "task_size_mb": task_size_mb},
                                 "output": str(out), "workers": workers, "stages": stages}))
    build.run(config.load(p), quiet=True)


def run_datatrove(inp: Path, out: Path, workers: int, tasks: int) -> float:
    return run_peer("datatrove_engine.py", inp, out, workers, tasks)["seconds"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=50_000)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--json", help="write the summary rows here too (run_all.py reads it)")
    ap.add_argument("--task-sizes", type=float, nargs="+", help="task_size_mb values to compare (Thresher only)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    docs = speech_paragraph_docs(args.docs)
    write_jsonl_files(docs, tmp / "in", args.files)
    mb = sum(p.stat().st_size for p in (tmp / "in").iterdir()) / 2**20
    print(f"corpus: {args.docs} docs, {mb:.1f} MB in {args.files} files")
    if args.task_sizes:
        task_size_table(tmp, args.docs, mb, args.workers, args.task_sizes)
        shutil.rmtree(tmp, ignore_errors=True)
        return
    print("| workers | datatrove JsonlReader->JsonlWriter | thresher (no stage) | thresher (normalize) | ratio (no stage / datatrove) |")
    print("| --- | --- | --- | --- | --- |")
    rows = []
    for w in args.workers:
        dt = run_datatrove(tmp / "in", tmp / f"dt{w}", w, args.files)
        th, _ = timed(partial(run_thresher, tmp / "in", tmp / f"th{w}", w, []))
        tn, _ = timed(partial(run_thresher, tmp / "in", tmp / f"tn{w}", w, [{"stage": "normalize"}]))
        rate = lambda s: f"{args.docs / s:,.0f} docs/s ({mb / s:.1f} MB/s)"  # noqa: E731
        print(f"| {w} | {rate(dt)} | {rate(th)} | {rate(tn)} | {dt / th:.2f}x |")
        rows.append(row(f"thresher build, no stage, {w} worker(s)", "datatrove JsonlReader->JsonlWriter",
                        "docs/s", round(args.docs / th), round(args.docs / dt)))
    shutil.rmtree(tmp, ignore_errors=True)
    write_result(args.json, "engine", f"{paragraphs_name(args.docs)}, in {args.files} JSONL files", rows)


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def task_size_table(tmp: Path, n_docs: int, mb: float, workers: list[int], sizes: list[float]) -> None:
    """Thresher with ``normalize`` at each task size: what the extra tasks (markers, shards, and with
    more than one worker the process pool) cost. Best of 3 builds; CPU seconds (this process and its
    finished workers) as well as wall time, since CPU time is what others' load on the machine disturbs least."""
    from corpus.engine import plan

    print("| workers | task_size_mb | tasks | wall, best of 3 | CPU s, best of 3 | CPU vs the largest size |")
    print("| --- | --- | --- | --- | --- | --- |")
    for w in workers:
        first = None
        for ts in sizes:
            walls, cpus = [], []
            for k in range(3):
                c0 = _cpu_seconds()
                walls.append(timed(partial(run_thresher, tmp / "in", tmp / f"ts{w}-{ts}-{k}", w,
                                           [{"stage": "normalize"}], ts))[0])
                cpus.append(_cpu_seconds() - c0)
            tasks = len(plan.plan(config.load(tmp / f"ts{w}-{ts}-0.yaml")))
            first = first or min(cpus)
            print(f"| {w} | {ts:g} | {tasks} | {min(walls):.2f} s ({n_docs / min(walls):,.0f} docs/s, "
                  f"{mb / min(walls):.1f} MB/s) | {min(cpus):.2f} | {min(cpus) / first:.2f}x |")


if __name__ == "__main__":
    main()
