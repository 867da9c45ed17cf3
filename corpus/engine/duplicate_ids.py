"""Ids that repeat anywhere in the run (``reader.duplicate_ids``), decided the same for any number of
workers and any task size.

The read pass logs a 64-bit hash of every document's id, in read order (`IdLog`, saved as
``RUN/.state/ids/<task>.npz``). After it, `settle` ranks every occurrence of each hash in plan order
(the inputs' order, whatever the tasks): rank 0 is the first, the others are repeats. Under ``keep``
they are only counted. Under ``suffix`` and ``quarantine`` the tasks holding a repeat redo their read
pass with the repeats' positions (a run without repeats pays only the hashing): ``suffix`` renames
the ``k``-th repeat of ``dup`` to ``dup#n``, with ``n`` the ``k``-th number from 2 whose name is no
id of the input (so a name taken by a rename is never an input's, and each rename is decided alone);
``quarantine`` takes the repeat out as ``duplicate_id``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from corpus.document import Document
from corpus.errors import Fault
from corpus.io import atomic

LOG_DIR = "ids"  # RUN/.state/ids/: each task's log and the run's sorted hashes
SETTLED = "duplicate-ids.json"  # RUN/.state/: the repeats and their counts, once every log is in
ALL = "all.npy"
SETTLED_KEY = "ids_settled"  # in a read-pass marker: the pass ran with its repeats applied


def id_hash(doc_id: str) -> int:
    """The id's 64-bit hash (a lone surrogate, which JSON can spell, hashes as its code point)."""
    return xxhash.xxh3_64_intdigest(doc_id.encode("utf-8", "surrogatepass"))


def log_path(state_dir: Path, task_id: str) -> Path:
    return state_dir / LOG_DIR / f"{task_id}.npz"


class _Taken:
    """Whether a name is an id of the input: a search in the run's sorted hashes (memory-mapped)."""

    def __init__(self, path: Path):
        self.hashes = np.load(path, mmap_mode="r")

    def __contains__(self, name: str) -> bool:
        h = np.uint64(id_hash(name))
        i = int(np.searchsorted(self.hashes, h))
        return i < len(self.hashes) and self.hashes[i] == h


def renamed(base: str, k: int, taken: _Taken) -> str:
    """The ``k``-th repeat's name: ``base#n`` for the ``k``-th ``n`` from 2 that no input id spells.
    Names ``base#n`` of distinct ``(base, n)`` differ (``n`` has no ``#``), so renames never meet."""
    n, free = 1, 0
    while free < k:
        n += 1
        if f"{base}#{n}" not in taken:
            free += 1
    return f"{base}#{n}"


class IdLog:
    """One task's ids in read order; with ``repeats`` (position -> rank), also what to do with each."""

    def __init__(self, policy: str, repeats: dict[int, int] | None = None, taken: Path | None = None):
        self.policy = policy
        self.repeats = repeats or {}
        self.taken = _Taken(taken) if self.repeats and policy == "suffix" and taken else None
        self.hashes: list[int] = []
        self.source_of: list[int] = []
        self.sources: dict[str, int] = {}

    def admit(self, doc: Document) -> bool:
        """Log ``doc``'s id (renaming a repeat under ``suffix``); False: quarantine it as a repeat."""
        position = len(self.hashes)
        self.hashes.append(id_hash(doc.id))
        self.source_of.append(self.sources.setdefault(doc.source, len(self.sources)))
        k = self.repeats.get(position)
        if k is None or self.policy == "keep":
            return True
        if self.policy == "quarantine":
            return False
        doc.id = renamed(doc.id, k, self.taken)
        return True

    def save(self, path: Path) -> None:
        buf = io.BytesIO()
        np.savez(buf, hashes=np.array(self.hashes, dtype=np.uint64), source=np.array(self.source_of, dtype=np.uint32),
                 sources=np.array(list(self.sources), dtype=str))
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(path, buf.getvalue())


def settle(state_dir: Path, task_ids: list[str]) -> dict[str, Any]:
    """Rank every logged id in plan order; returns (and keeps in ``SETTLED``) the repeats per task as
    ``[position, rank]`` pairs and their count per source. Writes the run's sorted hashes (``ALL``)."""
    logs, counts = [], {}
    missing = [tid for tid in task_ids if not log_path(state_dir, tid).is_file()]
    if missing:
        raise Fault(f"task {missing[0]} of this run has no id log ({LOG_DIR}/): the run was started by an older "
                    "Thresher; rerun with --restart to move it aside and build again")
    for tid in task_ids:
        with np.load(log_path(state_dir, tid)) as z:
            logs.append((z["hashes"], z["source"], list(z["sources"])))
    allh = np.concatenate([h for h, _, _ in logs]) if logs else np.empty(0, dtype=np.uint64)
    order = np.argsort(allh, kind="stable")
    sorted_h = allh[order]
    starts = np.flatnonzero(np.r_[True, sorted_h[1:] != sorted_h[:-1]]) if len(allh) else np.empty(0, np.int64)
    rank = np.empty(len(allh), dtype=np.int64)
    rank[order] = np.arange(len(allh)) - np.repeat(starts, np.diff(np.r_[starts, len(allh)]))
    unique = sorted_h[starts]
    buf = io.BytesIO()
    np.save(buf, np.asarray(unique, dtype=np.uint64))
    (state_dir / LOG_DIR).mkdir(parents=True, exist_ok=True)
    atomic.write_bytes(state_dir / LOG_DIR / ALL, buf.getvalue())
    repeats: dict[str, list[list[int]]] = {}
    offset = 0
    for tid, (h, source, sources) in zip(task_ids, logs, strict=True):
        ranks = rank[offset:offset + len(h)]
        offset += len(h)
        where = np.flatnonzero(ranks > 0)
        if len(where):
            repeats[tid] = [[int(p), int(ranks[p])] for p in where]
            for p in where:
                name = str(sources[int(source[p])])
                counts[name] = counts.get(name, 0) + 1
    settled = {"repeats": repeats, "counts": dict(sorted(counts.items()))}
    atomic.write_json(state_dir / SETTLED, settled)
    return settled
