"""What ``dedup_minhash`` keeps in ``RUN/<label>/``, and how a later run finds it (``against``).

| path | written by | what |
| --- | --- | --- |
| `params.json` | reduce | what decides the signatures (num_perm, seed, scheme, hash, ngram, unit), bands x rows, tasks |
| `signatures/<task>.npy` | scan | MinHash values, one row per document in stream order |
| `signatures/<task>.json` | scan | documents, documents without shingles, peak RSS of the scan |
| `ids/<task>.json` | scan | the documents' ids in stream order (cluster representatives are named by id) |
| `texts/<task>.bin`, `.offsets.npy` | scan, with ``verify`` | the documents' texts (UTF-8), whose exact shingle sets ``verify`` computes for candidate pairs only |
| `shingles/<task>.bin`, `.offsets.npy` | scan, with ``verify``, before texts were kept | sorted 64-bit shingle hashes per document (still read) |
| `buckets/`, `edges/`, `pairs.npy`, `verified/` | reduce | band runs, bucket partitions, candidate pairs |
| `clusters/<task>.json` | reduce | the task's documents that have near-duplicates: position, representative, size, drop |

Keeping the text, not the shingle sets, is what makes ``verify`` cheap: hashing every document's
shingles into a sorted set cost the scan about a quarter of its CPU, while only documents in
candidate pairs (a few percent of a corpus) ever need one, and the text is also smaller on disk.
Signatures, ids and texts are what a later run reads with ``against: [RUN]``: they are never
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
from corpus.rundir import RunDir
from corpus.stages.dedup.shingles import shingle_set, shingles

STAGE = "dedup_minhash"
# The parameters that decide a signature: two runs can be compared only if all of these agree.
SIGNATURE_KEYS = ("num_perm", "seed", "scheme", "hash", "ngram", "unit")


def signature_path(state_dir: Path, task_id: str) -> Path:
    return state_dir / "signatures" / f"{task_id}.npy"


def ids_path(state_dir: Path, task_id: str) -> Path:
    return state_dir / "ids" / f"{task_id}.json"


def text_paths(state_dir: Path, task_id: str) -> tuple[Path, Path]:
    return state_dir / "texts" / f"{task_id}.bin", state_dir / "texts" / f"{task_id}.offsets.npy"


def shingle_paths(state_dir: Path, task_id: str) -> tuple[Path, Path]:
    """Where runs made before texts were kept stored their sorted shingle hashes."""
    return state_dir / "shingles" / f"{task_id}.bin", state_dir / "shingles" / f"{task_id}.offsets.npy"


def cluster_path(state_dir: Path, task_id: str) -> Path:
    return state_dir / "clusters" / f"{task_id}.json"


def read_ids(state_dir: Path, task_id: str) -> list[str]:
    return orjson.loads(ids_path(state_dir, task_id).read_bytes())


class ShingleSets:
    """Exact shingle sets of the documents of any number of tasks: computed from the kept texts with
    the run's ``ngram`` and ``unit`` (the last ``cache`` computed are kept: the candidate pairs of a
    bucket all name its earliest member), or read where an older run stored the sets themselves."""

    def __init__(self, cache: int = 4096) -> None:
        self._open: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, bool]] = {}
        self._shingling: dict[str, tuple[int, str]] = {}
        self._sets: dict[tuple[str, str, int], np.ndarray] = {}
        self._cache = cache

    def get(self, state_dir: Path, task_id: str, pos: int) -> np.ndarray:
        key = (str(state_dir), task_id)
        if key not in self._open:
            texts, stored = text_paths(state_dir, task_id), shingle_paths(state_dir, task_id)
            is_text = texts[1].exists() or not stored[1].exists()
            values, offsets = texts if is_text else stored
            dtype = np.uint8 if is_text else np.uint64
            self._open[key] = (np.memmap(values, dtype=dtype, mode="r") if values.stat().st_size
                               else np.zeros(0, dtype), np.load(offsets), is_text)
        values, offsets, is_text = self._open[key]
        if not is_text:
            return values[offsets[pos]:offsets[pos + 1]]
        doc = (*key, pos)
        if doc not in self._sets:
            if key[0] not in self._shingling:
                params = read_params(state_dir)
                self._shingling[key[0]] = (params["ngram"], params["unit"])
            if len(self._sets) >= self._cache:
                del self._sets[next(iter(self._sets))]  # oldest first
            text = values[offsets[pos]:offsets[pos + 1]].tobytes().decode()
            self._sets[doc] = shingle_set(shingles(text, *self._shingling[key[0]]))
        return self._sets[doc]


def find_run(ref: str, stage: str = STAGE) -> Path:
    """The ``stage`` state folder of an earlier run: ``RUN/<label>/``, or ``RUN`` with one such stage."""
    path = Path(ref).expanduser().resolve()
    if (path / "params.json").is_file():
        return path
    config = RunDir(path).config
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
        raise UserError(f"against: {ref} was built with 'verify: false', so it kept no texts to verify "
                        "against; set 'verify: false' on this stage too, or rebuild that run")
    return state
