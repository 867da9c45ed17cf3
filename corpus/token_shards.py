"""Documents to token shards, one task at a time, and the manifests over every task's shards.

Used by the ``tokenize`` stage (inside a build) and by ``thresher tokenize RUN`` (on a finished run)
alike, so both give the same bytes. Every decision is a pure function of the document and the
settings, never of timing or worker count:

- a document goes to validation when a hash of its id falls under ``val_fraction`` (the same
  document lands on the same side in every run, whatever the mixture or seed);
- in training, a document of a source with weight ``w`` is written ``floor(w)`` times, plus once more
  when a seeded hash of its id falls under ``w - floor(w)``: the expected number of copies is ``w``;
- shards are named ``<task>-NNN`` and roll over at ``shard_size_mb``, so a redone task rewrites
  exactly the files it wrote before, and memory stays bounded by one shard's index.

Each task ends by writing ``<tokens>/.state/<task>.json`` (its shards, hashes and per-source counts);
``write_manifests`` joins those in task order into ``manifest.json`` and ``val/manifest.json``.
"""

from __future__ import annotations

import fnmatch
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from corpus import draws
from corpus.document import Document
from corpus.errors import InvariantError, UserError
from corpus.io import atomic
from corpus.rundir import STATE, TOKENS_MANIFEST, TOKENS_VAL
from corpus.tokenizer import LoadedTokenizer, folder_sha256, load
from corpus.tokens import FORMAT, ShardWriter, dtype_for_vocab

TOKENIZER_DIR = "tokenizer"
_COUNTS = ("documents_in", "tokens_in", "documents", "sequences", "tokens")
BATCH_CHARS = 8 << 20  # a batch also ends at this many characters, so memory stays bounded


@dataclass
class Settings:
    """What decides the tokens (the ``tokenize`` stage's keys and ``thresher tokenize``'s options)."""

    tokenizer: str
    val_fraction: float = 0.0
    mix: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    shard_size_mb: float = 1024.0
    eos_token: str | None = None

    def check(self) -> None:
        from corpus.tokenizer import check_ref

        if not isinstance(self.tokenizer, str) or not self.tokenizer:
            raise UserError("tokenize: tokenizer must be a tokenizer folder or a hub name")
        check_ref(self.tokenizer)
        if not 0.0 <= self.val_fraction < 1.0:
            raise UserError(f"tokenize: val_fraction must be in [0, 1), not {self.val_fraction!r}")
        if not 0 <= self.seed < 2 ** 64:
            raise UserError("tokenize: seed must be a whole number in [0, 2**64)")
        if not self.shard_size_mb > 0:
            raise UserError("tokenize: shard_size_mb must be a positive number")
        for pattern, weight in self.mix.items():
            ok = isinstance(weight, (int, float)) and not isinstance(weight, bool) and math.isfinite(weight)
            if not isinstance(pattern, str) or not ok or weight < 0:
                raise UserError(f"tokenize: mix needs {{source_glob_or_name: weight >= 0}}, got {pattern!r}: {weight!r}")

    def key(self) -> dict[str, Any]:
        """The settings that change the bytes written (recorded per task and compared in the manifest).

        ``mix`` is a list of ``[pattern, weight]`` pairs: the first pattern naming a source wins, so
        the same patterns in another order are other settings (two mappings compare equal in any order).
        """
        key = {k: v for k, v in asdict(self).items() if k != "tokenizer"}
        key["mix"] = [[pattern, weight] for pattern, weight in self.mix.items()]
        return key


def is_val(doc_id: str, fraction: float) -> bool:
    """The split depends on the document id only (a fixed seed), never on the mixture or its seed."""
    return fraction > 0 and draws.below(draws.VAL_SPLIT, doc_id, draws.VAL_SPLIT_SEED, fraction)


class Mixer:
    """Per-source weights from ``mix`` (the first pattern naming a source wins; unmatched sources weigh 1)."""

    def __init__(self, weights: dict[str, float], seed: int):
        self.weights, self.seed = dict(weights), seed
        self._rules: dict[str, tuple[str | None, float]] = {}

    @staticmethod
    def matches(pattern: str, source: str) -> bool:
        """A pattern names a source whole (``data/web.jsonl``, ``data/*``) or by its file name (``web-*``)."""
        return fnmatch.fnmatchcase(source, pattern) or fnmatch.fnmatchcase(source.rsplit("/", 1)[-1], pattern)

    def rule(self, source: str) -> tuple[str | None, float]:
        """``(pattern, weight)`` of the first pattern naming ``source``, or ``(None, 1.0)``."""
        if source not in self._rules:
            self._rules[source] = next(((p, float(w)) for p, w in self.weights.items() if self.matches(p, source)),
                                       (None, 1.0))
        return self._rules[source]

    def copies(self, doc_id: str, weight: float) -> int:
        whole = math.floor(weight)
        frac = weight - whole
        if frac and draws.below(draws.MIX, doc_id, self.seed, frac):
            whole += 1
        return whole


class SplitWriter:
    """One split (train or val) of one task: shards rolling over at a size, counts per source."""

    def __init__(self, directory: Path, task_id: str, dtype: np.dtype, limit_bytes: int):
        self.dir, self.task_id, self.dtype, self.limit = directory, task_id, dtype, limit_bytes
        self.shards: list[dict[str, Any]] = []
        self.sources: dict[str, Counter] = defaultdict(Counter)
        self._writer: ShardWriter | None = None

    def add(self, doc: Document, seq: np.ndarray, copies: int) -> None:
        c = self.sources[doc.source]
        c["documents_in"] += 1
        c["tokens_in"] += seq.size
        if copies <= 0:
            return
        if self._writer is None:
            self._writer = ShardWriter(self.dir / f"{self.task_id}-{len(self.shards):03d}", self.dtype)
        for _ in range(copies):
            self._writer.add(seq, doc.id)
        c["documents"] += 1
        c["sequences"] += copies
        c["tokens"] += copies * seq.size
        if self._writer.nbytes >= self.limit:
            self._roll()

    def _roll(self) -> None:
        if self._writer is not None:
            self.shards.append(self._writer.close())
            self._writer = None

    def close(self) -> dict[str, Any]:
        self._roll()
        return {"shards": self.shards, "sources": {s: dict(c) for s, c in sorted(self.sources.items())}}

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.abort()


def batches(docs: Iterable[Document], size: int, max_chars: int = BATCH_CHARS) -> Iterator[list[Document]]:
    batch: list[Document] = []
    chars = 0
    for doc in docs:
        batch.append(doc)
        chars += len(doc.text)
        if len(batch) >= size or chars >= max_chars:
            yield batch
            batch, chars = [], 0
    if batch:
        yield batch


def encode_overlapped(tok: LoadedTokenizer, docs: Iterable[Document],
                      size: int) -> Iterator[tuple[list[Document], list[list[int]]]]:
    """``(batch, token ids)`` in order; batch k is encoded on a helper thread (the Rust pool, without
    the GIL) while batch k+1 is read and parsed, so reading never leaves the encoder idle."""
    with ThreadPoolExecutor(1, thread_name_prefix="encode") as pool:
        pending: tuple[list[Document], Future] | None = None
        for batch in batches(docs, size):
            job = pool.submit(tok.encode, [d.text for d in batch])
            if pending is not None:
                yield pending[0], pending[1].result()
            pending = (batch, job)
        if pending is not None:
            yield pending[0], pending[1].result()


def clean_task(tokens_dir: Path, task_id: str) -> None:
    """Remove what an earlier attempt at this task left (shards, temp files, its summary)."""
    for d in (tokens_dir, tokens_dir / TOKENS_VAL):
        if d.is_dir():
            for p in [*d.glob(f"{task_id}-*"), *d.glob(f".{task_id}-*.tmp")]:
                p.unlink()
    summary_path(tokens_dir, task_id).unlink(missing_ok=True)


class TaskTokens:
    """Tokenizes one task's documents in batches into ``tokens/`` and ``tokens/val/``."""

    def __init__(self, tok: LoadedTokenizer, settings: Settings, tokens_dir: Path, task_id: str):
        self.tok, self.s, self.dir, self.task_id = tok, settings, tokens_dir, task_id
        self.dtype = dtype_for_vocab(tok.vocab_size)
        clean_task(tokens_dir, task_id)
        limit = max(1, int(settings.shard_size_mb * (1 << 20)))
        self.train = SplitWriter(tokens_dir, task_id, self.dtype, limit)
        self.val = SplitWriter(tokens_dir / TOKENS_VAL, task_id, self.dtype, limit)
        self.mixer = Mixer(settings.mix, settings.seed)
        self.summary: dict[str, Any] | None = None

    def run(self, docs: Iterable[Document], batch_size: int) -> Iterator[Document]:
        """Tokenize ``docs``, yielding each once its tokens are written; ends by committing (`close`)."""
        try:
            for batch, encoded in encode_overlapped(self.tok, docs, batch_size):
                self.write(batch, encoded)
                yield from batch
        except BaseException:
            self.abort()
            raise
        self.close()

    def write(self, docs: Sequence[Document], encoded: Sequence[Sequence[int]]) -> None:
        """Write each document's sequence (its ids, then EOS) to its split, as many times as the mix says."""
        eos = self.tok.eos_id
        for doc, ids in zip(docs, encoded, strict=True):
            seq = np.empty(len(ids) + 1, dtype=self.dtype)
            seq[:-1] = ids
            seq[-1] = eos
            if is_val(doc.id, self.s.val_fraction):
                self.val.add(doc, seq, 1)
            else:
                self.train.add(doc, seq, self.mixer.copies(doc.id, self.mixer.rule(doc.source)[1]))

    def close(self) -> dict[str, Any]:
        """Commit the last shards and the task's summary (the task's proof of completion)."""
        summary = {"task": self.task_id, "tokenizer": self.tok.identity(), "settings": self.s.key(),
                   "train": self.train.close(), "val": self.val.close()}
        atomic.write_json(summary_path(self.dir, self.task_id), summary)
        self.summary = summary
        return summary

    def abort(self) -> None:
        self.train.abort()
        self.val.abort()


def summaries_dir(tokens_dir: Path) -> Path:
    """``<tokens>/.state/``: the tasks' summaries, each the proof that its task finished."""
    return tokens_dir / STATE


def summary_path(tokens_dir: Path, task_id: str) -> Path:
    return summaries_dir(tokens_dir) / f"{task_id}.json"


def task_summary(tokens_dir: Path, task_id: str) -> dict[str, Any] | None:
    path = summary_path(tokens_dir, task_id)
    return atomic.read_json(path) if path.exists() else None


def made_with(summary: dict[str, Any], tok: LoadedTokenizer, settings: Settings) -> bool:
    """Whether a task's summary records this tokenizer and these settings (as `TaskTokens.close` wrote them)."""
    return summary["tokenizer"] == tok.identity() and summary["settings"] == settings.key()


def _mix_section(settings: Settings, sources: dict[str, Counter], applied: bool) -> dict[str, Any]:
    mixer = Mixer(settings.mix if applied else {}, settings.seed)
    rows = {src: (mixer.rule(src), c) for src, c in sources.items()}
    target_total = sum(w * c["tokens_in"] for (_, w), c in rows.values())
    realised_total = sum(c["tokens"] for _, c in rows.values())
    out = {}
    for src, ((pattern, weight), c) in rows.items():
        out[src] = {"pattern": pattern, "target_weight": weight,
                    "realised_weight": round(c["tokens"] / c["tokens_in"], 6) if c["tokens_in"] else None,
                    "target_share": round(weight * c["tokens_in"] / target_total, 6) if target_total else None,
                    "realised_share": round(c["tokens"] / realised_total, 6) if realised_total else None,
                    **{k: c[k] for k in _COUNTS}}
    used = {p for (p, _), _ in rows.values()}
    return {"applied": applied, "seed": settings.seed, "weights": dict(settings.mix) if applied else {},
            "unused_patterns": [p for p in settings.mix if applied and p not in used], "sources": out}


def _split_manifest(tok: LoadedTokenizer, settings: Settings, summaries: list[dict], split: str,
                    tokenizer_path: str) -> dict[str, Any]:
    shards = [s for summ in summaries for s in summ[split]["shards"]]
    sources: dict[str, Counter] = defaultdict(Counter)
    for summ in summaries:
        for src, c in summ[split]["sources"].items():
            sources[src].update(c)
    sources = dict(sorted(sources.items()))
    return {
        "format": FORMAT,
        "tokenizer": {**tok.identity(), "path": tokenizer_path},
        "vocab_size": tok.vocab_size,
        "dtype": dtype_for_vocab(tok.vocab_size).name,
        "eos_id": tok.eos_id, "bos_id": tok.bos_id, "pad_id": tok.pad_id,
        "sequence": "encode(text, add_special_tokens=False, split_special_tokens=True) + [eos_id]",
        "shards": shards,
        "totals": {"sequences": sum(s["sequences"] for s in shards), "tokens": sum(s["tokens"] for s in shards),
                   "documents": sum(c["documents"] for c in sources.values()),
                   "per_source": {src: {"documents": c["documents"], "tokens": c["tokens"]}
                                  for src, c in sources.items()}},
        "mix": _mix_section(settings, sources, applied=split == "train"),
        "val_fraction": settings.val_fraction,
        "seed": settings.seed,
    }


def write_manifests(tokens_dir: Path, task_ids: Sequence[str], settings: Settings,
                    tok: LoadedTokenizer | None = None) -> dict[str, Any]:
    """Join every task's summary into ``val/manifest.json`` (with a split) then ``manifest.json``; copy the
    tokenizer beside them."""
    tok = tok or load(settings.tokenizer, settings.eos_token)
    summaries = []
    for task_id in task_ids:
        summ = task_summary(tokens_dir, task_id)
        if summ is None:
            raise InvariantError(f"tokens: task {task_id} left no summary in {summaries_dir(tokens_dir)}")
        if not made_with(summ, tok, settings):
            raise InvariantError(f"tokens: task {task_id} was tokenized with another tokenizer or settings; "
                                 f"remove {tokens_dir} and tokenize again")
        summaries.append(summ)
    copy = tokens_dir / TOKENIZER_DIR
    tok.copy_to(copy)
    if folder_sha256(copy) != tok.sha256:
        raise InvariantError(f"tokens: the tokenizer copied to {copy} does not hash like its source")
    if settings.val_fraction > 0:  # no val/ at all without a split: the reader's ``val`` is then None
        val = _split_manifest(tok, settings, summaries, "val", f"../{TOKENIZER_DIR}")
        atomic.write_json(tokens_dir / TOKENS_VAL / TOKENS_MANIFEST, val)
    train = _split_manifest(tok, settings, summaries, "train", TOKENIZER_DIR)
    atomic.write_json(tokens_dir / TOKENS_MANIFEST, train)
    return train
