"""Trainer MFU on GPUs: a ~350M-parameter Llama in bf16, FSDP2, compiled (goal: >= 40% MFU on H100/H200-class cards).

Needs a CUDA GPU (``run_all.py`` skips it, saying so, where there is none); run it wherever one exists
and record the figure in docs/benchmarks.md. Data as in ``bench_train.py``: a byte-level BPE
(``--vocab``) trained on the speeches in ``tests/data/prose``, tokenized and packed into ``--seq-len``
windows (the corpus is small, so the run cycles through epochs; throughput does not depend on the
text). The model is hidden 1024, 24 layers, 16 heads, SwiGLU 2816: about 350M parameters with a 32k
vocabulary.

Thresher's loop runs with ``precision: auto`` (bf16 autocast), fused AdamW, per-block
``torch.compile`` and ``output.log_every: 10`` (the loop's only host syncs); under ``torchrun`` with
several GPUs, FSDP2 (``parallel.strategy: fsdp``, bf16 parameters in compute, fp32 reductions). MFU is
the trainer's own ``mfu`` metric (6N + attention FLOPs per token over the card's dense bf16 peak from
`trainer.metrics.PEAK_BF16`, times the GPUs), median over the steps after ``--warmup``; peak memory is
``torch.cuda.max_memory_allocated`` on rank 0. ``--hf`` also times HF `Trainer` (bf16) on the same
model, windows and batch, in the peer environment (one process only).

    .venv/bin/python benchmarks/bench_train_gpu.py --steps 40 --work /tmp/bench-train-gpu [--hf] [--json FILE]
    torchrun --nproc_per_node 8 benchmarks/bench_train_gpu.py --steps 40 --work /tmp/bench-train-gpu
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch
from bench_train import prepare, run_hf_trainer, thresher_config
from common import row, write_result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/bench-train-gpu"))
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--warmup", type=int, default=10, help="steps left out of the median (compilation)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq-len", type=int, default=2048)
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--activation-checkpointing", action="store_true")
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--hf", action="store_true", help="also time HF Trainer")
    p.add_argument("--json", help="write the summary rows here too (run_all.py reads it)")
    args = p.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench_train_gpu.py needs a CUDA GPU; see bench_train.py for the CPU comparison")
    args.precision = "auto"
    args.work = args.work.resolve()  # the configs it writes name their data by this path
    args.work.mkdir(parents=True, exist_ok=True)
    if int(os.environ.get("RANK", 0)) == 0:
        tok, tokens = prepare(args.work, args.vocab)
    else:  # under torchrun rank 0 builds the data once; the others wait for its last file
        tok, tokens = args.work / "tok", args.work / "tokens"
        while not (tokens / "val" / "manifest.json").exists():
            time.sleep(1)
    model = {"arch": "llama", "hidden_size": 1024, "num_layers": 24, "num_heads": 16, "intermediate_size": 2816}
    world = int(os.environ.get("WORLD_SIZE", 1))
    parallel = {"compile": not args.no_compile, "activation_checkpointing": args.activation_checkpointing,
                "strategy": "fsdp" if world > 1 else "ddp"}
    config = thresher_config(args.work, "thresher", tok, tokens, model, args, parallel=parallel,
                             output={"dir": str(args.work / "thresher"), "export": False, "progress": False,
                                     "log_every": 10})

    from trainer import config as tconfig
    from trainer import loop

    torch.cuda.reset_peak_memory_stats()
    loop.run(tconfig.load(config))
    peak_gib = torch.cuda.max_memory_allocated() / 2**30
    if int(os.environ.get("RANK", 0)) != 0:
        return
    steps = [json.loads(ln) for ln in (config.parent / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in steps if "loss" in r and r["step"] > args.warmup]
    tps = statistics.median(r["tokens_per_s"] for r in steps)
    mfu = statistics.median(r["mfu"] for r in steps) if steps[0]["mfu"] is not None else None
    print(f"{torch.cuda.get_device_name()} x {world}: seq {args.seq_len}, batch {args.batch} per GPU, {parallel}")
    print(f"thresher: {tps:,.0f} tokens/s, MFU {mfu:.1%}" if mfu else f"thresher: {tps:,.0f} tokens/s (GPU not in "
          "the peak table: no MFU)", f"peak memory {peak_gib:.1f} GiB (rank 0)")
    rows = []
    if args.hf and world == 1:
        hf_tps, optim = run_hf_trainer(thresher_config(args.work, "hf", tok, tokens, model, args), args.warmup,
                                       gpu_bf16=True)
        print(f"hf_trainer ({optim}): {hf_tps:,.0f} tokens/s" + (f", MFU {mfu * hf_tps / tps:.1%}" if mfu else ""))
        rows.append(row(f"thresher, bf16, {parallel}", "HF Trainer, bf16", "tokens/s", round(tps), round(hf_tps)))
    write_result(args.json, "train_gpu", f"tests/data/prose speeches tokenized with a {args.vocab:,}-token BPE, "
                 f"packed into {args.seq_len}-token windows", rows, gpu=torch.cuda.get_device_name(),
                 thresher_tokens_per_s=tps, mfu=mfu, peak_memory_gib=peak_gib, gpus=world)


if __name__ == "__main__":
    main()
