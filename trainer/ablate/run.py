"""``thresher ablate``: builds, one shared tokenizer, tokens per variant, proxy runs per seed, evals, report.

Every step is addressed by what decides it and skipped when its output is already complete, so a killed
ablation rerun with the same command redoes nothing finished: builds (see `builds`), the tokenizer
(``OUTPUT/tokenizer/<hash>/``, by the corpus and settings it is trained on), tokens
(``OUTPUT/tokens/<hash>/``, one per final build and mix), runs (``OUTPUT/runs/<hash>/``, one per tokens
folder, recipe and seed: identical variants share them), and each checkpoint's eval
(``eval-step-NNNNNN.json`` beside the checkpoints). The data side runs as ``thresher`` commands
(``validate``, ``build``, ``tokenizer train``, ``tokenize``: `trainer.ablate.proc`); the runs go as
``proxy.launch`` says (`trainer.ablate.launch`); evals use ``thresher eval``'s scorer in this process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import sys
from pathlib import Path
from typing import Any

import orjson

from corpus import rundir
from corpus.io.atomic import read_json, write_json
from trainer.ablate import builds as builds_mod
from trainer.ablate import launch
from trainer.ablate.experiment import Experiment
from trainer.ablate.proc import thresher
from trainer.config import CHECKPOINT_DIR, METRICS_FILE

TOKENIZER, TOKENS, RUNS = "tokenizer", "tokens", "runs"


def log(msg: str) -> None:
    print(f"thresher ablate: {msg}", file=sys.stderr, flush=True)


def _hash(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def _command(*argv: str) -> None:
    """Run a ``thresher`` command; its summary is progress here (stdout is the report's path)."""
    sys.stderr.write(thresher(*argv))


def tokenizer(exp: Experiment, base_run: Path) -> str:
    """The experiment's tokenizer: the folder given, or one trained once on the base variant's corpus."""
    if exp.tokenizer:
        return exp.tokenizer
    out = exp.output / TOKENIZER / _hash({"corpus": base_run.name, "train": exp.tokenizer_train})
    if (out / "tokenizer.json").is_file():
        return str(out)
    t = exp.tokenizer_train
    argv = ["tokenizer", "train", "--input", str(base_run), "--vocab-size", str(t["vocab_size"]),
            "--output", str(out), "--overwrite"]
    for key in ("min_frequency", "max_docs"):
        if key in t:
            argv += [f"--{key.replace('_', '-')}", str(t[key])]
    log(f"tokenizer: training on {base_run}")
    _command(*argv)
    return str(out)


def tokenize(exp: Experiment, run: Path, tok: str, mix: dict[str, float]) -> Path:
    out = exp.output / TOKENS / _hash({"run": run.name, "tokenizer": tok, "mix": mix})
    if not (out / rundir.TOKENS_MANIFEST).is_file():
        log(f"tokens: {run.name} -> {out.name}" + (f" (mix {mix})" if mix else ""))
        _command("tokenize", str(run), "--tokenizer", tok, "--output", str(out),
                 *[a for p, w in mix.items() for a in ("--mix", f"{p}={w}")])
    return out


def train_config(exp: Experiment, tokens: Path, tok: str, seed: int) -> launch.Run:
    """A proxy run: the token budget as steps of ``micro_batch_size`` windows (the global batch, whatever
    the launch), a checkpoint every ``eval.every`` of them; addressed by that recipe."""
    p = exp.proxy
    steps = max(1, math.ceil(p["tokens"] / (p["micro_batch_size"] * p["seq_len"])))
    every = max(1, round(steps * exp.every))
    recipe = {"task": "pretrain", "tokenizer": tok, "model": p["model"],
              "data": {"tokens": str(tokens), "seq_len": p["seq_len"]},
              "train": {"steps": steps, "micro_batch_size": p["micro_batch_size"], "lr": p["lr"],
                        "warmup_steps": max(1, steps // 10), "seed": seed},
              "checkpoint": {"every": every, "keep": steps // every + 2}, "eval": {"every": 0}}
    out = exp.output / RUNS / _hash(recipe)
    return launch.Run({**recipe, "output": {"dir": str(out), "export": False, "progress": False}}, out)


def done(run: launch.Run) -> bool:
    """Has the run saved its last step's checkpoint?"""
    from trainer import checkpoint

    last = checkpoint.latest(run.out / CHECKPOINT_DIR)
    return last is not None and int(last.name.split("-")[1]) == run.config["train"]["steps"]


def train(runs: list[launch.Run], exp: Experiment) -> None:
    """Train the runs not finished earlier (each once, however many variants share it)."""
    import torch

    pending: dict[Path, launch.Run] = {}
    for run in runs:
        if done(run):
            log(f"run {run.out.name} (seed {run.config['train']['seed']}): done earlier, reused")
        else:
            pending.setdefault(run.out, run)
    launch.train(list(pending.values()), exp.launch, torch.cuda.device_count(), log)


def evaluate_run(exp: Experiment, out: Path) -> list[dict[str, Any]]:
    """Each checkpoint's scores (per item too), oldest first, computed once and kept beside the run."""
    from trainer import checkpoint
    from trainer.evaluate import evaluate

    points = []
    for step, ckpt in checkpoint.complete(out / CHECKPOINT_DIR):
        f = out / f"eval-step-{step:06d}.json"
        if not f.is_file():
            scores = evaluate(str(ckpt), exp.heldout, exp.tasks, stride=exp.stride)
            write_json(f, {"step": step, "summary": scores.summary(), "items": dataclasses.asdict(scores)})
        points.append(read_json(f))
    return points


def losses(out: Path) -> list[tuple[int, float]]:
    f = out / METRICS_FILE
    if not f.is_file():
        return []
    rows = [orjson.loads(line) for line in f.read_bytes().splitlines() if line.strip()]
    return [(r["step"], r["loss"]) for r in rows if "loss" in r]


def run(exp: Experiment) -> Path:
    """The whole ablation; returns the report's path."""
    from trainer.ablate import report, stats

    final = builds_mod.build_all(exp, log)
    base = next((v for v in exp.variants if v.name == "base"), exp.variants[0])
    tok = tokenizer(exp, builds_mod.run_dir(exp, final[base.name]))
    runs, tokens = {}, {}
    for v in exp.variants:
        tokens[v.name] = tokenize(exp, builds_mod.run_dir(exp, final[v.name]), tok, v.mix)
        runs[v.name] = [train_config(exp, tokens[v.name], tok, seed) for seed in exp.proxy["seeds"]]
    train([r for rs in runs.values() for r in rs], exp)
    variants = {}
    for v in exp.variants:
        run_dir = builds_mod.run_dir(exp, final[v.name])
        manifest = read_json(tokens[v.name] / rundir.TOKENS_MANIFEST)
        kept = read_json(rundir.RunDir(run_dir).stats)["kept"]
        variants[v.name] = {"build": run_dir, "tokens": manifest["totals"]["tokens"], "documents": kept,
                            "runs": [{"seed": r.config["train"]["seed"], "dir": str(r.out),
                                      "evals": evaluate_run(exp, r.out), "loss": losses(r.out),
                                      "steps": r.config["train"]["steps"]} for r in runs[v.name]]}
    results = stats.results(exp, variants)
    write_json(exp.output / "results.json", results)
    return report.write(exp, results, variants)
