"""``thresher impacted RUN --id ID``: which models saw a document, and at which training steps.

The checkpoints come from `corpus.rights.forget.affected_checkpoints` (a ``lineage.json`` naming one
of the run's Merkle roots, before or after an erasure); each checkpoint's steps are replayed with
`trainer.trace` (the data order is a pure function of the seed), so nothing per step was logged. A
Hugging Face export has no data order to replay: it is listed without steps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from corpus.errors import UserError
from trainer import checkpoint
from trainer.trace import replay, trace


def _steps(ckpt: Path, run: Path, doc_id: str) -> tuple[list[int] | None, str | None]:
    """The steps whose batch held ``doc_id`` of ``run``, or None and why they cannot be replayed."""
    if not (ckpt / checkpoint.CONFIG_FILE).is_file():
        return None, "an export: trace the checkpoint it was exported from"
    try:
        opened = replay(ckpt)
    except UserError as e:
        return None, str(e)
    tokens = str((run / "tokens").resolve())
    hits = []
    for step in range(1, opened[0]["step"] + 1):
        pieces = (p for w in trace(ckpt, step, opened)["windows"] for p in w["pieces"])
        if any(p["doc_id"] == doc_id and str(Path(p.get("source", tokens)).resolve()) == tokens for p in pieces):
            hits.append(step)
    return hits, None


def impacted(run: Path, doc_id: str, folders: list[Path]) -> list[dict[str, Any]]:
    """``[{"path", "step", "steps", "note"}]``: every checkpoint or export under ``folders`` trained on
    ``run``, with the training steps whose batches held the document."""
    from corpus.rights.forget import affected_checkpoints

    out = []
    for c in affected_checkpoints(run, folders):
        steps, note = _steps(Path(c["path"]), run, doc_id)
        out.append({**c, "steps": steps, "note": note})
    return out
