"""Membership index of a run: "was this document in the data?" answered from hashes, never from text.

The index lives under ``RUN/.state/contains/`` (hidden, so ``thresher verify`` does not count it as a run
output) and holds, per kept document: the sha256 of its text (stripped of surrounding whitespace, so a
copy saved with a trailing newline still matches), the sha256 of its URL, its id, where it sits in
``data/`` and a MinHash signature computed with the dedup stage's shingles and MinHash. No text and no
URL is stored. It is built on the first ``contains`` and rebuilt when the run's Merkle root changes
(after ``forget``), written atomically.

A near copy is found by a linear scan of the signatures (the fraction of equal slots estimates the
Jaccard similarity); the best few candidates are then checked with the exact Jaccard of their shingle
sets, reading the candidate's text from ``data/``.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
from datasketch import MinHash

from corpus import keys
from corpus.errors import UserError
from corpus.io import atomic
from corpus.rundir import MANIFEST, STATE, RunDir, read_shards

INDEX_DIR = (STATE, "contains")
INDEX_FILE = "index.npz"
NEAR_JACCARD = 0.8  # an edited copy at or above this Jaccard similarity counts as present
# Signature settings, pinned so an index answers the same way whatever the run's dedup settings were.
NGRAM, UNIT, NUM_PERM, SEED, SCHEME = 5, "words", 128, 1, "affine64"
_CANDIDATES = 5  # candidates whose exact Jaccard is computed
_SLACK = 0.15  # how far below NEAR_JACCARD a MinHash estimate may fall and still be checked exactly


@dataclass
class Answer:
    present: bool
    match: str | None = None  # exact | url | id | near
    jaccard: float | None = None
    doc_id: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {"present": self.present, "match": self.match, "jaccard": self.jaccard, "doc_id": self.doc_id}


def text_hash(text: str) -> bytes:
    return hashlib.sha256(text.strip().encode()).digest()


def url_hash(url: str) -> bytes:
    return hashlib.sha256(url.strip().encode()).digest()


def _shingles(text: str) -> list[bytes]:
    from corpus.stages.dedup.shingles import shingles

    return shingles(text, NGRAM, UNIT)


def signatures(texts: Iterable[str]) -> np.ndarray:
    """MinHash signatures with the dedup stage's hash function and scheme (one row per text)."""
    from corpus.stages.dedup.minhash import HASHES, SCHEMES

    hash_name, dtype = SCHEMES[SCHEME]
    rows = [m.hashvalues for m in MinHash.generator((_shingles(t) for t in texts), num_perm=NUM_PERM, seed=SEED,
                                                    scheme=SCHEME, hashfunc=HASHES[hash_name])]
    return np.stack(rows).astype(dtype) if rows else np.empty((0, NUM_PERM), dtype=dtype)


def _root(run_dir: Path) -> str:
    manifest = RunDir(run_dir).manifest
    if not manifest.is_file():
        raise UserError(f"{run_dir} is not a finished Thresher run (no {MANIFEST})")
    return str(atomic.read_json(manifest).get(keys.MERKLE_ROOT, ""))


def build(run_dir: Path) -> dict[str, np.ndarray]:
    """Hash every kept document of ``run_dir`` (one pass over ``data/``)."""
    ids: list[str] = []
    texts: list[bytes] = []
    urls: list[bytes] = []
    where: list[tuple[int, int]] = []
    sigs: list[np.ndarray] = []
    shards = RunDir(run_dir).shards()
    for s, shard in enumerate(shards):
        docs = list(read_shards([shard]))
        for n, doc in enumerate(docs):
            ids.append(doc.id)
            texts.append(text_hash(doc.text))
            url = doc.metadata.get(keys.URL)
            urls.append(url_hash(url) if isinstance(url, str) and url else b"\0" * 32)
            where.append((s, n))
        sigs.append(signatures(d.text for d in docs))
    return {"root": np.array(_root(run_dir)), "shards": np.array([p.name for p in shards]),
            "ids": np.array(ids, dtype=str), "text_sha256": np.array(texts, dtype="S32"),
            "url_sha256": np.array(urls, dtype="S32"), "where": np.array(where, dtype=np.int64).reshape(-1, 2),
            "signatures": np.concatenate(sigs) if sigs else signatures([])}


def load(run_dir: Path) -> dict[str, np.ndarray]:
    """The run's index, built (and cached atomically) when missing or older than the run's data."""
    root = _root(run_dir)
    path = run_dir.joinpath(*INDEX_DIR, INDEX_FILE)
    if path.is_file():
        with np.load(path) as z:
            index = {k: z[k] for k in z.files}
        if str(index["root"]) == root:
            return index
    index = build(run_dir)
    buf = io.BytesIO()
    np.savez(buf, **index)
    atomic.write_bytes(path, buf.getvalue())
    return index


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if len(hits) else None


def _text_at(run_dir: Path, index: dict[str, np.ndarray], i: int) -> str:
    s, n = (int(x) for x in index["where"][i])
    doc = next(islice(read_shards([RunDir(run_dir).data / str(index["shards"][s])]), n, None))
    return doc.text


def _near(run_dir: Path, index: dict[str, np.ndarray], text: str) -> tuple[int, float] | None:
    """The kept document most similar to ``text`` at Jaccard >= NEAR_JACCARD, with that Jaccard."""
    from corpus.stages.dedup.shingles import jaccard, shingle_set

    query = _shingles(text)
    if not query or not len(index["signatures"]):
        return None
    estimate = (index["signatures"] == signatures([text])[0]).mean(axis=1)
    order = np.argsort(-estimate, kind="stable")[:_CANDIDATES]
    mine = shingle_set(query)
    best = max(((int(i), jaccard(mine, shingle_set(_shingles(_text_at(run_dir, index, int(i))))))
                for i in order if estimate[i] >= NEAR_JACCARD - _SLACK), key=lambda c: c[1], default=None)
    return best if best is not None and best[1] >= NEAR_JACCARD else None


def contains(run_dir: Path, *, text: str | None = None, url: str | None = None, doc_id: str | None = None) -> Answer:
    """Is this text (exact or near copy), URL or id among the run's kept documents?"""
    index = load(run_dir)
    ids = index["ids"]
    if doc_id is not None:
        i = _first(ids == doc_id)
        return Answer(True, "id", None, doc_id) if i is not None else Answer(False)
    if url is not None:
        i = _first(index["url_sha256"] == url_hash(url))
        return Answer(True, "url", None, str(ids[i])) if i is not None else Answer(False)
    assert text is not None
    i = _first(index["text_sha256"] == text_hash(text))
    if i is not None:
        return Answer(True, "exact", 1.0, str(ids[i]))
    near = _near(run_dir, index, text)
    if near is None:
        return Answer(False)
    return Answer(True, "near", round(near[1], 4), str(ids[near[0]]))
