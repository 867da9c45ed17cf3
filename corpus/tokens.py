"""Token shards: Megatron-LM's indexed-dataset format (``MMIDIDX`` version 1), plus Thresher's lineage.

This is the one module the trainer uses to read the pipeline's output (``RUN/tokens/``); it needs only
numpy, so training code never imports the pipeline.

A shard is three files beside each other:

- ``<name>.bin``: every sequence's token ids, concatenated (uint16 when the vocabulary fits, else int32);
- ``<name>.idx``: the Megatron index, byte for byte what ``megatron.core.datasets.indexed_dataset``
  writes and reads: header ``MMIDIDX\\0\\0``, version (u64 = 1), dtype code (u8), sequence count (u64),
  document-index count (u64), sequence lengths (int32), byte pointers into ``.bin`` (int64), document
  index (int64; every sequence is its own document, so it is ``0..n``);
- ``<name>.ids``: the Thresher document id of each sequence, one per line, in sequence order (line
  breaks inside an id are written as spaces, so the file always has one line per sequence).

``tokens/manifest.json`` lists the shards (``shards[].name``) with hashes and counts, the tokenizer and
its hash, vocabulary size, dtype and special-token ids; ``tokens/val/`` holds the validation split in
the same form. ``docs/tokens.md`` documents the reader API and the manifest.
"""

from __future__ import annotations

import hashlib
import os
import struct
from array import array
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from corpus.io.atomic import commit, tmp_path
from corpus.rundir import TOKENS_MANIFEST, TOKENS_VAL

FORMAT = "megatron-mmidx-v1"
INDEX_HEADER = b"MMIDIDX\x00\x00"
INDEX_VERSION = 1
# Megatron-LM's ``DType`` codes (megatron/core/datasets/indexed_dataset.py).
DTYPE_CODES = {np.dtype(np.uint8): 1, np.dtype(np.int8): 2, np.dtype(np.int16): 3, np.dtype(np.int32): 4,
               np.dtype(np.int64): 5, np.dtype(np.float64): 6, np.dtype(np.float32): 7, np.dtype(np.uint16): 8}
CODE_DTYPES = {v: k for k, v in DTYPE_CODES.items()}
HEADER_BYTES = len(INDEX_HEADER) + 8 + 1 + 8 + 8
# The names corpus.rundir gives the tokens folder's manifest and validation split, under the names the
# format's readers (rights/forget.py, the tests' fixtures) import.
SHARD_FILES = ("bin", "idx", "ids")


def dtype_for_vocab(vocab_size: int) -> np.dtype:
    """uint16 for vocabularies under 65,500 tokens, else int32: Megatron's ``DType.optimal_dtype`` rule
    (its margin below 2**16 included), so a shard is what ``preprocess_data.py`` would write."""
    return np.dtype(np.uint16) if vocab_size < 65500 else np.dtype(np.int32)


def clean_id(doc_id: str) -> str:
    """A document id as one ``.ids`` line: line breaks become spaces."""
    return doc_id.replace("\r", " ").replace("\n", " ")


class ShardWriter:
    """Streams sequences to ``<prefix>.bin`` and ``<prefix>.ids``; ``close`` writes ``.idx`` and commits all three.

    Every file is written under a temporary name and renamed only when complete, so a shard's final
    name never holds a partial file; hashes are computed while writing, so nothing is read back.
    Memory is the per-sequence lengths only (4 bytes a sequence).
    """

    def __init__(self, prefix: str | os.PathLike, dtype: np.dtype):
        self.prefix = Path(prefix)
        self.prefix.parent.mkdir(parents=True, exist_ok=True)
        self.dtype = np.dtype(dtype)
        if self.dtype not in DTYPE_CODES:
            raise ValueError(f"dtype {self.dtype} has no Megatron code")
        info = np.iinfo(self.dtype) if self.dtype.kind in "iu" else None
        self._range = (int(info.min), int(info.max)) if info else None
        self.lengths = array("i")
        self.tokens = 0
        self._paths = {ext: Path(f"{self.prefix}.{ext}") for ext in SHARD_FILES}
        self._tmps = {ext: tmp_path(p) for ext, p in self._paths.items()}
        self._hash = {ext: hashlib.sha256() for ext in SHARD_FILES}
        self._bin = open(self._tmps["bin"], "wb")
        self._ids = open(self._tmps["ids"], "wb")

    def add(self, tokens: np.ndarray | list[int], doc_id: str) -> None:
        """Append one sequence (already ending with EOS, if wanted) of document ``doc_id``."""
        arr = np.asarray(tokens)
        if arr.ndim != 1:
            raise ValueError(f"a sequence must be one-dimensional, got shape {arr.shape}")
        if arr.dtype != self.dtype:
            if arr.size and self._range and (int(arr.min()) < self._range[0] or int(arr.max()) > self._range[1]):
                raise ValueError(f"token id out of range for {self.dtype} in document {doc_id!r}")
            arr = arr.astype(self.dtype)
        data = arr.tobytes(order="C")
        self._bin.write(data)
        self._hash["bin"].update(data)
        line = (clean_id(doc_id) + "\n").encode("utf-8")
        self._ids.write(line)
        self._hash["ids"].update(line)
        self.lengths.append(arr.size)
        self.tokens += arr.size

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def nbytes(self) -> int:
        """Bytes of ``.bin`` so far (for rolling over to a new shard)."""
        return self.tokens * self.dtype.itemsize

    def close(self) -> dict[str, Any]:
        """Finish the shard; returns its name, sequences, tokens and the sha256 of its three files."""
        for f in (self._bin, self._ids):
            f.flush()
            os.fsync(f.fileno())
            f.close()
        index = index_bytes(np.frombuffer(self.lengths, dtype=np.int32), self.dtype)
        self._hash["idx"].update(index)
        with open(self._tmps["idx"], "wb") as f:
            f.write(index)
            f.flush()
            os.fsync(f.fileno())
        for ext in ("bin", "ids", "idx"):  # the index last: a shard with an index is complete
            commit(self._tmps[ext], self._paths[ext])
        return {"name": self.prefix.name, "sequences": len(self.lengths), "tokens": self.tokens,
                "sha256": {ext: self._hash[ext].hexdigest() for ext in SHARD_FILES}}

    def abort(self) -> None:
        """Drop the unfinished shard's temporary files."""
        for f in (self._bin, self._ids):
            f.close()
        for tmp in self._tmps.values():
            tmp.unlink(missing_ok=True)

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type, *_: object) -> None:
        if exc_type is not None:
            self.abort()


def index_bytes(lengths: np.ndarray, dtype: np.dtype) -> bytes:
    """The ``.idx`` content for sequences of ``lengths`` tokens, one document each (Megatron's layout)."""
    n = len(lengths)
    pointers = np.zeros(n, dtype=np.int64)
    if n:
        np.cumsum(lengths[:-1].astype(np.int64) * np.dtype(dtype).itemsize, out=pointers[1:])
    doc_index = np.arange(n + 1, dtype=np.int64)
    return b"".join([INDEX_HEADER, struct.pack("<Q", INDEX_VERSION), struct.pack("<B", DTYPE_CODES[np.dtype(dtype)]),
                     struct.pack("<Q", n), struct.pack("<Q", n + 1), lengths.astype(np.int32).tobytes(order="C"),
                     pointers.tobytes(order="C"), doc_index.tobytes(order="C")])


def sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 << 20):
            h.update(chunk)
    return h.hexdigest()


class Shard:
    """A memory-mapped shard: ``len``, ``shard[i]`` (a read-only numpy view), ``lengths`` and ``doc_ids``.

    Opening checks the header, version, dtype code and that both files have exactly the size the
    index promises, so a truncated or foreign file fails here rather than as garbage tokens later.
    """

    def __init__(self, prefix: str | os.PathLike):
        self.prefix = Path(prefix)
        idx_path = f"{self.prefix}.idx"
        with open(idx_path, "rb") as f:
            head = f.read(HEADER_BYTES)
        if len(head) < HEADER_BYTES or head[:9] != INDEX_HEADER:
            raise ValueError(f"{idx_path}: not a Megatron MMIDIDX index")
        version, code, n, n_doc = struct.unpack("<QBQQ", head[9:])
        if version != INDEX_VERSION:
            raise ValueError(f"{idx_path}: index version {version}, expected {INDEX_VERSION}")
        if code not in CODE_DTYPES:
            raise ValueError(f"{idx_path}: unknown dtype code {code}")
        self.dtype: np.dtype = CODE_DTYPES[code]
        self.num_sequences, self.num_doc_index = n, n_doc
        expected = HEADER_BYTES + 12 * n + 8 * n_doc
        if os.path.getsize(idx_path) < expected:
            raise ValueError(f"{idx_path}: truncated ({os.path.getsize(idx_path)} bytes, expected {expected})")
        idx = np.memmap(idx_path, mode="r", dtype=np.uint8)
        self.lengths = np.frombuffer(idx, dtype=np.int32, count=n, offset=HEADER_BYTES)
        self.pointers = np.frombuffer(idx, dtype=np.int64, count=n, offset=HEADER_BYTES + 4 * n)
        self.doc_index = np.frombuffer(idx, dtype=np.int64, count=n_doc, offset=HEADER_BYTES + 12 * n)
        bin_path = f"{self.prefix}.bin"
        size = os.path.getsize(bin_path)
        want = int(self.pointers[-1]) + int(self.lengths[-1]) * self.dtype.itemsize if n else 0
        if size < want:
            raise ValueError(f"{bin_path}: truncated ({size} bytes, the index needs {want})")
        self._bin = np.memmap(bin_path, mode="r", dtype=self.dtype) if size else np.zeros(0, self.dtype)

    def __len__(self) -> int:
        return self.num_sequences

    def __getitem__(self, i: int) -> np.ndarray:
        if i < 0:
            i += self.num_sequences
        if not 0 <= i < self.num_sequences:
            raise IndexError(f"sequence {i} out of range for {self.prefix.name} ({self.num_sequences})")
        start = int(self.pointers[i]) // self.dtype.itemsize
        return self._bin[start:start + int(self.lengths[i])]

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(self.num_sequences):
            yield self[i]

    @cached_property
    def doc_ids(self) -> list[str]:
        """The document id of every sequence (``<name>.ids``)."""
        lines = Path(f"{self.prefix}.ids").read_bytes().decode("utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if len(lines) != self.num_sequences:
            raise ValueError(f"{self.prefix}.ids: {len(lines)} lines for {self.num_sequences} sequences")
        return lines

    @property
    def num_tokens(self) -> int:
        return int(self.lengths.sum(dtype=np.int64))


class TokenCorpus:
    """``RUN/tokens/`` (or its ``val/``): the shards in manifest order, addressed as one sequence list."""

    def __init__(self, directory: str | os.PathLike):
        self.dir = Path(directory)
        path = self.dir / TOKENS_MANIFEST
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: tokenize the run first (thresher tokenize RUN)")
        self.manifest_bytes = path.read_bytes()
        self.manifest: dict[str, Any] = orjson.loads(self.manifest_bytes)
        if self.manifest.get("format", FORMAT) != FORMAT:
            raise ValueError(f"{path}: format {self.manifest.get('format')!r}, expected {FORMAT!r}")
        self.shards = [Shard(self.dir / s["name"]) for s in self.manifest["shards"]]
        self.offsets = np.cumsum([0] + [len(s) for s in self.shards])

    @property
    def manifest_sha256(self) -> str:
        return hashlib.sha256(self.manifest_bytes).hexdigest()

    @property
    def eos_id(self) -> int:
        return int(self.manifest["eos_id"])

    @property
    def bos_id(self) -> int | None:
        return self.manifest.get("bos_id")

    @property
    def pad_id(self) -> int | None:
        return self.manifest.get("pad_id")

    @property
    def vocab_size(self) -> int:
        return int(self.manifest["vocab_size"])

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.manifest["dtype"])

    @property
    def tokenizer(self) -> dict[str, Any]:
        """``{"name", "sha256", ...}``: which tokenizer made these tokens."""
        return self.manifest["tokenizer"]

    @property
    def num_tokens(self) -> int:
        return int(sum(s.num_tokens for s in self.shards))

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def locate(self, i: int) -> tuple[Shard, int]:
        """The shard holding global sequence ``i`` and the index inside it (negative ``i`` counts from the end)."""
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"sequence {i} out of range ({n} sequences)")
        s = int(np.searchsorted(self.offsets, i, side="right")) - 1
        return self.shards[s], i - int(self.offsets[s])

    def __getitem__(self, i: int) -> np.ndarray:
        shard, j = self.locate(i)
        return shard[j]

    def doc_id(self, i: int) -> str:
        shard, j = self.locate(i)
        return shard.doc_ids[j]

    def lengths(self) -> np.ndarray:
        """Every sequence's length, in global order (for packing without reading tokens)."""
        return np.concatenate([s.lengths for s in self.shards]) if self.shards else np.zeros(0, np.int32)

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        """``(doc_id, tokens)`` for every sequence, in order."""
        for shard in self.shards:
            ids = shard.doc_ids
            for j in range(len(shard)):
                yield ids[j], shard[j]

    @property
    def val(self) -> TokenCorpus | None:
        d = self.dir / TOKENS_VAL
        return TokenCorpus(d) if (d / TOKENS_MANIFEST).exists() else None

    def verify(self) -> list[str]:
        """Problems found re-hashing every shard file against the manifest (empty when all is well)."""
        problems = []
        for entry, shard in zip(self.manifest["shards"], self.shards, strict=True):
            for ext, want in entry["sha256"].items():
                path = self.dir / f"{entry['name']}.{ext}"
                if not path.exists():
                    problems.append(f"{path}: missing")
                elif sha256(path) != want:
                    problems.append(f"{path}: sha256 differs from the manifest")
            if (len(shard), shard.num_tokens) != (entry["sequences"], entry["tokens"]):
                problems.append(f"{self.dir / entry['name']}: {len(shard)} sequences and {shard.num_tokens} "
                                f"tokens, manifest says {entry['sequences']} and {entry['tokens']}")
        return problems


def open_tokens(directory: str | os.PathLike) -> TokenCorpus:
    """Open ``RUN/tokens/`` (or any folder with a tokens ``manifest.json``)."""
    return TokenCorpus(directory)
