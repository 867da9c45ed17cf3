"""``thresher trace CKPT --step N``: which documents formed step N's batch, by replaying the order.

The data order is a pure function of the seed and the window index (`trainer.data`), and the
checkpoint's lineage records which windows each step took, so nothing per step needs to be logged:
reopening the same data (checked by hash) and asking for those windows answers exactly.
"""

from __future__ import annotations

import os
from typing import Any

from corpus import keys
from corpus.errors import UserError
from trainer import checkpoint, data, lineage


def replay(ckpt: str | os.PathLike) -> tuple[dict[str, Any], Any]:
    """A checkpoint's lineage and its packed data, checked (by hash) to be what it was trained on."""
    cfg, lin, tok = checkpoint.open_checkpoint(ckpt)
    packed, _, sha = data.open_data(cfg, tok, lin[keys.TOKENIZER_SHA256])
    if sha != lin[keys.DATA_SHA256]:
        raise UserError(f"{lin[keys.DATA]} changed since {ckpt} was written (sha256 differs): the order cannot be replayed")
    return lin, packed


def trace(ckpt: str | os.PathLike, step: int, opened: tuple[dict[str, Any], Any] | None = None) -> dict[str, Any]:
    """``{"step", "windows": [{"window", "rank", "pieces": [{"doc_id", "start", "end"}]}]}`` for one step
    (each piece also names its ``source`` folder under a train-time mixture). ``opened``: `replay`'s
    result, when tracing many steps of one checkpoint."""
    lin, packed = opened or replay(ckpt)
    first, count, world_size = lineage.step_windows(lin, step)
    windows = range(first, first + count)
    per_rank = count // world_size
    return {"step": step, "windows": [{"window": g, "rank": (g - first) // per_rank, "pieces": pieces}
                                      for g, pieces in zip(windows, packed.doc_ids(windows), strict=True)]}


def doc_ids(result: dict[str, Any]) -> list[str]:
    """The distinct document ids of a trace, in the order they first appear in the batch; under a
    train-time mixture each is followed by a tab and its source folder (ids are unique only per folder)."""
    return list(dict.fromkeys(f"{p['doc_id']}\t{p['source']}" if "source" in p else p["doc_id"]
                              for w in result["windows"] for p in w["pieces"]))
