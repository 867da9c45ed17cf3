"""The engine alone (read JSONL, normalize, write .jsonl.zst) against datatrove's JsonlReader -> JsonlWriter.

Same corpus, same machine, same run, same number of workers and tasks (one per input file); both write
zstd-compressed JSONL. Thresher runs twice: with no stage (pure engine cost, like datatrove's
pipeline) and with ``normalize``.

    .venv/bin/python benchmarks/bench_engine.py [--docs 50000] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from functools import partial
from pathlib import Path

import yaml
from common import speech_paragraph_docs, timed, write_jsonl_files


def run_thresher(inp: Path, out: Path, workers: int, stages: list[dict]) -> None:
    from corpus import config
    from corpus.engine import build

    p = out.parent / f"{out.name}.yaml"
    p.write_text(yaml.safe_dump({"name": "bench", "input": {"paths": [str(inp / "*.jsonl")], "task_size_mb": 4096},
                                 "output": str(out), "workers": workers, "stages": stages}))
    build.run(config.load(p), quiet=True)


def run_datatrove(inp: Path, out: Path, workers: int, tasks: int) -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    LocalPipelineExecutor(pipeline=[JsonlReader(str(inp)), JsonlWriter(str(out / "data"), compression="zstd")],
                          tasks=tasks, workers=workers, logging_dir=str(out / "logs")).run()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=50_000)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    docs = speech_paragraph_docs(args.docs)
    write_jsonl_files(docs, tmp / "in", args.files)
    mb = sum(p.stat().st_size for p in (tmp / "in").iterdir()) / 2**20
    print(f"corpus: {args.docs} docs, {mb:.1f} MB in {args.files} files")
    print("| workers | datatrove JsonlReader->JsonlWriter | thresher (no stage) | thresher (normalize) | ratio (no stage / datatrove) |")
    print("| --- | --- | --- | --- | --- |")
    for w in args.workers:
        dt, _ = timed(partial(run_datatrove, tmp / "in", tmp / f"dt{w}", w, args.files))
        th, _ = timed(partial(run_thresher, tmp / "in", tmp / f"th{w}", w, []))
        tn, _ = timed(partial(run_thresher, tmp / "in", tmp / f"tn{w}", w, [{"stage": "normalize"}]))
        rate = lambda s: f"{args.docs / s:,.0f} docs/s ({mb / s:.1f} MB/s)"  # noqa: E731
        print(f"| {w} | {rate(dt)} | {rate(th)} | {rate(tn)} | {dt / th:.2f}x |")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
