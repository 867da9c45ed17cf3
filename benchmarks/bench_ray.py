"""The Ray executor against the local executor: same corpus, same pipeline, same workers, same run.

Each build is the real command line in a subprocess (``thresher build ... --executor local|ray``), so
the Ray figure includes everything a user waits for: starting a local Ray instance, its worker
processes, the tasks, the MinHash reduce sub-phases and the shutdown. Builds alternate (local, ray,
local, ray, ...) so that load from elsewhere on the machine falls on both alike; the figure per
executor is the median. Every Ray build's ``data/`` is checked byte for byte against the local one.

The fixed cost of Ray (``ray.init`` of a local instance, the first tasks' worker start, shutdown) is
timed on its own, so that the overhead can be split into what a longer run amortises and what it
does not.

    .venv/bin/python benchmarks/bench_ray.py [--docs 60000] [--workers 2] [--repeat 2] [--json FILE]

Ray is Thresher's own optional executor (the ``ray`` extra), so it runs in the project's environment.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson
import yaml
from common import REPO, paragraphs_name, row, speech_paragraph_docs, timed, write_jsonl_files, write_result

STAGES = [{"stage": "normalize"}, {"stage": "length", "min_words": 50}, {"stage": "dedup_minhash"}]


def build(pipeline: Path, out: Path, executor: str) -> float:
    """Wall seconds of one ``thresher build``; fails loudly if the build does."""
    cmd = [sys.executable, "-m", "corpus.cli", "build", str(pipeline), "--quiet", "--output", str(out),
           "--executor", executor]
    seconds, r = timed(lambda: subprocess.run(cmd, cwd=REPO, capture_output=True, text=True))
    if r.returncode != 0:
        raise SystemExit(f"{executor} build failed:\n{r.stderr}")
    return seconds


def _noop(x: int) -> int:
    return x


def ray_fixed_cost(workers: int) -> dict[str, float]:
    """Seconds to start a local instance, run one trivial task per worker, and shut it down."""
    from corpus.engine.ray_executor import RayExecutor

    t_init, ex = timed(lambda: RayExecutor(workers))
    t_first, _ = timed(lambda: ex.map(_noop, list(range(workers))))
    t_close, _ = timed(ex.close)
    return {"init": t_init, "first_tasks": t_first, "shutdown": t_close}


def data_bytes(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted((run_dir / "data").rglob("*")) if p.is_file()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=60000, help="documents of about 2.9 KB")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--task-size-mb", type=float, default=4.0)
    ap.add_argument("--repeat", type=int, default=2, help="builds per executor, alternating")
    ap.add_argument("--work", type=Path, help="scratch folder (default: a temporary one, removed after)")
    ap.add_argument("--json", help="write the summary rows here too (run_all.py reads it)")
    args = ap.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-ray-"))
    work.mkdir(parents=True, exist_ok=True)
    docs = speech_paragraph_docs(args.docs)
    inp = work / "input"
    write_jsonl_files(docs, inp, 8)
    mb = sum(p.stat().st_size for p in inp.glob("*.jsonl")) / 1e6
    pipeline = work / "p.yaml"
    pipeline.write_text(yaml.safe_dump({
        "name": "bench-ray", "input": {"paths": [str(inp / "*.jsonl")], "task_size_mb": args.task_size_mb},
        "output": str(work / "out"), "workers": args.workers, "stages": STAGES}, sort_keys=False))

    seconds: dict[str, list[float]] = {"local": [], "ray": []}
    reference: dict[str, bytes] | None = None
    tasks = 0
    for i in range(args.repeat):
        for executor in ("local", "ray"):
            out = work / f"{executor}-{i}"
            shutil.rmtree(out, ignore_errors=True)
            seconds[executor].append(build(pipeline, out, executor))
            tasks = orjson.loads((out / "stats.json").read_bytes())["tasks"]
            got = data_bytes(out)
            if reference is None:
                reference = got
            elif got != reference:
                raise SystemExit(f"{out}/data differs from the first build's")
            shutil.rmtree(out)
            print(f"  {executor} build {i + 1}: {seconds[executor][-1]:.1f} s", flush=True)
    fixed = ray_fixed_cost(args.workers)

    local, ray_s = statistics.median(seconds["local"]), statistics.median(seconds["ray"])
    overhead = (ray_s - local) / local * 100
    fixed_total = sum(fixed.values())
    print(f"\ncorpus: {args.docs} docs, {mb:.0f} MB in 8 files, {tasks} tasks; stages: "
          + ", ".join(s["stage"] for s in STAGES) + f"; workers {args.workers}; load average at end "
          + " ".join(f"{x:.1f}" for x in os.getloadavg()))
    print("| executor | builds (s) | median (s) | docs/s |")
    print("| --- | --- | --- | --- |")
    for name, med in (("local", local), ("ray", ray_s)):
        runs = ", ".join(f"{s:.1f}" for s in seconds[name])
        print(f"| {name} | {runs} | {med:.1f} | {args.docs / med:,.0f} |")
    print(f"\nRay overhead: {overhead:+.1f}% ({ray_s - local:+.1f} s); data/ byte-identical in every build")
    print(f"Ray fixed cost on its own: {fixed_total:.1f} s (init {fixed['init']:.1f}, first tasks "
          f"{fixed['first_tasks']:.1f}, shutdown {fixed['shutdown']:.1f})")
    write_result(args.json, "ray", f"{paragraphs_name(args.docs)}, in 8 JSONL files",
                 [row("ray executor", "local executor", "docs/s (median build)", round(args.docs / ray_s),
                      round(args.docs / local))], seconds=seconds, ray_fixed_cost_s=fixed, tasks=tasks)
    if not args.work:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
