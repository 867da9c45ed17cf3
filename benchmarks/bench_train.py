"""Trainer throughput on CPU: Thresher's loop vs Hugging Face `Trainer`, same model, data and batch shape, same run.

Data: a byte-level BPE (``--vocab``) trained on the public-domain speeches in ``tests/data/prose/``,
the speeches tokenized into a ``tokens/`` folder through `corpus.tokens`, packed into windows of
``--seq-len``. Model: a Llama built from the same config for both (about 7.3M parameters with the
defaults). Both take ``--batch`` windows a step, fp32, AdamW with weight decay, warmup + cosine, one
process with ``--threads`` threads; HF `Trainer` gets the very same windows (``input_ids`` = ``labels``)
and runs in the peer environment (``peer_env.py``: transformers and accelerate as a user installs them).

Figures: median tokens/s over the steps after ``--warmup``, and MFU = FLOPs/token (6N + attention, as
`trainer.model.flops_per_token` documents) x tokens/s over a measured fp32 matmul peak on the same
threads. The trainers run in ``--rounds`` alternating rounds (so a change in the machine's load falls
on all of them alike); figures are medians over rounds. ``--compile`` adds a Thresher run with
per-block ``torch.compile``. Each run writes its checkpoint only at the end, outside the timed steps.

    .venv/bin/python benchmarks/bench_train.py --steps 12 --warmup 3 --rounds 3 --compile --work /tmp/bench-train \\
        [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from common import row, write_result
from peer_env import run_peer
from trainer_data import build_tokenizer, build_tokens, documents


def prepare(work: Path, vocab: int) -> tuple[Path, Path]:
    """Tokenizer folder and ``tokens/`` folder from all the speeches (built once per ``work``)."""
    tok, tokens = work / "tok", work / "tokens"
    docs = documents("state_union") + documents("inaugural")
    if not (tok / "tokenizer.json").exists():
        build_tokenizer(tok, vocab_size=vocab, folder="state_union")
    if not (tokens / "manifest.json").exists():
        build_tokens(work, docs, tok)
    return tok, tokens


def thresher_config(work: Path, name: str, tok: Path, tokens: Path, model: dict, args, **extra) -> Path:
    out = work / name
    cfg = {"task": "pretrain", "tokenizer": str(tok), "model": model,
           "data": {"tokens": str(tokens), "seq_len": args.seq_len},
           "train": {"steps": args.steps, "micro_batch_size": args.batch, "grad_accum": 1, "lr": 1e-3,
                     "warmup_steps": 2, "weight_decay": 0.1, "precision": args.precision},
           "checkpoint": {"every": 0, "keep": 1}, "output": {"dir": str(out), "export": False, "progress": False,
                                                                      "log_every": 1},  # per-step figures
           **extra}
    out.mkdir(parents=True, exist_ok=True)
    (out / "train.yaml").write_text(yaml.safe_dump(cfg))
    return out / "train.yaml"


def run_thresher(config: Path, warmup: int) -> float:
    from trainer import config as tconfig
    from trainer import loop

    shutil.rmtree(config.parent / "ckpt", ignore_errors=True)  # a fresh run, not a resume of the last round
    loop.run(tconfig.load(config))
    rows = [json.loads(ln) for ln in (config.parent / "metrics.jsonl").read_text().splitlines()]
    return statistics.median(r["tokens_per_s"] for r in rows if "loss" in r and r["step"] > warmup)


def run_hf_trainer(config: Path, warmup: int, gpu_bf16: bool = False) -> tuple[float, str]:
    """HF `Trainer` in the peer environment, on the windows Thresher's data module yields and the model
    Thresher would build (saved with ``save_pretrained``, so both start from the same weights)."""
    from trainer import config as tconfig
    from trainer.data import open_data
    from trainer.model import build_model, load_tokenizer, tokenizer_sha256

    cfg = tconfig.load(config)
    tok = load_tokenizer(cfg.tokenizer)
    packed, _, _ = open_data(cfg, tok, tokenizer_sha256(cfg.tokenizer))
    t = cfg.train
    windows = np.stack([packed.batch([g])[0][0].numpy() for g in range(t.steps * t.micro_batch_size)])
    np.save(config.parent / "windows.npy", windows)
    build_model(cfg, tok).save_pretrained(config.parent / "model")
    settings = {"output_dir": str(config.parent), "batch": t.micro_batch_size, "steps": t.steps, "lr": t.lr,
                "weight_decay": t.weight_decay, "warmup_steps": t.warmup_steps, "grad_clip": t.grad_clip,
                "betas": list(t.betas), "seed": t.seed, "threads": torch.get_num_threads(), "gpu_bf16": gpu_bf16,
                "warmup": warmup}
    r = run_peer("hf_trainer.py", config.parent / "model", config.parent / "windows.npy", json.dumps(settings))
    return r["tokens_per_s"], r["optim"]


def matmul_peak(n: int = 2048, reps: int = 10) -> float:
    """Measured fp32 FLOP/s of a square matmul: the most this CPU does on the model's main operation."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    t0 = time.perf_counter()
    for _ in range(reps):
        torch.mm(a, b)
    return 2 * n ** 3 * reps / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/bench-train"))
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5, help="steps left out of the median")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--vocab", type=int, default=8192)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--precision", default="fp32")
    p.add_argument("--compile", action="store_true", help="also time Thresher with parallel.compile")
    p.add_argument("--rounds", type=int, default=3, help="rounds, each running every trainer once")
    p.add_argument("--json", help="write the summary rows here too (run_all.py reads it)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    args.work = args.work.resolve()  # the configs it writes name their data by this path
    args.work.mkdir(parents=True, exist_ok=True)
    tok, tokens = prepare(args.work, args.vocab)
    model = {"arch": "llama", "hidden_size": args.hidden, "num_layers": args.layers, "num_heads": 8,
             "intermediate_size": 704}

    from trainer import config as tconfig
    from trainer.model import build_model, flops_per_token, load_tokenizer

    base = thresher_config(args.work, "thresher", tok, tokens, model, args)
    cfg = tconfig.load(base)
    m = build_model(cfg, load_tokenizer(cfg.tokenizer))
    params, fpt = sum(q.numel() for q in m.parameters()), flops_per_token(m, args.seq_len)
    configs = {"hf_trainer": thresher_config(args.work, "hf", tok, tokens, model, args),
               "thresher": base}
    if args.compile:
        configs["thresher_compile"] = thresher_config(args.work, "compiled", tok, tokens, model, args,
                                                      parallel={"compile": True})
    # Rounds alternate the trainers, so a change in the machine's load falls on all of them alike.
    runs: dict[str, list[float]] = {name: [] for name in configs}
    peaks = []
    for _ in range(args.rounds):
        peaks.append(matmul_peak())
        for name, config in configs.items():
            if name == "hf_trainer":
                tps, optim = run_hf_trainer(config, args.warmup)
            else:
                tps = run_thresher(config, args.warmup)
            runs[name].append(tps)
    peak = statistics.median(peaks)
    results = {name: statistics.median(v) for name, v in runs.items()}
    print(f"model: llama, {params / 1e6:.2f}M parameters, vocab {m.config.vocab_size}, seq {args.seq_len}, "
          f"batch {args.batch}, {args.threads} threads, {args.precision}; HF optimizer {optim}")
    print(f"fp32 matmul peak, median of {args.rounds} rounds: {peak / 1e9:.1f} GFLOP/s "
          f"(per round: {', '.join(f'{q / 1e9:.1f}' for q in peaks)}); {fpt / 1e6:.1f} MFLOP per token")
    print("| trainer | tokens/s (median of rounds) | per round | MFU vs matmul peak |\n| --- | ---: | --- | ---: |")
    for name, tps in results.items():
        print(f"| {name} | {tps:,.0f} | {', '.join(f'{v:,.0f}' for v in runs[name])} | {fpt * tps / peak:.1%} |")
    labels = {"thresher": "thresher train loop", "thresher_compile": "thresher train loop, compile: true"}
    rows = [row(labels[name], "HF Trainer", "tokens/s (median of rounds)", round(tps), round(results["hf_trainer"]))
            for name, tps in results.items() if name != "hf_trainer"]
    write_result(args.json, "train", f"tests/data/prose speeches tokenized with a {args.vocab:,}-token BPE, "
                 f"packed into {args.seq_len}-token windows", rows, params=params, matmul_peak_flops=peak,
                 runs=runs)


if __name__ == "__main__":
    main()
