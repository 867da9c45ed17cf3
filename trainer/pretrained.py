"""Pretrained weights: found (a folder, or a hub id through the Hugging Face cache), checked against the
run before a byte of weights is read, and materialised once.

Under FSDP with several processes the model is built with its parameters on the meta device, sharded,
and only then given storage; each rank reads from the safetensors files just the rows of each tensor
that its shard holds, straight into the shard's memory (``os.preadv`` at the tensor's offset: no memory
map, whose file pages would count as the process's own, and no buffer in between), so no rank ever holds
a full copy of the weights, nor a second copy of its own rows. Elsewhere (one process, DDP, LoRA, a resized vocabulary, weights that are not
safetensors) ``transformers`` loads the whole model, which every rank needs anyway.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from corpus.errors import UserError

WEIGHT_FILES = ["config.json", "generation_config.json", "*.safetensors", "model.safetensors.index.json"]
TORCH_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}  # model.dtype, output.export_dtype
_ST_DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16, "F64": torch.float64,
              "I64": torch.int64, "I32": torch.int32, "BOOL": torch.bool}


def resolve(ref: str) -> Path:
    """A local model folder for ``ref``: the folder itself, or the hub snapshot of its weights.

    The cache is asked first with ``local_files_only``, so a cached model needs no network (and works
    with ``HF_HUB_OFFLINE=1``); only a model not yet cached is downloaded.
    """
    p = Path(ref).expanduser()
    if p.is_dir():
        return p.resolve()
    if ref.startswith((".", "/", "~")):
        raise UserError(f"model.from_pretrained: no folder {ref}")
    from huggingface_hub import snapshot_download

    with contextlib.suppress(Exception):
        return Path(snapshot_download(ref, allow_patterns=WEIGHT_FILES, local_files_only=True))
    try:
        return Path(snapshot_download(ref, allow_patterns=WEIGHT_FILES))
    except Exception as e:  # noqa: BLE001 - offline and not cached, unknown repo, gated: all the user's to fix
        raise UserError(f"model.from_pretrained {ref}: not a local folder, not in the Hugging Face cache, and the "
                        f"download failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None


def hf_config(folder: Path) -> Any:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(folder)
    except (OSError, ValueError) as e:
        raise UserError(f"model.from_pretrained: {str(e).splitlines()[0]}") from None


def check_fits(conf: Any, vocab: int, seq_len: int, resize: bool) -> bool:
    """Refuse a tokenizer with ids past the embeddings (unless ``resize``) and windows past the positions.

    Returns whether the embeddings must grow to ``vocab`` rows.
    """
    rows = conf.vocab_size
    if vocab > rows and not resize:
        raise UserError(f"model.from_pretrained has {rows} embedding rows but the tokenizer has {vocab} ids: ids "
                        f">= {rows} would index no row (use the model's own tokenizer, or model.resize_embeddings: true)")
    positions = getattr(conf, "max_position_embeddings", None)  # GPT-2 maps it to n_positions
    if positions is not None and positions < seq_len:
        raise UserError(f"model.from_pretrained has {positions} positions, fewer than data.seq_len "
                        f"({seq_len}): a window would run past them")
    return vocab > rows


def has_safetensors(folder: Path) -> bool:
    return (folder / "model.safetensors").is_file() or (folder / "model.safetensors.index.json").is_file()


@contextlib.contextmanager
def parameters_on_meta() -> Iterator[None]:
    """Build modules with parameters on the meta device but buffers real (RoPE's frequencies are
    computed at construction and are in no checkpoint); accelerate's ``init_empty_weights`` trick."""
    register = nn.Module.register_parameter

    def on_meta(module: nn.Module, name: str, param: nn.Parameter | None) -> None:
        register(module, name, param)
        if param is not None and param.device.type != "meta":
            module._parameters[name] = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)

    nn.Module.register_parameter = on_meta
    try:
        yield
    finally:
        nn.Module.register_parameter = register


def empty_model(conf: Any, dtype: torch.dtype) -> nn.Module:
    """The causal LM of ``conf`` with its parameters on the meta device (buffers real), for `materialize`.

    Weight initialisation is skipped (``transformers``' own ``no_init_weights``, as its loader does):
    every parameter comes from the checkpoint, and initialising meta tensors only runs meta kernels, whose
    code pages count in each rank's resident memory (about 1 MB of the load's peak, docs/trainer.md).
    ``no_init_weights`` also skips the tying of the output embeddings to the input ones that
    ``init_weights`` does, so it is done here.
    """
    from transformers import AutoModelForCausalLM

    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # transformers 4.x (pyproject allows >= 4.45) keeps it in modeling_utils
        from transformers.modeling_utils import no_init_weights

    with parameters_on_meta(), no_init_weights():
        model = AutoModelForCausalLM.from_config(conf, dtype=dtype, attn_implementation="sdpa")
    model.tie_weights()
    return model


class SafetensorsRows:
    """Reads row ranges of named tensors from a folder's safetensors files, without mapping them."""

    def __init__(self, folder: Path):
        index = folder / "model.safetensors.index.json"
        files = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.is_file() \
            else ["model.safetensors"]
        self.tensors: dict[str, tuple[Path, torch.dtype, list[int], int]] = {}
        for name in files:
            path = folder / name
            with open(path, "rb") as f:
                (size,) = struct.unpack("<Q", f.read(8))
                header = json.loads(f.read(size))
            for key, meta in header.items():
                if key != "__metadata__":
                    self.tensors[key] = (path, _ST_DTYPES[meta["dtype"]], meta["shape"], 8 + size + meta["data_offsets"][0])

    def find(self, name: str, prefix: str) -> str | None:
        """The file's key for a module's parameter name (checkpoints differ on the base-model prefix)."""
        for key in (name, name.removeprefix(f"{prefix}."), f"{prefix}.{name}"):
            if key in self.tensors:
                return key
        return None

    def read_into(self, key: str, whole: torch.Size, out: torch.Tensor, start: int = 0) -> None:
        """Fill ``out`` with the rows from ``start`` on of the tensor, which has shape ``whole`` in the model.

        The bytes go straight into ``out``'s memory when it is a contiguous CPU tensor of the file's dtype
        (a rank's shard): loading costs the shard's own pages and no buffer besides. Another dtype or a
        GPU goes through one buffer of these rows, which ``copy_`` converts or moves.
        """
        path, dtype, shape, offset = self.tensors[key]
        if list(whole) != shape:
            raise UserError(f"model.from_pretrained: {path.name} holds {key} with shape {shape}, the model's "
                            f"config makes it {list(whole)}")
        direct = out.device.type == "cpu" and out.dtype == dtype and out.is_contiguous()
        target = out.detach() if direct else torch.empty(out.shape, dtype=dtype)
        view = memoryview(target.reshape(-1).view(torch.uint8).numpy())
        at = offset + start * (math.prod(shape[1:]) * dtype.itemsize)
        fd = os.open(path, os.O_RDONLY)
        try:
            done = 0
            while done < len(view):
                n = os.preadv(fd, [view[done:]], at + done)
                if n == 0:
                    raise UserError(f"model.from_pretrained: {path} ends inside {key} (a truncated download?)")
                done += n
        finally:
            os.close(fd)
        if not direct:
            out.copy_(target)


def materialize(model: nn.Module, folder: Path, device: torch.device) -> None:
    """Give a meta-built, already sharded model storage on ``device`` and fill each rank's rows from disk.

    FSDP2 shards every parameter along dim 0 as ``torch.chunk`` does: rank r holds rows
    ``[r * ceil(n / world), (r + 1) * ceil(n / world))``, clipped to n.
    """
    from torch.distributed.tensor import DTensor

    buffers = {name: b.clone() for name, b in model.named_buffers()}
    model.to_empty(device=device)
    weights = SafetensorsRows(folder)
    prefix = getattr(model, "base_model_prefix", "")
    with torch.no_grad():
        for name, b in model.named_buffers():
            key = weights.find(name, prefix)
            if key:
                weights.read_into(key, b.shape, b)
            else:
                b.copy_(buffers[name])
        for name, p in model.named_parameters():  # tied parameters come once
            key = weights.find(name, prefix)
            if key is None:
                raise UserError(f"model.from_pretrained: {folder} has no tensor for {name}")
            if isinstance(p, DTensor):
                local, n = p.to_local(), p.shape[0]
                chunk = -(-n // p.device_mesh.size())
                start = min(p.device_mesh.get_local_rank() * chunk, n)
                weights.read_into(key, p.shape, local, start)
            else:
                weights.read_into(key, p.shape, p)
