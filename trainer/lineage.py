"""Lineage: what a checkpoint or an exported model was trained on, precisely enough to replay it.

``lineage.json`` (in every checkpoint and in ``hf/``) names the data by hash (the tokens manifest,
or the SFT file), the tokenizer and the resolved config by hash, the data-order seed, and how much
was consumed. ``batch_schedule`` records the global batch size from each step on (it changes only
when a run is resumed with another batch shape), which with the seed is enough to say which windows,
and so which documents, formed any step: ``thresher trace``.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers

import corpus
from corpus import keys, rundir
from corpus.errors import UserError
from corpus.io.atomic import read_json, write_json

FILE = keys.LINEAGE_FILE


def corpus_merkle_root(tokens_dir: str | Path) -> str | None:
    """The Merkle root of the corpus run whose ``tokens/`` this is (one hash for the whole corpus); None
    for tokens written outside a run, or of a run whose build has not finished (no manifest yet)."""
    run = Path(tokens_dir).resolve().parent
    if not (rundir.is_run(run) and rundir.is_finished(run)):
        return None
    return read_json(rundir.RunDir(run).manifest).get(keys.MERKLE_ROOT)


def new(task: str, data_sha256: str, data_path: str | list, tokenizer_sha256: str, eos_id: int, config_sha256: str,
        seed: int, seq_len: int) -> dict[str, Any]:
    """The lineage of a run that has not taken a step yet (``eos_id``: the EOS the data ends sequences with,
    which export and trace give the tokenizer again).

    A train-time mixture (``data_path`` a list of `MixSource`) records its folders, weights and their
    corpora's Merkle roots under ``mixture``; ``data_sha256`` then hashes the manifests with the weights.
    """
    mixture = None if isinstance(data_path, str) else [
        {keys.MIX_PATH: s.path, keys.MIX_WEIGHT: s.weight, keys.CORPUS_MERKLE_ROOT: corpus_merkle_root(s.path)}
        for s in data_path]
    single = task == "pretrain" and mixture is None
    return {
        keys.TASK: task,
        keys.TOKENS_MANIFEST_SHA256: data_sha256 if single else None,
        keys.CORPUS_MERKLE_ROOT: corpus_merkle_root(data_path) if single else None,
        keys.DATA_SHA256: data_sha256,
        keys.DATA: data_path if mixture is None else [s[keys.MIX_PATH] for s in mixture],
        **({keys.MIXTURE: mixture} if mixture else {}),
        keys.TOKENIZER_SHA256: tokenizer_sha256,
        keys.EOS_ID: eos_id,
        keys.CONFIG_SHA256: config_sha256,
        keys.SEED: seed,
        keys.SEQ_LEN: seq_len,
        keys.STEP: 0,
        keys.SAMPLES_CONSUMED: 0,
        keys.TOKENS_CONSUMED: 0,
        keys.BATCH_SCHEDULE: [],
        keys.VERSIONS: {"thresher": corpus.__version__, "torch": torch.__version__,
                        "transformers": transformers.__version__, "numpy": np.__version__,
                        "python": platform.python_version()},
    }


def start_segment(lin: dict[str, Any], step: int, global_batch: int, world_size: int) -> None:
    """Record that steps from ``step`` on take ``global_batch`` windows each, split over ``world_size`` ranks."""
    sched = lin[keys.BATCH_SCHEDULE]
    if not sched or (sched[-1]["global_batch"], sched[-1]["world_size"]) != (global_batch, world_size):
        sched.append({"step": step, "samples": lin[keys.SAMPLES_CONSUMED], "global_batch": global_batch,
                      "world_size": world_size})


def advance(lin: dict[str, Any], step: int, samples: int, tokens: int) -> None:
    lin[keys.STEP] = step
    lin[keys.SAMPLES_CONSUMED] += samples
    lin[keys.TOKENS_CONSUMED] += tokens


def step_windows(lin: dict[str, Any], step: int) -> tuple[int, int, int]:
    """``(first window, count, world size)`` of step ``step``'s global batch (steps count from 1)."""
    segs = [s for s in lin[keys.BATCH_SCHEDULE] if s["step"] <= step]
    if step < 1 or not segs:
        raise UserError(f"step {step} is not a step of this run (steps count from 1)")
    if step > lin[keys.STEP]:
        raise UserError(f"step {step} is past this checkpoint, which was written after step {lin[keys.STEP]}")
    seg = segs[-1]
    return seg["samples"] + (step - seg["step"]) * seg["global_batch"], seg["global_batch"], seg["world_size"]


def check_resume(saved: dict[str, Any], current: dict[str, Any], where: Path) -> None:
    """Refuse to continue a checkpoint on other data or another tokenizer: the ids would mean something else."""
    for key, what in ((keys.DATA_SHA256, "tokens manifest" if current[keys.TASK] == "pretrain" else "SFT data file"),
                      (keys.TOKENIZER_SHA256, "tokenizer")):
        if saved.get(key) != current[key]:
            raise UserError(f"cannot resume from {where}: the {what} differs from the checkpoint's "
                            f"(sha256 {str(saved.get(key))[:12]} there, {current[key][:12]} now); use a new "
                            "checkpoint.dir, or restore the original")
    for key in (keys.TASK, keys.SEED, keys.SEQ_LEN, keys.VAL_FRACTION):
        was, now = saved.get(key, 0.0), current.get(key, 0.0)  # val_fraction: SFT only, 0 when not recorded
        if was != now:
            raise UserError(f"cannot resume from {where}: {key} was {was!r}, now {now!r}; the "
                            "data order would change")


def write(directory: Path, lin: dict[str, Any]) -> None:
    write_json(Path(directory) / FILE, lin)


def read(directory: Path) -> dict[str, Any]:
    path = Path(directory) / FILE
    if not path.is_file():
        raise UserError(f"{directory}: no {FILE}; not a Thresher checkpoint or export")
    return read_json(path)


def source(folder: str | None) -> dict[str, Any] | None:
    """``{path, lineage}`` of a ``model.from_pretrained`` folder that is a Thresher export (the SFT model a DPO
    run starts from), so the chain of runs stays readable from the final model; None for other folders."""
    if folder is None or not (Path(folder) / FILE).is_file():
        return None
    return {keys.SOURCE_PATH: folder, keys.SOURCE_LINEAGE: read(Path(folder))}
