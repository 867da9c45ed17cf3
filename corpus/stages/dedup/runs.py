"""External sort by hash: sorted per-task runs on disk, read back one key range at a time.

Each task (or each earlier run's task, for ``against``) writes one file of records sorted by a 64-bit
hash key. Because the keys are uniform hashes, cutting the key space into ``P`` equal ranges gives
partitions of about equal size, and every run holds each range as one contiguous slice that a binary
search over the memory-mapped file finds without reading the rest. A partition job therefore holds
one key range of every run at once and nothing more: memory is set by ``partition_mb``, never by the
corpus size. Records carry a ``uid`` that orders documents as the input does (see `uid`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from corpus.io import atomic

KEY_SPACE = 1 << 64
# uid = source << 56 | task << 32 | position: sources are the earlier runs given in `against` (in
# order) and then this run, so sorting uids sorts documents by global input order.
_SRC_SHIFT, _TASK_SHIFT = 56, 32
MAX_SOURCES = 1 << (64 - _SRC_SHIFT)


def uid(source: int, task: int, pos: np.ndarray | int) -> np.ndarray | int:
    return (np.uint64(source) << np.uint64(_SRC_SHIFT)) | (np.uint64(task) << np.uint64(_TASK_SHIFT)) \
        | np.asarray(pos, dtype=np.uint64)


def split_uid(u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(source, task, position)`` arrays of a uid array."""
    u = np.asarray(u, dtype=np.uint64)
    return ((u >> np.uint64(_SRC_SHIFT)).astype(np.int64),
            ((u >> np.uint64(_TASK_SHIFT)) & np.uint64(0xFFFFFF)).astype(np.int64),
            (u & np.uint64(0xFFFFFFFF)).astype(np.int64))


def save(path: Path, array: np.ndarray) -> None:
    """An ``.npy`` file written atomically (a killed run never leaves half a file under the name)."""
    with atomic.atomic_open(path) as f:
        np.save(f, array, allow_pickle=False)


def load(path: Path, mmap: bool = True) -> np.ndarray:
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


def write_run(path: Path, records: np.ndarray, order: tuple[str, ...]) -> None:
    """Sort structured ``records`` by the fields in ``order`` (first is the primary key) and save."""
    idx = np.lexsort(tuple(records[f] for f in reversed(order)))
    save(path, records[idx])


def partition_count(total_bytes: int, partition_mb: float) -> int:
    return max(1, math.ceil(total_bytes / (partition_mb * (1 << 20))))


def key_ranges(partitions: int) -> list[tuple[int, int]]:
    """``[lo, hi)`` of each partition over the 64-bit key space (the last ``hi`` is 2**64)."""
    edges = [p * KEY_SPACE // partitions for p in range(partitions)] + [KEY_SPACE]
    return list(zip(edges[:-1], edges[1:], strict=True))


def read_range(files: list[Path], key: str, lo: int, hi: int) -> Iterator[np.ndarray]:
    """The records with ``lo <= key < hi`` of each sorted run file, one slice per file."""
    for path in files:
        run = load(path)
        keys = run[key]
        start = int(np.searchsorted(keys, np.uint64(lo), side="left"))
        end = len(keys) if hi >= KEY_SPACE else int(np.searchsorted(keys, np.uint64(hi), side="left"))
        if end > start:
            yield np.array(run[start:end])


def group_starts(sorted_keys: list[np.ndarray]) -> np.ndarray:
    """For records sorted by the given key columns: the index of the first record of each one's group."""
    n = len(sorted_keys[0])
    new = np.ones(n, dtype=bool)
    if n:
        same = np.ones(n - 1, dtype=bool)
        for k in sorted_keys:
            same &= k[1:] == k[:-1]
        new[1:] = ~same
    return np.maximum.accumulate(np.where(new, np.arange(n), 0))
