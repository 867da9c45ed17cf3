"""Processes, devices and parallelism, applied to an unchanged `transformers` model (as torchtitan does).

`init` reads torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``); without it the trainer
is one process with no process group. `parallelize` applies, in torchtitan's order, activation
checkpointing, per-block ``torch.compile`` and then data parallelism: DDP, or FSDP2 ``fully_shard`` on
every transformer block and the root. The model's module names never change, so checkpoints and
exports use the same parameter names whatever the strategy.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from trainer import pretrained
from trainer.config import Config
from trainer.model import build_model, decoder_layers, meta_source


@dataclass
class Dist:
    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init() -> Dist:
    """Join torchrun's process group (nccl on GPUs, gloo on CPUs), or stay a single process."""
    cuda = torch.cuda.is_available()
    local = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if "WORLD_SIZE" not in os.environ:
        return Dist(0, 1, device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo", device_id=device if cuda else None)
    return Dist(dist.get_rank(), dist.get_world_size(), device)


def close() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def autocast_dtype(cfg: Config, device: torch.device) -> torch.dtype | None:
    """``precision: auto`` is bf16 autocast on GPUs that have it and fp32 elsewhere (exact on CPU)."""
    p = cfg.train.precision
    if p == "auto":
        return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if p == "bf16" else None


def build(cfg: Config, tok, d: Dist) -> tuple[nn.Module, nn.Module]:
    """``(model, module to train through)`` on this rank's device.

    A ``from_pretrained`` model under multi-process FSDP is built on the meta device, sharded, and then
    each rank reads only its shard's rows (`pretrained.materialize`): no rank holds the full weights.
    """
    source = meta_source(cfg, tok, d.world_size)
    model = build_model(cfg, tok, empty=source is not None)
    if source is None:
        model = model.to(d.device)
    train_model = parallelize(model, cfg, d)
    if source is not None:
        pretrained.materialize(model, source, d.device)
    return model, train_model


def parallelize(model: nn.Module, cfg: Config, d: Dist) -> nn.Module:
    """Returns the module to train through: a DDP wrapper, or the model itself (sharded in place)."""
    if cfg.parallel.activation_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    layers = decoder_layers(model)
    if cfg.parallel.compile:
        for layer in layers:
            layer.compile()  # in place: the module tree and parameter names stay as they are
    if d.world_size == 1:
        return model
    if cfg.parallel.strategy == "ddp":
        return nn.parallel.DistributedDataParallel(model, device_ids=[d.device.index] if d.device.type == "cuda" else None)
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    mesh = init_device_mesh(d.device.type, (d.world_size,))
    low = autocast_dtype(cfg, d.device)
    mp = MixedPrecisionPolicy(param_dtype=low, reduce_dtype=torch.float32) if low else MixedPrecisionPolicy()
    # The last block's parameters are needed again at once by the backward pass: keep them gathered. Not
    # with frozen parameters (LoRA): then FSDP2 (torch 2.13, measured) gets that block's gradients wrong when
    # micro-batches accumulate without sync (tests/test_dpo.py), so the block reshards like the others.
    keep_last = all(p.requires_grad for p in model.parameters())
    for i, layer in enumerate(layers):
        fully_shard(layer, mesh=mesh, mp_policy=mp, reshard_after_forward=not (keep_last and i == len(layers) - 1))
    fully_shard(model, mesh=mesh, mp_policy=mp)
    return model


@contextlib.contextmanager
def grad_sync(model: nn.Module, sync: bool) -> Iterator[None]:
    """Gradient all-reduce only on the last micro-step of an accumulation (DDP ``no_sync``, FSDP2's switch)."""
    if isinstance(model, nn.parallel.DistributedDataParallel):
        with contextlib.nullcontext() if sync else model.no_sync():
            yield
    elif hasattr(model, "set_requires_gradient_sync"):
        model.set_requires_gradient_sync(sync)
        yield
    else:
        yield


def rank_chunks(count: int, d: Dist, size: int) -> list[list[int]]:
    """Items ``0 .. count - 1`` dealt to the ranks in turn, this rank's in chunks of ``size``, with empty chunks
    at the end so that every rank has as many: under FSDP each rank must run as many forward passes as the
    others (their all-gathers are collective), so an empty chunk stands for a pass whose result is dropped."""
    mine = list(range(d.rank, count, d.world_size))
    rounds = math.ceil(math.ceil(count / d.world_size) / size)
    return [mine[r * size:(r + 1) * size] for r in range(rounds)]


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    if dist.is_initialized():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()
