"""LSH banding and candidate pairs, in bounded memory.

Phase ``buckets``: each task's signatures become one sorted run of ``(band key, uid)`` records, the
band key a 64-bit hash of the band index and its ``rows`` MinHash values. The runs are then read one
key range at a time (`runs`); documents that share a key share a bucket, and each bucket's members
are linked to its earliest member (a star, so a bucket of ``k`` gives ``k - 1`` edges, never ``k^2``).
Phase ``candidate_pairs``: edges from every band are made unique; with ``verify`` each pair's exact
Jaccard is computed from the shingle sets of its two documents (built from the texts the scan kept)
and pairs below the threshold (LSH false positives) are dropped.

A bucket links its members to its earliest member only, so ``verify`` judges each member against
that one: a member that fails (or links a member that fails) is joined to the others only through
another band. This can cost recall, never precision (every kept pair is a verified one); on the
benchmark corpora verified and unverified runs found the same pairs at J >= 0.8 (docs/dedup.md).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from corpus.stages.context import ReduceContext
from corpus.stages.dedup import runs, state
from corpus.stages.dedup.memory import measured
from corpus.stages.dedup.shingles import jaccard

BAND_DTYPE = np.dtype([("key", "<u8"), ("uid", "<u8")])
PAIR_DTYPE = np.dtype([("a", "<u8"), ("b", "<u8")])
VERIFY_CHUNK = 200_000
_MUL = np.uint64(0x9E3779B97F4A7C15)


def _fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser: a bijection that spreads every input bit over the output."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def band_keys(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """``(n, bands)`` 64-bit keys: equal keys mean (up to 2^-64 chance) equal band values."""
    v = sigs[:, : bands * rows].astype(np.uint64).reshape(len(sigs), bands, rows)
    h = np.broadcast_to(_fmix64(np.arange(1, bands + 1, dtype=np.uint64)), (len(sigs), bands)).copy()
    with np.errstate(over="ignore"):
        for j in range(rows):
            h = _fmix64(h * _MUL + v[:, :, j])
    return h


def has_signature(sigs: np.ndarray, empty: int) -> np.ndarray:
    """Rows of documents that had shingles (an empty document's MinHash is all ``empty``)."""
    return ~(sigs == empty).all(axis=1)


@measured
def band_run(job: dict[str, Any]) -> dict[str, Any]:
    """One task's signatures -> a sorted run of band records (documents without shingles left out)."""
    sigs = runs.load(Path(job["signatures"]))
    keep = np.flatnonzero(has_signature(sigs, job["empty"]))
    keys = band_keys(np.asarray(sigs[keep]), job["bands"], job["rows"])
    recs = np.empty(keys.size, dtype=BAND_DTYPE)
    recs["key"] = keys.ravel()
    recs["uid"] = np.repeat(runs.uid(job["source"], job["task"], keep), job["bands"])
    runs.write_run(Path(job["out"]), recs, ("key", "uid"))
    return {"entries": int(recs.size)}


def unique_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sorted unique ``(a, b)`` records."""
    pairs = np.empty(len(a), dtype=PAIR_DTYPE)
    pairs["a"], pairs["b"] = a, b
    pairs = pairs[np.lexsort((pairs["b"], pairs["a"]))]
    if len(pairs) > 1:
        pairs = pairs[np.r_[True, (pairs["a"][1:] != pairs["a"][:-1]) | (pairs["b"][1:] != pairs["b"][:-1])]]
    return pairs


@measured
def bucket_partition(job: dict[str, Any]) -> dict[str, Any]:
    """One key range of every band run -> star edges from each bucket's earliest member."""
    parts = list(runs.read_range([Path(p) for p in job["runs"]], "key", job["lo"], job["hi"]))
    recs = np.concatenate(parts) if parts else np.empty(0, dtype=BAND_DTYPE)
    recs = recs[np.lexsort((recs["uid"], recs["key"]))]
    first = runs.group_starts([recs["key"]])
    member = first != np.arange(len(recs))
    pairs = unique_pairs(recs["uid"][first[member]], recs["uid"][member])
    runs.save(Path(job["out"]), pairs)
    return {"entries": int(len(recs)), "buckets": int(len(np.unique(first[member]))), "edges": int(len(pairs))}


def _peak(results: list[dict[str, Any]]) -> float:
    return max((r["peak_rss_mb"] for r in results), default=0.0)


def buckets_phase(ctx: ReduceContext, sources: list[dict[str, Any]], bands: int, rows: int,
                  empty: int, partition_mb: float) -> dict[str, Any]:
    t0 = time.perf_counter()
    work = ctx.state_dir / "buckets"
    jobs = [{"signatures": str(state.signature_path(Path(s["dir"]), t)), "source": i, "task": index,
             "out": str(work / f"{i:03d}-{t}.npy"), "bands": bands, "rows": rows, "empty": empty}
            for i, s in enumerate(sources) for index, t in enumerate(s["tasks"])]
    made = ctx.map(band_run, jobs)
    entries = sum(r["entries"] for r in made)
    ranges = runs.key_ranges(runs.partition_count(entries * BAND_DTYPE.itemsize, partition_mb))
    part_jobs = [{"runs": [j["out"] for j in jobs], "lo": lo, "hi": hi,
                  "out": str(ctx.state_dir / "edges" / f"{p:05d}.npy")} for p, (lo, hi) in enumerate(ranges)]
    parts = ctx.map(bucket_partition, part_jobs)
    return {"band_entries": entries, "partitions": len(ranges),
            "buckets_with_duplicates": sum(r["buckets"] for r in parts),
            "edges": sum(r["edges"] for r in parts),
            "peak_rss_mb": {"band_runs": _peak(made), "partitions": _peak(parts)},
            "seconds": round(time.perf_counter() - t0, 3)}


@measured
def verify_chunk(job: dict[str, Any]) -> dict[str, Any]:
    """Exact Jaccard of a slice of candidate pairs; keeps those at or above the threshold."""
    pairs = np.array(runs.load(Path(job["pairs"]))[job["start"]:job["end"]])
    sources = [(Path(s["dir"]), s["tasks"]) for s in job["sources"]]
    sets = state.ShingleSets()
    sa, ta, pa = runs.split_uid(pairs["a"])
    sb, tb, pb = runs.split_uid(pairs["b"])
    keep = np.zeros(len(pairs), dtype=bool)
    for i in range(len(pairs)):
        (dir_a, tasks_a), (dir_b, tasks_b) = sources[sa[i]], sources[sb[i]]
        a = sets.get(dir_a, tasks_a[ta[i]], int(pa[i]))
        b = sets.get(dir_b, tasks_b[tb[i]], int(pb[i]))
        keep[i] = jaccard(a, b) >= job["threshold"]
    runs.save(Path(job["out"]), pairs[keep])
    return {"kept": int(keep.sum())}


def pairs_phase(ctx: ReduceContext, sources: list[dict[str, Any]], verify: bool, threshold: float) -> dict[str, Any]:
    """Unique candidate pairs over all bands (``pairs.npy``); with ``verify``, the true ones (``verified/``)."""
    from corpus.stages.dedup.memory import peak_mb, reset_peak

    t0 = time.perf_counter()
    reset_peak()
    edges = [runs.load(p, mmap=False) for p in sorted((ctx.state_dir / "edges").glob("*.npy"))]
    allp = np.concatenate(edges) if edges else np.empty(0, dtype=PAIR_DTYPE)
    pairs = unique_pairs(allp["a"], allp["b"])
    del edges, allp
    runs.save(ctx.state_dir / "pairs.npy", pairs)
    out: dict[str, Any] = {"candidate_pairs": int(len(pairs)), "peak_rss_mb": {"unique": peak_mb()}}
    if verify:
        jobs = [{"pairs": str(ctx.state_dir / "pairs.npy"), "start": s, "end": min(len(pairs), s + VERIFY_CHUNK),
                 "sources": sources, "threshold": threshold,
                 "out": str(ctx.state_dir / "verified" / f"{s // VERIFY_CHUNK:05d}.npy")}
                for s in range(0, len(pairs), VERIFY_CHUNK)]
        done = ctx.map(verify_chunk, jobs)
        kept = sum(r["kept"] for r in done)
        out.update(verified_pairs=kept, false_positives=len(pairs) - kept)
        out["peak_rss_mb"]["verify"] = _peak(done)
    out["seconds"] = round(time.perf_counter() - t0, 3)
    return out


def final_pairs(state_dir: Path, verify: bool) -> np.ndarray:
    """The pairs that link documents into clusters: verified ones with ``verify``, else every candidate."""
    if not verify:
        return runs.load(state_dir / "pairs.npy", mmap=False)
    chunks = [runs.load(p, mmap=False) for p in sorted((state_dir / "verified").glob("*.npy"))]
    return np.concatenate(chunks) if chunks else np.empty(0, dtype=PAIR_DTYPE)
