"""Metrics: ``output.dir/metrics.jsonl`` (one JSON object a line), progress, TensorBoard if asked.

Progress is a tqdm bar when stderr is a terminal; when stdout is not one (``make demo > log``, a
scheduler's log file) a plain line every ``output.log_every`` steps instead, so a log shows how far a
run is and how long it has left.

Step lines: ``step``, ``loss``, ``lr``, ``grad_norm``, ``tokens_per_s`` (all ranks), ``mfu`` and
``tokens`` (consumed so far). Eval lines: ``step``, ``val_loss``, ``perplexity``.

MFU is model FLOPs per second over the hardware's peak: FLOPs per token from
`trainer.model.flops_per_token` (6N plus PaLM's attention term), times tokens per second, over the
dense bf16 peak of the GPU model (the table below) times the number of GPUs. On a CPU there is no
dependable peak, so ``mfu`` is null there (``benchmarks/bench_train.py`` measures a matmul peak instead).
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import torch

from trainer.config import METRICS_FILE

# Dense bf16 tensor-core peak FLOP/s from the vendors' data sheets (SXM parts where there are two).
PEAK_BF16 = {
    "B200": 2.25e15, "H200": 989e12, "H100": 989e12, "H800": 989e12, "GH200": 989e12, "A100": 312e12,
    "A800": 312e12, "L40S": 362e12, "L40": 181e12, "L4": 121e12, "A10G": 70e12, "A10": 125e12, "RTX 4090": 165e12,
    "MI300X": 1.307e15, "MI250X": 383e12,
}


def peak_flops(device: torch.device) -> float | None:
    """The device's bf16 peak FLOP/s, or None on a CPU or a GPU missing from the table."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key in sorted(PEAK_BF16, key=len, reverse=True):  # "GH200" before "H200"
        if key in name:
            return PEAK_BF16[key]
    return None


class Metrics:
    """Writes on the main process only; a resumed run first drops lines past its checkpoint."""

    def __init__(self, out_dir: str, enabled: bool, start_step: int, total_steps: int,
                 progress: bool, tensorboard: bool, log_every: int):
        self.enabled = enabled
        self.path = Path(out_dir) / METRICS_FILE
        self.bar = self.tb = self.file = None
        self.lines = ProgressLines(start_step, total_steps, log_every) if progress and not sys.stdout.isatty() else None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():  # keep the history up to the step we resume from, not a replayed tail
            kept = [ln for ln in self.path.read_bytes().splitlines() if ln and orjson.loads(ln)["step"] <= start_step]
            self.path.write_bytes(b"".join(ln + b"\n" for ln in kept))
        self.file = open(self.path, "ab")
        if progress and sys.stderr.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total_steps, initial=start_step, unit="step", dynamic_ncols=True)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                from corpus.errors import UserError
                raise UserError("output.tensorboard needs the 'tensorboard' package: pip install tensorboard") from None
            # A rerun replays the steps after its checkpoint (all of them without one): purge_step hides
            # the earlier run's events from that step on, as the metrics.jsonl lines past it are dropped.
            self.tb = SummaryWriter(str(Path(out_dir) / "tensorboard"), purge_step=start_step + 1)

    def log(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.file.write(orjson.dumps(record) + b"\n")
        self.file.flush()
        if self.tb:
            for k, v in record.items():
                if isinstance(v, dict):  # mix_share: one curve per source
                    self.tb.add_scalars(k, v, record["step"])
                elif k != "step" and v is not None:
                    self.tb.add_scalar(k, v, record["step"])
        if self.lines:
            self.lines.log(record)
        if self.bar and "loss" in record:
            self.bar.update(record["step"] - self.bar.n)
            self.bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{record['lr']:.2e}")
        elif self.bar:
            self.bar.write(f"step {record['step']}: val_loss {record['val_loss']:.4f}")

    def close(self) -> None:
        for h in (self.bar, self.tb, self.file):
            if h:
                h.close()


def _clock(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


class ProgressLines:
    """One stdout line every ``every`` steps (and at the last): the progress a log file can show.

    The ETA is this process's mean step time so far times the steps left, so a resumed run does not
    count the steps it skipped.
    """

    def __init__(self, start_step: int, total_steps: int, every: int):
        self.start, self.total, self.every = start_step, total_steps, every
        self.t0 = time.monotonic()

    def log(self, record: dict[str, Any]) -> None:
        step = record["step"]
        if "loss" not in record:
            print(f"thresher: step {step}/{self.total}  val_loss {record['val_loss']:.4f}", flush=True)
            return
        if step % self.every and step != self.total:
            return
        elapsed = time.monotonic() - self.t0
        eta = elapsed / max(1, step - self.start) * (self.total - step)
        print(f"thresher: step {step}/{self.total}  loss {record['loss']:.4f}  lr {record['lr']:.2e}  "
              f"tokens/s {record['tokens_per_s']:,.0f}  elapsed {_clock(elapsed)}  ETA {_clock(eta)}", flush=True)
