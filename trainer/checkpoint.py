"""Checkpoints: ``torch.distributed.checkpoint`` directories ``step-000010/``, complete or absent.

Every rank writes its shards into ``.step-000010.tmp/``; once all have finished, rank 0 adds
``lineage.json`` and ``train_config.json`` and renames the folder to ``step-000010/``. A process killed
at any moment leaves at most a ``.tmp`` folder, which `latest` never returns and the next save
replaces. DCP stores sharded (FSDP) tensors by their global shape, so a checkpoint loads on any number
of processes, and on none (export, trace).
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.stateful import Stateful

from corpus import keys
from corpus.errors import UserError
from corpus.io.atomic import read_json, write_json
from corpus.tokenizer import resolve, tokenizer_files
from trainer import config, lineage
from trainer.model import load_tokenizer, tokenizer_sha256
from trainer.parallel import Dist, barrier

STEP = re.compile(r"^step-(\d{6,})$")
CONFIG_FILE = "train_config.json"
MODEL_CONFIG_FILE = "model_config.json"  # the transformers config of the trained model: export needs no base folder
TOKENIZER_DIR = "tokenizer"  # a byte-for-byte copy of the tokenizer's files: export and trace need nothing else


def step_dir(root: Path, step: int) -> Path:
    return Path(root) / f"step-{step:06d}"


def complete(root: Path) -> list[tuple[int, Path]]:
    """The finished checkpoints under ``root``, oldest first."""
    if not Path(root).is_dir():
        return []
    found = [(int(m.group(1)), p) for p in Path(root).iterdir() if (m := STEP.match(p.name)) and p.is_dir()]
    return sorted((s, p) for s, p in found if (p / lineage.FILE).is_file())


def latest(root: Path) -> Path | None:
    done = complete(root)
    return done[-1][1] if done else None


def save(state: Stateful, root: Path, step: int, lin: dict[str, Any], config: dict[str, Any],
         keep: int, d: Dist, model_config: dict[str, Any] | None = None, asynchronous: bool = False) -> PendingSave:
    """Write ``state`` (collectively, every rank) as ``root/step-NNNNNN`` and keep the newest ``keep``.

    With ``asynchronous`` DCP's ``async_save`` copies the state to host memory and writes it on a
    background thread while training goes on; the returned `PendingSave` finishes the folder (JSON
    files, rename, pruning) once the write is done, so a ``step-`` folder still only exists complete.
    The lineage and configs are copied now: they describe this step, not the one the write ends in.
    """
    final = step_dir(root, step)
    tmp = final.with_name(f".{final.name}.tmp")
    if d.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    barrier()
    pending = PendingSave(None, tmp, final, root, keep, d.is_main,
                          copy.deepcopy({"lin": lin, "config": config, "model_config": model_config}))
    with single_process_quiet():
        if asynchronous:
            pending.future = dcp.async_save({"trainer": state}, checkpoint_id=str(tmp))
        else:
            dcp.save({"trainer": state}, checkpoint_id=str(tmp))
            pending.finish()
    return pending


@dataclass
class PendingSave:
    """A checkpoint being written; `finish` (collective) waits for it and makes the folder complete."""

    future: Any
    tmp: Path
    final: Path
    root: Path
    keep: int
    is_main: bool
    meta: dict[str, Any]

    def finish(self) -> Path:
        if self.future is not None:
            self.future.result()
            self.future = None
        barrier()
        if self.is_main and self.tmp.exists():
            lineage.write(self.tmp, self.meta["lin"])
            write_json(self.tmp / CONFIG_FILE, self.meta["config"])
            if self.meta["model_config"] is not None:
                write_json(self.tmp / MODEL_CONFIG_FILE, self.meta["model_config"])
            (self.tmp / TOKENIZER_DIR).mkdir()
            for f in tokenizer_files(resolve(self.meta["config"]["tokenizer"])):
                shutil.copyfile(f, self.tmp / TOKENIZER_DIR / f.name)
            if self.final.exists():  # a finished step written again (a rerun that changed nothing): replace it
                shutil.rmtree(self.final)
            os.replace(self.tmp, self.final)
            for _, old in complete(self.root)[:-self.keep]:
                shutil.rmtree(old)
        barrier()
        return self.final


def load(state: Stateful, path: Path) -> None:
    """Load ``path`` into ``state`` in place (collectively, resharding to this run's world size)."""
    with single_process_quiet():
        dcp.load({"trainer": state}, checkpoint_id=str(path))


def load_model(model_state: dict[str, Any], path: Path) -> None:
    """Load only the model's tensors into ``model_state``, in this process alone (export, trace, tests)."""
    with single_process_quiet():
        dcp.load({"trainer": {"model": model_state}}, checkpoint_id=str(path), no_dist=True)


@contextlib.contextmanager
def single_process_quiet() -> Iterator[None]:
    """DCP warns when used without a process group; for a single process that is the intent."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        yield


def read_config(path: Path) -> dict[str, Any]:
    f = Path(path) / CONFIG_FILE
    if not f.is_file():
        raise UserError(f"{path}: no {CONFIG_FILE}; not a Thresher checkpoint (expected a step-NNNNNN folder)")
    return read_json(f)


def read_model_config(path: Path) -> dict[str, Any] | None:
    """The trained model's own ``transformers`` config (None in checkpoints written before it was kept)."""
    f = Path(path) / MODEL_CONFIG_FILE
    return read_json(f) if f.is_file() else None


def check_model(path: Path, current: config.Config, verb: str = "resume from") -> None:
    """Refuse to resume ``path`` as another model shape (see `trainer.config.model_shape`)."""
    saved = config.model_shape(read_config(path)["model"])
    now = config.model_shape(current.to_dict()["model"])
    for key in now:
        if saved.get(key) != now[key]:
            raise UserError(f"cannot {verb} {path}: model.{key} was {saved.get(key)!r}, now {now[key]!r}; "
                            "its weights belong to another model shape (use a new checkpoint.dir, or restore it)")


def check_init_from(path: str | os.PathLike, current: config.Config, lin: dict[str, Any]) -> dict[str, Any]:
    """The lineage of ``train.init_from``'s checkpoint, after checking its weights fit this run.

    Data, seed and schedule may all differ (that is the point of a new phase); the model shape and
    the tokenizer may not: the same ids must mean the same tokens.
    """
    path = Path(path)
    if not (path / lineage.FILE).is_file():
        raise UserError(f"train.init_from: {path} is not a finished checkpoint (expected a step-NNNNNN folder)")
    check_model(path, current, "start from")
    saved = lineage.read(path)
    if saved.get(keys.TOKENIZER_SHA256) != lin[keys.TOKENIZER_SHA256]:
        raise UserError(f"train.init_from: {path} was trained with another tokenizer (sha256 differs)")
    return saved


def open_checkpoint(path: str | os.PathLike) -> tuple[config.Config, dict[str, Any], Any]:
    """A checkpoint's resolved config, its lineage and its tokenizer, checked to be the one it was trained with.

    Everything that reads a checkpoint without resuming it (export, trace) comes through here: a
    tokenizer edited since (another chat template, other merges) would render or decode other text.
    """
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"checkpoint not found: {path}")
    cfg = config.parse(read_config(path), Path("/"), where=str(path / CONFIG_FILE))
    if (path / TOKENIZER_DIR).is_dir():  # the checkpoint's own copy: the original may have moved or gone
        cfg.tokenizer = str(path / TOKENIZER_DIR)
    lin = lineage.read(path)
    if tokenizer_sha256(cfg.tokenizer) != lin[keys.TOKENIZER_SHA256]:
        raise UserError(f"the tokenizer at {cfg.tokenizer} is not the one {path} was trained with (sha256 differs)")
    return cfg, lin, load_tokenizer(cfg.tokenizer, lin.get(keys.EOS_ID))
