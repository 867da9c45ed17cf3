"""How proxy runs go: in this process, one at a time; or as trainer subprocesses, several at once
(one per GPU, ``CUDA_VISIBLE_DEVICES`` each) or one across several processes (``torchrun``).

``proxy.launch`` in the experiment decides: ``nproc_per_node`` processes per run (more than one: the
run goes through ``python -m torch.distributed.run --standalone``, nccl on GPUs and gloo on CPUs, as
`trainer.parallel` decides) and ``concurrent`` runs at once (``auto``: as many as the GPUs hold, one
without a GPU). `lanes` and `assign` are pure, so which run gets which device is testable anywhere.
The global batch is the recipe's whatever the launch: each of ``nproc_per_node`` processes takes its
share of ``micro_batch_size``, so every variant trains on the same windows per step.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from corpus.errors import Fault
from corpus.io.atomic import write_json
from trainer.ablate.proc import failure

AUTO = "auto"
CONFIG, LOG = "train_config.json", "train.log"  # beside each run's checkpoints
T = TypeVar("T")


@dataclass(frozen=True)
class Launch:
    nproc_per_node: int = 1  # processes per run (torchrun when more than one)
    concurrent: int | None = None  # runs at once; None (``auto``): one per group of nproc_per_node GPUs, 1 on CPU


@dataclass
class Run:
    config: dict[str, Any]  # the trainer config, micro_batch_size being the global batch
    out: Path


def lanes(gpus: int, launch: Launch) -> list[tuple[int, ...]]:
    """The device groups runs train on at once: ``nproc_per_node`` GPUs each, as many groups as the GPUs
    hold (at most ``concurrent``); without GPUs, ``concurrent`` (default 1) lanes of no device."""
    n = launch.nproc_per_node
    if gpus == 0:
        return [()] * (launch.concurrent or 1)
    if n > gpus:
        raise Fault(f"proxy.launch.nproc_per_node is {n}, but this machine has {gpus} GPU(s)")
    count = min(gpus // n, launch.concurrent or gpus)
    return [tuple(range(i * n, (i + 1) * n)) for i in range(count)]


def assign(runs: list[T], lane_count: int) -> list[list[T]]:
    """Runs dealt to lanes in turn (every run has the same budget, so the lanes finish together)."""
    return [runs[i::lane_count] for i in range(lane_count)]


def visible_devices(devices: tuple[int, ...], env: dict[str, str]) -> str:
    """A lane's GPUs as ``CUDA_VISIBLE_DEVICES`` for its subprocess: indices into the GPUs this process
    sees, which ``CUDA_VISIBLE_DEVICES`` may already narrow (``2,3``: lane GPU 0 is device 2)."""
    seen = [d.strip() for d in env["CUDA_VISIBLE_DEVICES"].split(",")] if env.get("CUDA_VISIBLE_DEVICES") else None
    return ",".join(seen[d] if seen else str(d) for d in devices)


def rank_config(run: Run, nproc: int) -> dict[str, Any]:
    """The config each process trains with: its share of the global batch."""
    train = run.config["train"]
    return {**run.config, "train": {**train, "micro_batch_size": train["micro_batch_size"] // nproc}}


def command(config: Path, nproc: int) -> list[str]:
    trainer = ["-m", "trainer", str(config)]
    if nproc == 1:
        return [sys.executable, *trainer]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *trainer]


def _in_process(run: Run) -> None:
    from trainer import config, loop

    write_json(run.out / CONFIG, run.config)
    loop.run(config.parse(run.config, run.out))


def _subprocess(run: Run, devices: tuple[int, ...], nproc: int) -> None:
    write_json(run.out / CONFIG, rank_config(run, nproc))
    env = dict(os.environ)
    if devices:
        env["CUDA_VISIBLE_DEVICES"] = visible_devices(devices, env)
    with open(run.out / LOG, "ab") as log:
        rc = subprocess.run(command(run.out / CONFIG, nproc), stdout=log, stderr=subprocess.STDOUT, env=env).returncode
    if rc != 0:
        text = (run.out / LOG).read_text(errors="replace")
        raise failure(f"proxy run {run.out.name}", rc, text, where=f" (see {run.out / LOG})")


def train(runs: list[Run], launch: Launch, gpus: int, log: Callable[[str], None]) -> None:
    """Train ``runs``: in this process one after another when one lane of one process does, else each
    in a subprocess on its lane's devices, the lanes at once."""
    if not runs:  # all trained earlier: nothing to ask of this machine's devices
        return
    groups = lanes(gpus, launch)
    for run in runs:
        run.out.mkdir(parents=True, exist_ok=True)
    if len(groups) == 1 and launch.nproc_per_node == 1:
        for run in runs:
            log(f"run {run.out.name} (seed {run.config['train']['seed']}): {run.config['train']['steps']} steps")
            _in_process(run)
        return

    def lane(devices: tuple[int, ...], mine: list[Run]) -> None:
        for run in mine:
            where = f"GPU {','.join(map(str, devices))}" if devices else "CPU"
            log(f"run {run.out.name} (seed {run.config['train']['seed']}): {run.config['train']['steps']} steps, "
                f"{launch.nproc_per_node} process(es) on {where}")
            _subprocess(run, devices, launch.nproc_per_node)

    with ThreadPoolExecutor(len(groups)) as pool:
        for done in [pool.submit(lane, g, mine) for g, mine in zip(groups, assign(runs, len(groups)), strict=True)]:
            done.result()
