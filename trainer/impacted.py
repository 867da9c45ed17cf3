"""``thresher impacted RUN --id ID``: which models saw a document, and at which training steps.

The checkpoints come from `corpus.erasures.affected_checkpoints` (a ``lineage.json`` naming one
of the run's Merkle roots, before or after an erasure). Each checkpoint's steps are replayed, since the
data order is a pure function of the seed and the sequence lengths, so nothing per step was logged:
for a checkpoint trained on the run's ``tokens/``, from the token layout it was trained on
(`corpus.erasures.token_layout`, which puts back what ``thresher forget`` removed since, so a
forgotten document's steps are still named); under a train-time mixture, with `trainer.trace` while
the data is unchanged. A Hugging Face export has no data order to replay: it is listed without steps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from corpus import keys
from corpus.erasures import affected_checkpoints, token_layout
from corpus.errors import UserError
from corpus.rundir import RunDir
from trainer import checkpoint, lineage
from trainer.data import PackedOrder
from trainer.trace import replay, trace


def _layout_steps(run: Path, cfg, lin: dict[str, Any], doc_id: str) -> tuple[list[int] | None, str | None]:
    """The steps of a checkpoint trained on ``run``'s own token folder, replayed from its layout then."""
    layout = token_layout(run, lin[keys.DATA_SHA256], doc_id)
    if layout is None:
        return None, (f"{RunDir(run).tokens} never held the tokens this checkpoint was trained on (tokenized "
                      "again since?): the order cannot be replayed")
    lengths, held = layout
    order = PackedOrder(lengths, cfg.data.seq_len, cfg.train.seed)
    hits = []
    for step in range(1, lin[keys.STEP] + 1):
        first, count, _ = lineage.step_windows(lin, step)
        if any(held[s] for g in range(first, first + count) for s, _, _ in order.pieces(g)):
            hits.append(step)
    return hits, None


def _traced_steps(ckpt: Path, run: Path, doc_id: str) -> tuple[list[int] | None, str | None]:
    """The steps of a checkpoint trained on a mixture that includes ``run``, by tracing each step."""
    try:
        opened = replay(ckpt)
    except UserError as e:
        return None, str(e)
    tokens = str(RunDir(run).tokens.resolve())
    hits = []
    for step in range(1, opened[0][keys.STEP] + 1):
        pieces = (p for w in trace(ckpt, step, opened)["windows"] for p in w["pieces"])
        if any(p["doc_id"] == doc_id and str(Path(p.get("source", tokens)).resolve()) == tokens for p in pieces):
            hits.append(step)
    return hits, None


def _steps(ckpt: Path, run: Path, doc_id: str) -> tuple[list[int] | None, str | None]:
    """The steps whose batch held ``doc_id`` of ``run``, or None and why they cannot be replayed."""
    if not (ckpt / checkpoint.CONFIG_FILE).is_file():
        return None, "an export: trace the checkpoint it was exported from"
    try:
        cfg, lin, _ = checkpoint.open_checkpoint(ckpt)
    except UserError as e:
        return None, str(e)
    if cfg.task == "pretrain" and isinstance(cfg.data.tokens, str):
        return _layout_steps(run, cfg, lin, doc_id)
    return _traced_steps(ckpt, run, doc_id)


def impacted(run: Path, doc_id: str, folders: list[Path]) -> list[dict[str, Any]]:
    """``[{"path", "step", "steps", "note"}]``: every checkpoint or export under ``folders`` trained on
    ``run``, with the training steps whose batches held the document."""
    out = []
    for c in affected_checkpoints(run, folders):
        steps, note = _steps(Path(c["path"]), run, doc_id)
        out.append({**c, "steps": steps, "note": note})
    return out
