"""What ``dedup_minhash`` keeps in ``RUN/<label>/``, and how a later run finds it (``against``).

| path | written by | what |
| --- | --- | --- |
| `params.json` | reduce | what decides the signatures (num_perm, seed, scheme, hash, ngram, unit), bands x rows, tasks |
| `signatures/<task>.npy` | scan | MinHash values, one row per document in stream order |
| `signatures/<task>.json` | scan | documents, documents without shingles, peak RSS of the scan |
| `ids/<task>.json` | scan | the documents' ids in stream order (cluster representatives are named by id) |
| `shingles/<task>.bin`, `.offsets.npy` | scan, with ``verify`` | sorted 64-bit shingle hashes per document |
| `buckets/`, `edges/`, `pairs.npy`, `verified/` | reduce | band runs, bucket partitions, candidate pairs |
| `clusters/<task>.json` | reduce | the task's documents that have near-duplicates: position, representative, size, drop |

Signatures, ids and shingle sets are what a later run reads with ``against: [RUN]``: they are never
recomputed, and they stay after the build.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import yaml

from corpus.errors import UserError
from corpus.io import atomic

STAGE = "dedup_minhash"
# The parameters that decide a signature: two runs can be compared only if all of these agree.
SIGNATURE_KEYS = ("num_perm", "seed", "scheme", "hash", "ngram", "unit")


def signature_path(state_dir: Path, task_id: str) -> Path:
    return state_dir / "signatures" / f"{task_id}.npy"


def ids_path(state_dir: Path, task_id: str) -> Path:
    return state_dir / "ids" / f"{task_id}.json"


def shingle_paths(state_dir: Path, task_id: str) -> tuple[Path, Path]:
    return state_dir / "shingles" / f"{task_id}.bin", state_dir / "shingles" / f"{task_id}.offsets.npy"


def cluster_path(state_dir: Path, task_id: str) -> Path:
    return state_dir / "clusters" / f"{task_id}.json"


def read_ids(state_dir: Path, task_id: str) -> list[str]:
    return orjson.loads(ids_path(state_dir, task_id).read_bytes())


class ShingleSets:
    """Random access to the stored shingle sets of the documents of any number of tasks."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}

    def get(self, state_dir: Path, task_id: str, pos: int) -> np.ndarray:
        key = (str(state_dir), task_id)
        if key not in self._open:
            values, offsets = shingle_paths(state_dir, task_id)
            self._open[key] = (np.memmap(values, dtype=np.uint64, mode="r") if values.stat().st_size
                               else np.zeros(0, np.uint64), np.load(offsets))
        values, offsets = self._open[key]
        return values[offsets[pos]:offsets[pos + 1]]


def find_run(ref: str, stage: str = STAGE) -> Path:
    """The ``stage`` state folder of an earlier run: ``RUN/<label>/``, or ``RUN`` with one such stage."""
    path = Path(ref).expanduser().resolve()
    if (path / "params.json").is_file():
        return path
    config = path / "config.yaml"
    if not config.is_file():
        raise UserError(f"against: {ref} is neither a Thresher run directory nor a {stage} state folder")
    stages = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("stages") or []
    labels = [s.get("label", s["stage"]) for s in stages if s.get("stage") == stage]
    if len(labels) != 1:
        raise UserError(f"against: run {ref} has {len(labels)} {stage} stages; name one as {ref}/<label>")
    state = path / labels[0]
    if not (state / "params.json").is_file():
        raise UserError(f"against: run {ref} has not finished its {stage} stage (no {labels[0]}/params.json)")
    return state


def read_params(state_dir: Path) -> dict[str, Any]:
    return atomic.read_json(state_dir / "params.json")  # type: ignore[return-value]


def check_compatible(ref: str, mine: dict[str, Any], need_shingles: bool) -> Path:
    """The earlier run's state folder, if its signatures can be compared with this run's; else a `UserError`."""
    state = find_run(ref)
    theirs = read_params(state)
    for key in SIGNATURE_KEYS:
        if theirs.get(key) != mine[key]:
            raise UserError(f"against: {ref} was built with {key}={theirs.get(key)!r}, this stage has "
                            f"{key}={mine[key]!r}; signatures are comparable only with equal {', '.join(SIGNATURE_KEYS)}")
    if need_shingles and not theirs.get("verify"):
        raise UserError(f"against: {ref} was built without 'verify: true', so it kept no shingle sets to verify against")
    return state
