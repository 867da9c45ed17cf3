"""``thresher tokenize RUN_DIR --tokenizer T``: tokenize a finished run's ``data/`` into ``RUN_DIR/tokens/``.

Each task's ``data/<task>-NNN`` shards become the tokens task ``<task>``, read in the order the build
wrote them, so the output is byte for byte what a ``tokenize`` stage at the end of the same pipeline
writes. A task with a summary from the same tokenizer and settings is skipped: rerunning after a kill
resumes.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from corpus.errors import UserError
from corpus.rundir import DATA, RunDir, read_shards

_LOADED: dict[tuple[str, str | None], Any] = {}


def data_tasks(run_dir: Path) -> dict[str, list[Path]]:
    """``task id -> data shards`` of a run, in task and shard order."""
    run = RunDir(run_dir)
    if not run.data.is_dir():
        raise UserError(f"{run_dir} is not a Thresher run directory (no {DATA}/)")
    from corpus.io.writers import shard_prefix

    tasks: dict[str, list[Path]] = {}
    for p in run.shards(DATA):
        tasks.setdefault(shard_prefix(p), []).append(p)
    if not tasks:
        raise UserError(f"{run.data} holds no .jsonl.zst or .parquet shards")
    return tasks


def tokenize_task(job: dict[str, Any]) -> dict[str, Any]:
    """One task (runs in a worker): read its data shards, write its token shards and summary."""
    from corpus.token_shards import Settings, TaskTokens
    from corpus.tokenizer import load, set_threads

    settings = Settings(**job["settings"])
    key = (settings.tokenizer, settings.eos_token)
    if key not in _LOADED:
        set_threads(job["threads"])
        _LOADED[key] = load(settings.tokenizer, settings.eos_token)
    tok = _LOADED[key]
    out = TaskTokens(tok, settings, Path(job["tokens_dir"]), job["task"])
    for _ in out.run(read_shards([Path(f) for f in job["files"]]), job["batch_size"]):
        pass
    return out.summary


def _resumable(tokens_dir: Path, settings, tok, overwrite: bool) -> None:
    """Refuse to mix two tokenizations in one folder; ``--overwrite`` starts the folder afresh."""
    from corpus.io import atomic
    from corpus.token_shards import made_with, summaries_dir

    if not tokens_dir.exists():
        return
    if overwrite:
        shutil.rmtree(tokens_dir)
        return
    for p in sorted(summaries_dir(tokens_dir).glob("*.json")):
        summ = atomic.read_json(p)
        if not made_with(summ, tok, settings):
            raise UserError(f"{tokens_dir} holds tokens from another tokenizer or settings; "
                            "use --overwrite or --output")


def cmd_tokenize(args) -> int:
    from corpus.engine.executor import LocalExecutor
    from corpus.token_shards import Settings, task_summary, write_manifests
    from corpus.tokenizer import load, rayon_threads, set_threads

    run_dir = Path(args.run_dir)
    tasks = data_tasks(run_dir)
    mix: dict[str, float] = {}
    for item in args.mix or []:
        source, sep, weight = item.rpartition("=")
        try:
            mix[source] = float(weight)
        except ValueError:
            sep = ""
        if not sep or not source:
            raise UserError(f"--mix {item!r}: expected SOURCE_GLOB=WEIGHT")
    settings = Settings(args.tokenizer, args.val_fraction, mix, args.seed, args.shard_size_mb, args.eos_token)
    settings.check()
    if args.workers < 1 or args.batch_size < 1:
        raise UserError("--workers and --batch-size must be >= 1")
    threads = args.threads or rayon_threads(args.workers)
    set_threads(threads)
    tok = load(settings.tokenizer, settings.eos_token)
    _LOADED[(settings.tokenizer, settings.eos_token)] = tok  # one worker runs in this process: load once
    tokens_dir = Path(args.output) if args.output else RunDir(run_dir).tokens
    _resumable(tokens_dir, settings, tok, args.overwrite)
    jobs = [{"tokens_dir": str(tokens_dir), "task": t, "files": [str(f) for f in files],
             "settings": dataclasses.asdict(settings), "batch_size": args.batch_size, "threads": threads}
            for t, files in tasks.items() if task_summary(tokens_dir, t) is None]
    t0 = time.perf_counter()
    executor = LocalExecutor(args.workers)
    try:
        executor.map(tokenize_task, jobs)
    finally:
        executor.close()
    manifest = write_manifests(tokens_dir, list(tasks), settings, tok)
    for pattern in manifest["mix"]["unused_patterns"]:
        print(f"thresher: warning: --mix pattern {pattern!r} matches no source of {run_dir} (its weight is "
              f"ignored; sources: {', '.join(sorted(manifest['mix']['sources'])[:5])})", file=sys.stderr)
    seconds = time.perf_counter() - t0
    totals = manifest["totals"]
    print(f"tokens: {tokens_dir} ({len(manifest['shards'])} shard(s), {totals['sequences']} sequences, "
          f"{totals['tokens']} tokens, {manifest['dtype']}; {len(tasks) - len(jobs)} task(s) already done; "
          f"{seconds:.1f}s)")
    return 0


def register(sub) -> None:
    p = sub.add_parser("tokenize", help="tokenize a run's data/ into Megatron shards under RUN_DIR/tokens/")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished run directory")
    p.add_argument("--tokenizer", required=True, help="tokenizer folder or hub name")
    p.add_argument("--val-fraction", type=float, default=0.0, help="documents held out to tokens/val/ by id hash")
    p.add_argument("--mix", action="append", metavar="SOURCE_GLOB=WEIGHT",
                   help="up- or down-sample a source (repeatable; first match wins; others weigh 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the mixture's sampling (default 0)")
    p.add_argument("--shard-size-mb", type=float, default=1024.0, help="roll over to a new shard at this .bin size")
    p.add_argument("--eos-token", help="the token ending each sequence (default: the tokenizer's EOS)")
    p.add_argument("--output", help="tokens folder (default RUN_DIR/tokens)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1; each gets cores/workers threads)")
    p.add_argument("--threads", type=int, help="encoder threads per worker (default cores / workers)")
    p.add_argument("--batch-size", type=int, default=512, help="documents per encode batch (default 512)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing tokens folder")
    p.set_defaults(func=cmd_tokenize)
