"""How good was a ``dedup_minhash`` run? Exact Jaccard of sampled pairs against the LSH decision.

Three samples of document pairs, each pair's exact Jaccard computed from its shingle sets (from the
texts the stage kept with ``verify``, else rebuilt from the texts in ``data/`` and ``excluded/``):

- candidate pairs (``pairs.npy``): what fraction is truly at or above the threshold (LSH precision);
- near pairs found by a far more sensitive probe (``num_perm / 4`` bands of 4 rows, which catches
  J = 0.6 with probability 0.98) from sampled query documents: what fraction the configured
  bands x rows made candidates (recall), independent of the LSH being judged;
- random pairs: the low-similarity end of the S-curve.

Whether a pair is a candidate is decided as LSH does, from the stored signatures: some band equal.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from corpus.engine.plan import task_id
from corpus.rundir import DATA, EXCLUDED, RunDir, read_shards
from corpus.stages.dedup import runs, state
from corpus.stages.dedup.lsh import band_keys, has_signature
from corpus.stages.dedup.shingles import jaccard, shingle_set, shingles

PROBE_ROWS = 4
BINS = np.linspace(0.0, 1.0, 11)


@dataclass
class Source:
    dir: Path
    tasks: list[str]
    params: dict[str, Any]


def sources_of(state_dir: Path) -> list[Source]:
    """The run's own state and those of its ``against`` runs, in uid source order."""
    params = state.read_params(state_dir)
    dirs = [Path(d) for d in params.get("against", [])] + [state_dir]
    return [Source(d, state.read_params(d)["tasks"], state.read_params(d)) for d in dirs]


def _signatures(src: Source, task: str) -> np.ndarray:
    return runs.load(state.signature_path(src.dir, task))


def _signature_rows(sources: list[Source], uids: np.ndarray) -> np.ndarray:
    s, t, p = runs.split_uid(uids)
    out = None
    for key in sorted(set(zip(s.tolist(), t.tolist(), strict=True))):
        sel = np.flatnonzero((s == key[0]) & (t == key[1]))
        sigs = _signatures(sources[key[0]], task_id(key[1]))
        if out is None:
            out = np.empty((len(uids), sigs.shape[1]), dtype=sigs.dtype)
        out[sel] = sigs[p[sel]]
    return out if out is not None else np.empty((0, 0), dtype=np.uint32)


def probe_pairs(sources: list[Source], queries: np.ndarray, num_perm: int) -> np.ndarray:
    """Pairs (query, other) that share a band of the sensitive probe, streaming every task's signatures."""
    bands = num_perm // PROBE_ROWS
    qkeys = band_keys(_signature_rows(sources, queries), bands, PROBE_ROWS)
    index: dict[int, list[int]] = defaultdict(list)
    for qi, row in enumerate(qkeys):
        for k in row.tolist():
            index[k].append(qi)
    lookup = np.fromiter(index.keys(), dtype=np.uint64, count=len(index))
    found: set[tuple[int, int]] = set()
    for si, src in enumerate(sources):
        for task in src.tasks:
            sigs = np.asarray(_signatures(src, task))
            rows = np.flatnonzero(has_signature(sigs, src.params["empty"]))
            keys = band_keys(sigs[rows], bands, PROBE_ROWS)
            hit_doc, hit_band = np.nonzero(np.isin(keys, lookup))
            for d, b in zip(hit_doc.tolist(), hit_band.tolist(), strict=True):
                other = int(runs.uid(si, int(task), int(rows[d])))
                for qi in index[int(keys[d, b])]:
                    q = int(queries[qi])
                    if q != other:
                        found.add((min(q, other), max(q, other)))
    return np.array(sorted(found), dtype=np.uint64).reshape(-1, 2)


def is_candidate(sources: list[Source], pairs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    ka = band_keys(_signature_rows(sources, pairs[:, 0]), bands, rows)
    kb = band_keys(_signature_rows(sources, pairs[:, 1]), bands, rows)
    return (ka == kb).any(axis=1)


def _texts(sources: list[Source], uids: np.ndarray) -> dict[int, str]:
    """Texts of the given uids, read from each source run's ``data/`` and ``excluded/`` (the text as
    it left the pipeline: a stage after dedup that rewrites text shifts the Jaccard slightly)."""
    s, t, p = runs.split_uid(uids)
    want: dict[Path, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, u in enumerate(uids.tolist()):
        src = sources[s[i]]
        want[src.dir][state.read_ids(src.dir, task_id(t[i]))[p[i]]].append(u)
    out: dict[int, str] = {}
    for sdir, ids in want.items():
        run = RunDir(sdir.parent)
        for doc in read_shards(run.shards(DATA) + run.shards(EXCLUDED)):
            for u in ids.get(doc.id, ()):
                out.setdefault(u, doc.text)
    return out


def exact_jaccard(sources: list[Source], pairs: np.ndarray) -> np.ndarray:
    """Exact Jaccard per pair: stored shingle sets where the runs kept them, else rebuilt from text."""
    uids = np.unique(pairs)
    sets: dict[int, np.ndarray] = {}
    stored = state.ShingleSets()
    s, t, p = runs.split_uid(uids)
    need_text = []
    for i, u in enumerate(uids.tolist()):
        src = sources[s[i]]
        if src.params.get("verify"):
            sets[u] = stored.get(src.dir, task_id(t[i]), int(p[i]))
        else:
            need_text.append(u)
    if need_text:
        params = sources[-1].params
        texts = _texts(sources, np.array(need_text, dtype=np.uint64))
        for u, text in texts.items():
            sets[u] = shingle_set(shingles(text, params["ngram"], params["unit"]))
    return np.array([jaccard(sets[a], sets[b]) if a in sets and b in sets else np.nan
                     for a, b in pairs.tolist()])


def evaluate(state_dir: Path, samples: int, seed: int) -> dict[str, Any]:
    sources = sources_of(state_dir)
    params = sources[-1].params
    bands, rows, threshold = params["bands"], params["rows"], params["threshold"]
    rng = np.random.default_rng(seed)
    cand = runs.load(state_dir / "pairs.npy", mmap=False)
    cand = np.stack([cand["a"], cand["b"]], axis=1) if len(cand) else np.empty((0, 2), np.uint64)
    if len(cand) > samples:
        cand = cand[np.sort(rng.choice(len(cand), samples, replace=False))]
    own = sources[-1]
    counts = [len(_signatures(own, t)) for t in own.tasks]
    all_uids = np.concatenate([runs.uid(len(sources) - 1, int(t), np.arange(n)) for t, n in zip(own.tasks, counts, strict=True)]
                              ) if sum(counts) else np.empty(0, np.uint64)
    queries = np.sort(rng.choice(all_uids, min(samples, len(all_uids)), replace=False)) if len(all_uids) else all_uids
    near = probe_pairs(sources, queries, params["num_perm"]) if len(queries) else np.empty((0, 2), np.uint64)
    if len(near) > samples:
        near = near[np.sort(rng.choice(len(near), samples, replace=False))]
    rand = np.sort(rng.choice(all_uids, (min(samples, len(all_uids) // 2), 2)), axis=1) if len(all_uids) > 1 \
        else np.empty((0, 2), np.uint64)
    rand = rand[rand[:, 0] != rand[:, 1]]
    groups = {"candidate": cand, "near": near, "random": rand}
    result: dict[str, Any] = {"bands": bands, "rows": rows, "threshold": threshold,
                              "candidate_pairs_total": int(len(runs.load(state_dir / "pairs.npy")))}
    observed: list[tuple[float, bool]] = []
    unbiased: list[tuple[float, bool]] = []  # near and random pairs: chosen without the LSH being judged
    for name, pairs in groups.items():
        if not len(pairs):
            result[name] = {"pairs": 0}
            continue
        j = exact_jaccard(sources, pairs)
        hit = is_candidate(sources, pairs, bands, rows)
        ok = ~np.isnan(j)
        seen = list(zip(j[ok].tolist(), hit[ok].tolist(), strict=True))
        observed.extend(seen)
        if name != "candidate":
            unbiased.extend(seen)
        above = ok & (j >= threshold)
        result[name] = {"pairs": int(ok.sum()), "at_or_above_threshold": int(above.sum()),
                        "candidates": int((hit & ok).sum()), "mean_jaccard": round(float(np.nanmean(j)), 4)}
    c, n = result["candidate"], result["near"]
    result["precision"] = round(c["at_or_above_threshold"] / c["pairs"], 4) if c.get("pairs") else None
    near_j = [(j, h) for j, h in unbiased if j >= threshold]
    result["recall"] = round(sum(h for _, h in near_j) / len(near_j), 4) if near_j else None
    result["recall_pairs"] = len(near_j)
    result["near_pairs_found"] = n.get("pairs", 0)
    result["s_curve"] = s_curve(observed, bands, rows)
    return result


def theory(s: np.ndarray | float, bands: int, rows: int) -> np.ndarray | float:
    """Probability that LSH with ``bands x rows`` makes a pair of Jaccard ``s`` a candidate."""
    return 1 - (1 - np.power(s, rows)) ** bands


def s_curve(observed: list[tuple[float, bool]], bands: int, rows: int) -> list[dict[str, Any]]:
    out = []
    for lo, hi in zip(BINS[:-1], BINS[1:], strict=True):
        inside = [h for j, h in observed if lo <= j < hi or (hi == 1.0 and j == 1.0)]
        mid = (lo + hi) / 2
        out.append({"jaccard": f"{lo:.1f}-{hi:.1f}", "pairs": len(inside),
                    "observed": round(sum(inside) / len(inside), 4) if inside else None,
                    "theory": round(float(theory(mid, bands, rows)), 4)})
    return out


def plot(result: dict[str, Any], path: Path) -> None:
    """The S-curve as a PNG: theory line, observed detection rate per Jaccard bin (point size ~ pairs)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bands, rows = result["bands"], result["rows"]
    xs = np.linspace(0, 1, 201)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(xs, theory(xs, bands, rows), label=f"theory: 1-(1-s^{rows})^{bands}")
    pts = [(i / 10 + 0.05, b["observed"], b["pairs"]) for i, b in enumerate(result["s_curve"]) if b["pairs"]]
    if pts:
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=[10 + 4 * math.sqrt(p[2]) for p in pts],
                   color="C1", label="observed (exact Jaccard)", zorder=3)
    ax.axvline(result["threshold"], color="grey", ls="--", lw=1, label=f"threshold {result['threshold']}")
    ax.set_xlabel("Jaccard similarity (shingle sets)")
    ax.set_ylabel("probability of being a candidate pair")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(f"MinHash LSH S-curve ({bands} bands x {rows} rows)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
