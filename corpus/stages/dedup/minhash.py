"""``dedup_minhash``: near-duplicate removal with MinHash LSH, clusters and representatives.

Phases on the engine's global-stage API:

1. ``signatures`` (``scan``, parallel per task): shingles -> datasketch MinHash (``MinHash.generator``,
   xxhash as ``hashfunc``, scheme and seed pinned), streamed to ``RUN/<label>/signatures/``.
2. ``buckets`` (``reduce``): band keys, sorted runs, range partitions -> star edges (`lsh`).
3. ``candidate_pairs``: unique pairs; with ``verify`` (the default), exact Jaccard of the shingle sets,
   computed from the texts the scan kept, drops LSH false positives.
4. ``clusters``: union-find; the earliest document represents its cluster (`clusters`).
5. filter (``process``, parallel): annotate ``dedup_cluster`` / ``dedup_cluster_size``, drop the rest.

Each reduce phase runs once across resumes (``ctx.step``) and reports counts, seconds and peak RSS
to the ledger's ``phases``.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xxhash
from datasketch import MinHash

from corpus import keys
from corpus.document import Document
from corpus.errors import UserError
from corpus.io import atomic
from corpus.stages.base import GlobalStage, register
from corpus.stages.context import ReduceContext, RunContext, StageContext
from corpus.stages.dedup import clusters, lsh, runs, state
from corpus.stages.dedup.memory import peak_mb, reset_peak
from corpus.stages.dedup.shingles import UNITS, shingles

REASON = "near_duplicate"
SCHEMES = {"affine32": ("xxh32", np.uint32), "affine64": ("xxh64", np.uint64), "legacy": ("xxh32", np.uint64)}
HASHES = {"xxh32": xxhash.xxh32_intdigest, "xxh64": xxhash.xxh64_intdigest}


@dataclass
class MinHashParams:
    ngram: int
    unit: str
    num_perm: int
    seed: int
    scheme: str
    threshold: float
    bands: int | None
    rows: int | None
    weights: list[float]
    verify: bool
    keep_per_cluster: int | list[dict[str, int]]
    against: list[str] = field(default_factory=list)
    partition_mb: float = 256.0

    def check(self) -> None:
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise UserError(f"stage 'dedup_minhash': {msg}")

        need(self.ngram >= 1, "ngram must be >= 1")
        need(self.unit in UNITS, f"unit must be one of {', '.join(UNITS)}, not {self.unit!r}")
        need(self.num_perm >= 2, "num_perm must be >= 2")
        need(self.scheme in SCHEMES, f"scheme must be one of {', '.join(SCHEMES)}, not {self.scheme!r}")
        need(0.0 < self.threshold <= 1.0, "threshold must be in (0, 1]")
        need((self.bands is None) == (self.rows is None), "give both bands and rows, or neither")
        if self.bands is not None and self.rows is not None:
            need(self.bands >= 1 and self.rows >= 1 and self.bands * self.rows <= self.num_perm,
                 f"bands x rows ({self.bands} x {self.rows}) must be positive and at most num_perm ({self.num_perm})")
        need(len(self.weights) == 2 and all(w >= 0 for w in self.weights) and sum(self.weights) > 0,
             "weights must be [false_positive_weight, false_negative_weight], both >= 0")
        if isinstance(self.keep_per_cluster, int):
            need(self.keep_per_cluster >= 1, "keep_per_cluster must be >= 1")
        else:
            need(all(isinstance(r, dict) and set(r) == {"min_size", "keep"} and isinstance(r["min_size"], int)
                     and isinstance(r["keep"], int) and r["min_size"] >= 1 and r["keep"] >= 1
                     for r in self.keep_per_cluster),
                 "keep_per_cluster must be a number >= 1 or a list of {min_size: N, keep: K} with N, K >= 1")
        need(self.partition_mb > 0, "partition_mb must be > 0")
        need(all(isinstance(a, str) for a in self.against), "against must be a list of run directories")
        need(len(self.against) < runs.MAX_SOURCES, f"against takes at most {runs.MAX_SOURCES - 1} runs")
        for ref in self.against:
            state.check_compatible(ref, self.signature_params(), self.verify)

    def signature_params(self) -> dict[str, Any]:
        """What decides a signature; a later run may dedup against this one only if these agree."""
        return {"num_perm": self.num_perm, "seed": self.seed, "scheme": self.scheme,
                "hash": SCHEMES[self.scheme][0], "ngram": self.ngram, "unit": self.unit}


@functools.lru_cache(maxsize=32)
def bands_rows(p_key: tuple) -> tuple[int, int]:
    """Explicit ``bands x rows``, else datasketch's optimiser for the threshold and weights."""
    threshold, num_perm, bands, rows, fp_w, fn_w = p_key
    if bands is not None:
        return bands, rows
    from datasketch.lsh import _optimal_param

    return tuple(int(x) for x in _optimal_param(threshold, num_perm, fp_w, fn_w))


@register
class DedupMinHash(GlobalStage):
    name = "dedup_minhash"
    category = keys.DEDUP
    path_params = ("against",)
    Params = MinHashParams
    rules = "dedup/minhash.yaml"
    doc = "Near-duplicate removal: MinHash LSH, clusters with the earliest document as representative."

    def bands_rows(self) -> tuple[int, int]:
        p: MinHashParams = self.p
        return bands_rows((p.threshold, p.num_perm, p.bands, p.rows, *p.weights))

    def _minhash_kwargs(self) -> dict[str, Any]:
        p: MinHashParams = self.p
        return {"num_perm": p.num_perm, "seed": p.seed, "scheme": p.scheme, "hashfunc": HASHES[SCHEMES[p.scheme][0]]}

    def empty_value(self) -> int:
        """The value every slot of an empty document's MinHash keeps."""
        return int(MinHash(num_perm=1, seed=self.p.seed, scheme=self.p.scheme).hashvalues[0])

    # ------------------------------------------------------------ phase 1: signatures (per task)

    def scan(self, docs: Iterable[Document], ctx: StageContext) -> None:
        p: MinHashParams = self.p
        reset_peak()
        ids: list[str] = []
        offsets = [0]
        empty = 0
        with contextlib.ExitStack() as stack:
            texts = (stack.enter_context(atomic.atomic_open(state.text_paths(ctx.state_dir, ctx.task_id)[0]))
                     if p.verify else None)

            def feed() -> Iterator[list[bytes]]:
                nonlocal empty
                for doc in docs:
                    ids.append(doc.id)
                    sh = shingles(doc.text, p.ngram, p.unit)
                    empty += not sh
                    if texts is not None:
                        raw = doc.text.encode()
                        texts.write(raw)
                        offsets.append(offsets[-1] + len(raw))
                    yield sh

            dtype = SCHEMES[p.scheme][1]
            rows = [m.hashvalues for m in MinHash.generator(feed(), **self._minhash_kwargs())]
            sigs = np.stack(rows).astype(dtype) if rows else np.empty((0, p.num_perm), dtype=dtype)
        if p.verify:
            runs.save(state.text_paths(ctx.state_dir, ctx.task_id)[1], np.asarray(offsets, dtype=np.int64))
        atomic.write_json(state.ids_path(ctx.state_dir, ctx.task_id), ids)
        runs.save(state.signature_path(ctx.state_dir, ctx.task_id), sigs)
        atomic.write_json(state.signature_path(ctx.state_dir, ctx.task_id).with_suffix(".json"),
                          {"documents": len(ids), "without_shingles": empty, "peak_rss_mb": peak_mb()})
        ctx.count("signatures", len(ids))
        ctx.count("docs_without_shingles", empty)

    # ------------------------------------------------------------ phases 2-4: global

    def reduce(self, ctx: ReduceContext) -> None:
        p: MinHashParams = self.p
        bands, rows = self.bands_rows()
        sources = [{"dir": str(state.check_compatible(ref, p.signature_params(), p.verify)),
                    "tasks": state.read_params(state.find_run(ref))["tasks"]} for ref in p.against]
        sources.append({"dir": str(ctx.state_dir), "tasks": list(ctx.task_ids)})
        ctx.step("signatures", lambda: self._signatures(ctx, sources, bands, rows))
        ctx.step("buckets", lambda: lsh.buckets_phase(ctx, sources, bands, rows, self.empty_value(), p.partition_mb))
        ctx.step("candidate_pairs", lambda: lsh.pairs_phase(ctx, sources, p.verify, p.threshold))
        ctx.step("clusters", lambda: clusters.clusters_phase(ctx, lsh.final_pairs(ctx.state_dir, p.verify), sources,
                                                              p.keep_per_cluster))

    def _signatures(self, ctx: ReduceContext, sources: list[dict[str, Any]], bands: int, rows: int) -> dict[str, Any]:
        """Sum the scan's per-task figures and write ``params.json``, which later runs' ``against`` reads."""
        p: MinHashParams = self.p
        metas = [atomic.read_json(state.signature_path(ctx.state_dir, t).with_suffix(".json")) for t in ctx.task_ids]
        atomic.write_json(ctx.state_dir / "params.json", {
            **p.signature_params(), "bands": bands, "rows": rows, "threshold": p.threshold, "verify": p.verify,
            "empty": self.empty_value(),
            "tasks": list(ctx.task_ids), "against": [s["dir"] for s in sources[:-1]]})
        earlier = sum(len(runs.load(state.signature_path(Path(s["dir"]), t))) for s in sources[:-1] for t in s["tasks"])
        return {"signatures": sum(m["documents"] for m in metas),
                "without_shingles": sum(m["without_shingles"] for m in metas),
                "against_signatures": earlier, "bands": bands, "rows": rows,
                "peak_rss_mb": max((m["peak_rss_mb"] for m in metas), default=0.0)}

    def finalize(self, ctx: RunContext) -> None:
        """Drop the band runs and bucket edges; signatures, ids, shingle sets, pairs and clusters stay
        (for ``against`` and ``dedup-eval``)."""
        for sub in ("buckets", "edges"):
            shutil.rmtree(ctx.state_dir / sub, ignore_errors=True)

    # ------------------------------------------------------------ phase 5: filter (per task)

    def process(self, docs: Iterable[Document], ctx: StageContext) -> Iterator[Document]:
        path = state.cluster_path(ctx.state_dir, ctx.task_id)
        members: dict[int, tuple[str, int, bool]] = {}
        if path.exists():
            c = atomic.read_json(path)
            members = {pos: (rep, size, drop)
                       for pos, rep, size, drop in zip(c["pos"], c["rep"], c["size"], c["drop"], strict=True)}
        return self.route(self._annotated(docs, members), ctx)

    @staticmethod
    def _annotated(docs: Iterable[Document], members: dict[int, tuple[str, int, bool]]
                   ) -> Iterator[tuple[Document, str | None]]:
        for pos, doc in enumerate(docs):
            rep, size, drop = members.get(pos, (doc.id, 1, False))
            doc.metadata[keys.DEDUP_CLUSTER] = rep
            doc.metadata[keys.DEDUP_CLUSTER_SIZE] = size
            yield doc, REASON if drop else None
