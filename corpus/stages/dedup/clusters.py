"""Clusters from candidate pairs: union-find over the documents that have any pair at all.

Only documents that appear in a pair enter memory (a corpus with few duplicates has a small graph
however large it is). Union-find runs vectorised: every pair hooks the larger of its two roots under
the smaller, then paths are compressed by pointer jumping, until no pair spans two roots. Since a
document is only ever hooked under a smaller one, each root is its cluster's smallest uid: the
earliest document in input order, which becomes the representative.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from corpus.io import atomic
from corpus.stages.context import ReduceContext
from corpus.stages.dedup import runs, state
from corpus.stages.dedup.memory import peak_mb, reset_peak


def union_find(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(nodes, root)``: the sorted uids that appear in a pair, and the index of each one's root."""
    nodes = np.unique(np.concatenate([a, b]))
    ia, ib = np.searchsorted(nodes, a), np.searchsorted(nodes, b)
    parent = np.arange(len(nodes))
    while True:
        ra, rb = parent[ia], parent[ib]
        split = ra != rb
        if not split.any():
            return nodes, parent
        np.minimum.at(parent, np.maximum(ra, rb)[split], np.minimum(ra, rb)[split])
        while True:  # pointer jumping until every node points at its root
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped


def keep_counts(sizes: np.ndarray, keep_per_cluster: int | list[dict[str, int]]) -> np.ndarray:
    """How many members each cluster keeps: a number, or ``[{min_size, keep}, ...]`` by cluster size."""
    if isinstance(keep_per_cluster, int):
        return np.full(len(sizes), keep_per_cluster)
    rules = sorted((r["min_size"], r["keep"]) for r in keep_per_cluster)
    out = np.ones(len(sizes), dtype=np.int64)
    for min_size, keep in rules:
        out[sizes >= min_size] = keep
    return out


def size_histogram(sizes: np.ndarray) -> dict[str, int]:
    """Clusters per size bin: ``2``, ``3-4``, ``5-8``, ``9-16``, ... (powers of two)."""
    hist: dict[str, int] = {}
    if not len(sizes):
        return hist
    bins = np.ceil(np.log2(sizes)).astype(int)
    for k, n in zip(*np.unique(bins, return_counts=True), strict=True):
        lo, hi = (1 << (int(k) - 1)) + 1, 1 << int(k)
        hist[str(hi) if lo == hi else f"{lo}-{hi}"] = int(n)
    return hist


def _rep_ids(reps: np.ndarray, sources: list[dict[str, Any]]) -> dict[int, str]:
    """Document id of each representative uid, reading one task's id list at a time."""
    src, task, pos = runs.split_uid(reps)
    by_task: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i in range(len(reps)):
        by_task[(int(src[i]), int(task[i]))].append(i)
    out: dict[int, str] = {}
    for (s, t), idx in sorted(by_task.items()):
        ids = state.read_ids(Path(sources[s]["dir"]), sources[s]["tasks"][t])
        for i in idx:
            out[int(reps[i])] = ids[pos[i]]
    return out


def clusters_phase(ctx: ReduceContext, pairs: np.ndarray, sources: list[dict[str, Any]],
                   keep_per_cluster: int | list[dict[str, int]]) -> dict[str, Any]:
    """Cluster, choose who stays, and write ``clusters/<task>.json`` for this run's tasks. A uid's task
    is the task's index in its source's ``tasks`` (this run's are ``ctx.task_ids``)."""
    t0 = time.perf_counter()
    reset_peak()
    nodes, root = union_find(pairs["a"], pairs["b"])
    roots, inverse, counts = np.unique(root, return_inverse=True, return_counts=True)
    size = counts[inverse]
    order = np.argsort(root, kind="stable")  # members of a cluster in input order
    rank = np.empty(len(nodes), dtype=np.int64)
    rank[order] = np.arange(len(nodes)) - runs.group_starts([root[order]])
    drop = rank >= keep_counts(size, keep_per_cluster)
    src, task, pos = runs.split_uid(nodes)
    here = src == len(sources) - 1  # this run is the last source
    rep_uid = nodes[root]
    names = _rep_ids(np.unique(rep_uid[here]), sources)
    for t in np.unique(task[here]):
        sel = np.flatnonzero(here & (task == t))
        atomic.write_json(state.cluster_path(ctx.state_dir, ctx.task_ids[t]), {
            "pos": pos[sel].tolist(), "rep": [names[int(u)] for u in rep_uid[sel]],
            "size": size[sel].tolist(), "drop": drop[sel].tolist()})
    return {"clusters": int(len(roots)), "documents_in_clusters": int(len(nodes)),
            "largest_cluster": int(counts.max()) if len(counts) else 0,
            "cluster_sizes": size_histogram(counts),
            "duplicates": int((drop & here).sum()), "peak_rss_mb": peak_mb(),
            "seconds": round(time.perf_counter() - t0, 3)}
