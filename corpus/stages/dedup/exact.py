"""``dedup_exact``: drop documents whose normalised text (or a metadata field) was seen before.

``scan`` writes one sorted run of ``(128-bit key hash, uid)`` per task; ``reduce`` reads the runs one
hash range at a time (`runs`), so memory is bounded by ``partition_mb`` and not by the corpus; in each
group of equal keys every record but the one with the smallest uid (the first occurrence in input
order) is marked; ``process`` drops the marked documents. Whitespace is always collapsed for the
text key; case and punctuation as configured.

The runs stay after the build (24 bytes per document) with ``params.json``, so that a later build
can name this one in ``against``: the earlier runs' keys then count as earlier than every document
of the new build, and a new document whose key an earlier build saw is an ``exact_duplicate``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import xxhash

from corpus import keys
from corpus.document import Document
from corpus.errors import UserError
from corpus.io import atomic
from corpus.stages.base import GlobalStage, register
from corpus.stages.context import ReduceContext, StageContext
from corpus.stages.dedup import runs, state
from corpus.stages.dedup.memory import measured
from corpus.stages.dedup.shingles import strip_separators

REASON = "exact_duplicate"
RUN_DTYPE = np.dtype([("hi", "<u8"), ("lo", "<u8"), ("uid", "<u8")])
_MASK64 = (1 << 64) - 1


@dataclass
class ExactParams:
    key: str
    lowercase: bool
    strip_punctuation: bool
    partition_mb: float
    against: list[str] = field(default_factory=list)

    def check(self) -> None:
        if self.key != "text" and not (self.key.startswith("metadata.") and len(self.key) > len("metadata.")):
            raise UserError(f"stage 'dedup_exact': key must be 'text' or 'metadata.<field>', not {self.key!r}")
        if self.partition_mb <= 0:
            raise UserError("stage 'dedup_exact': partition_mb must be > 0")
        if not isinstance(self.against, list) or not all(isinstance(a, str) for a in self.against) or \
                len(self.against) >= runs.MAX_SOURCES:
            raise UserError(f"stage 'dedup_exact': against must be a list of at most {runs.MAX_SOURCES - 1} "
                            "run directories")
        for ref in self.against:
            earlier_run(ref, self.key_params())

    def key_params(self) -> dict[str, Any]:
        """What decides a key; a later build may dedup against this one only if these agree."""
        return {"key": self.key, "lowercase": self.lowercase, "strip_punctuation": self.strip_punctuation,
                "hash": "xxh3_128"}


def earlier_run(ref: str, mine: dict[str, Any]) -> Path:
    """An earlier build's ``dedup_exact`` state folder, if its keys are comparable with this stage's."""
    found = state.find_run(ref, DedupExact.name)
    theirs = state.read_params(found)
    for k, v in mine.items():
        if theirs.get(k) != v:
            raise UserError(f"against: {ref} was built with {k}={theirs.get(k)!r}, this stage has {k}={v!r}; "
                            f"keys are comparable only with equal {', '.join(mine)}")
    return found


@measured
def duplicates_in_range(job: dict[str, Any]) -> dict[str, Any]:
    """One hash range of every task's run -> the uids of every repeat (all but each key's first).

    Runs are stored with source 0; each gets its source here (earlier builds first, this one last),
    so that a key an earlier build saw is first there."""
    parts = []
    for path, source in job["runs"]:
        for part in runs.read_range([Path(path)], "hi", job["lo"], job["hi"]):
            part["uid"] |= np.uint64(source) << np.uint64(56)
            parts.append(part)
    recs = np.concatenate(parts) if parts else np.empty(0, dtype=RUN_DTYPE)
    recs = recs[np.lexsort((recs["uid"], recs["lo"], recs["hi"]))]
    first = runs.group_starts([recs["hi"], recs["lo"]])
    repeat = first != np.arange(len(recs))
    runs.save(Path(job["out"]), np.sort(recs["uid"][repeat]))
    return {"records": int(len(recs)), "keys_with_repeats": int(len(np.unique(first[repeat]))),
            "repeats": int(repeat.sum())}


@register
class DedupExact(GlobalStage):
    name = "dedup_exact"
    category = keys.DEDUP
    path_params = ("against",)
    Params = ExactParams
    rules = "dedup/exact.yaml"
    doc = "Exact duplicates of the normalised text (or of a metadata field): the first occurrence stays."

    def key_of(self, doc: Document) -> str | None:
        p: ExactParams = self.p
        if p.key != "text":
            value = doc.metadata.get(p.key[len("metadata."):])
            if value is None:
                return None
            return value if isinstance(value, str) else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        text = doc.text.lower() if p.lowercase else doc.text
        if p.strip_punctuation:
            text = strip_separators(text, keep_spaces=True)
        return " ".join(text.split())

    def scan(self, docs: Iterable[Document], ctx: StageContext) -> None:
        task = ctx.task_index
        rows: list[tuple[int, int, int]] = []
        for pos, doc in enumerate(docs):
            key = self.key_of(doc)
            if key is None:
                ctx.count("missing_key")
                continue
            h = xxhash.xxh3_128_intdigest(key.encode())
            rows.append((h >> 64, h & _MASK64, int(runs.uid(0, task, pos))))
        recs = np.array(rows, dtype=RUN_DTYPE) if rows else np.empty(0, dtype=RUN_DTYPE)
        runs.write_run(ctx.state_dir / "runs" / f"{ctx.task_id}.npy", recs, ("hi", "lo", "uid"))

    def reduce(self, ctx: ReduceContext) -> None:
        ctx.step("duplicates", lambda: self._duplicates(ctx))

    def _duplicates(self, ctx: ReduceContext) -> dict[str, Any]:
        t0 = time.perf_counter()
        p: ExactParams = self.p
        earlier = [earlier_run(ref, p.key_params()) for ref in p.against]
        atomic.write_json(ctx.state_dir / "params.json", {**p.key_params(), "tasks": list(ctx.task_ids),
                                                          "against": [str(d) for d in earlier]})
        files = [(str(d / "runs" / f"{t}.npy"), source) for source, d in enumerate(earlier)
                 for t in state.read_params(d)["tasks"]]
        against_keys = sum(len(runs.load(Path(f))) for f, _ in files)
        files += [(str(ctx.state_dir / "runs" / f"{t}.npy"), len(earlier)) for t in ctx.task_ids]
        total = sum(len(runs.load(Path(f))) for f, _ in files)
        ranges = runs.key_ranges(runs.partition_count(total * RUN_DTYPE.itemsize, p.partition_mb))
        jobs = [{"runs": files, "lo": lo, "hi": hi, "out": str(ctx.state_dir / "repeats" / f"{i:05d}.npy")}
                for i, (lo, hi) in enumerate(ranges)]
        done = ctx.map(duplicates_in_range, jobs)
        return {"keys": total - against_keys, "against_keys": against_keys, "partitions": len(ranges),
                "keys_with_repeats": sum(r["keys_with_repeats"] for r in done),
                "repeats": sum(r["repeats"] for r in done),
                "peak_rss_mb": max((r["peak_rss_mb"] for r in done), default=0.0),
                "seconds": round(time.perf_counter() - t0, 3)}

    def _repeats(self, ctx: StageContext) -> set[int]:
        """Positions, in this task's stream, of the documents that repeat an earlier one."""
        task, source = ctx.task_index, len(self.p.against)
        lo, hi = runs.uid(source, task, 0), runs.uid(source, task + 1, 0)
        out: set[int] = set()
        for path in sorted((ctx.state_dir / "repeats").glob("*.npy")):
            uids = runs.load(path)
            sel = uids[np.searchsorted(uids, lo):np.searchsorted(uids, hi)]
            out.update(runs.split_uid(sel)[2].tolist())
        return out

    def process(self, docs: Iterable[Document], ctx: StageContext) -> Iterator[Document]:
        repeats = self._repeats(ctx)
        return self.route(((doc, REASON if pos in repeats else None) for pos, doc in enumerate(docs)), ctx)
