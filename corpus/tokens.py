"""Token shards: Megatron-LM's indexed-dataset format (``MMIDIDX`` version 1), plus Thresher's lineage.

This is the one module the trainer uses to read the pipeline's output (``RUN/tokens/``).

A shard is three files beside each other:

- ``<name>.bin``: every sequence's token ids, concatenated (uint16 when the vocabulary fits, else int32);
- ``<name>.idx``: the Megatron index: header ``MMIDIDX\\0\\0``, version (u64 = 1), dtype code (u8),
  sequence count (u64), document-index count (u64), sequence lengths (int32), byte pointers (int64),
  document index (int64; here every sequence is its own document, so it is ``0..n``);
- ``<name>.ids``: the Thresher document id of each sequence, one per line, in sequence order.

``tokens/manifest.json`` lists the shards (``shards[].name``) with hashes and counts, the tokenizer and
its hash, vocabulary size, dtype and EOS id; ``tokens/val/`` holds the validation split in the same form.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from corpus.io.atomic import commit, tmp_path

INDEX_HEADER = b"MMIDIDX\x00\x00"
INDEX_VERSION = 1
DTYPE_CODES = {np.dtype(np.uint8): 1, np.dtype(np.int8): 2, np.dtype(np.int16): 3, np.dtype(np.int32): 4,
               np.dtype(np.int64): 5, np.dtype(np.float64): 6, np.dtype(np.float32): 7, np.dtype(np.uint16): 8}
CODE_DTYPES = {v: k for k, v in DTYPE_CODES.items()}
MANIFEST = "manifest.json"
VAL_DIR = "val"


def dtype_for_vocab(vocab_size: int) -> np.dtype:
    """uint16 when every id fits, as Megatron's preprocessing does; int32 otherwise."""
    return np.dtype(np.uint16) if vocab_size <= 65535 else np.dtype(np.int32)


class ShardWriter:
    """Streams sequences to ``<prefix>.bin`` and, on ``close``, writes ``.idx`` and ``.ids`` atomically."""

    def __init__(self, prefix: str | os.PathLike, dtype: np.dtype):
        self.prefix = Path(prefix)
        self.prefix.parent.mkdir(parents=True, exist_ok=True)
        self.dtype = np.dtype(dtype)
        self.lengths: list[int] = []
        self.ids: list[str] = []
        self._bin_path = Path(f"{self.prefix}.bin")
        self._bin_tmp = tmp_path(self._bin_path)
        self._bin = open(self._bin_tmp, "wb")

    def add(self, tokens: np.ndarray | list[int], doc_id: str) -> None:
        arr = np.asarray(tokens, dtype=self.dtype)
        self._bin.write(arr.tobytes(order="C"))
        self.lengths.append(int(arr.size))
        self.ids.append(doc_id.replace("\n", " "))

    @property
    def tokens(self) -> int:
        return sum(self.lengths)

    def close(self) -> dict[str, Any]:
        """Finish the shard; returns its sequences, tokens and the sha256 of its three files."""
        self._bin.flush()
        os.fsync(self._bin.fileno())
        self._bin.close()
        commit(self._bin_tmp, self._bin_path)
        idx = Path(f"{self.prefix}.idx")
        write_index(idx, np.asarray(self.lengths, dtype=np.int32), self.dtype)
        ids = Path(f"{self.prefix}.ids")
        tmp = tmp_path(ids)
        tmp.write_bytes("".join(i + "\n" for i in self.ids).encode())
        commit(tmp, ids)
        return {"name": self.prefix.name, "sequences": len(self.lengths), "tokens": self.tokens,
                "sha256": {ext: sha256(Path(f"{self.prefix}.{ext}")) for ext in ("bin", "idx", "ids")}}


def write_index(path: Path, lengths: np.ndarray, dtype: np.dtype) -> None:
    n = len(lengths)
    pointers = np.zeros(n, dtype=np.int64)
    if n:
        np.cumsum(lengths[:-1].astype(np.int64) * np.dtype(dtype).itemsize, out=pointers[1:])
    doc_index = np.arange(n + 1, dtype=np.int64)
    tmp = tmp_path(path)
    with open(tmp, "wb") as f:
        f.write(INDEX_HEADER)
        f.write(struct.pack("<Q", INDEX_VERSION))
        f.write(struct.pack("<B", DTYPE_CODES[np.dtype(dtype)]))
        f.write(struct.pack("<Q", n))
        f.write(struct.pack("<Q", len(doc_index)))
        f.write(lengths.astype(np.int32).tobytes(order="C"))
        f.write(pointers.tobytes(order="C"))
        f.write(doc_index.tobytes(order="C"))
        f.flush()
        os.fsync(f.fileno())
    commit(tmp, path)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 << 20):
            h.update(chunk)
    return h.hexdigest()


class Shard:
    """A memory-mapped shard: ``len``, ``shard[i]`` (a numpy view) and ``doc_ids``."""

    def __init__(self, prefix: str | os.PathLike):
        self.prefix = Path(prefix)
        with open(f"{self.prefix}.idx", "rb") as f:
            header = f.read(9)
            if header != INDEX_HEADER:
                raise ValueError(f"{self.prefix}.idx: not a Megatron MMIDIDX index")
            (version,) = struct.unpack("<Q", f.read(8))
            if version != INDEX_VERSION:
                raise ValueError(f"{self.prefix}.idx: index version {version}, expected 1")
            (code,) = struct.unpack("<B", f.read(1))
            self.dtype = CODE_DTYPES[code]
            (self.num_sequences,) = struct.unpack("<Q", f.read(8))
            (self.num_doc_index,) = struct.unpack("<Q", f.read(8))
            offset = f.tell()
        idx = np.memmap(f"{self.prefix}.idx", mode="r", dtype=np.uint8)
        n = self.num_sequences
        self.lengths = np.frombuffer(idx, dtype=np.int32, count=n, offset=offset)
        self.pointers = np.frombuffer(idx, dtype=np.int64, count=n, offset=offset + 4 * n)
        self.doc_index = np.frombuffer(idx, dtype=np.int64, count=self.num_doc_index, offset=offset + 12 * n)
        size = os.path.getsize(f"{self.prefix}.bin")
        self._bin = np.memmap(f"{self.prefix}.bin", mode="r", dtype=self.dtype) if size else np.zeros(0, self.dtype)

    def __len__(self) -> int:
        return self.num_sequences

    def __getitem__(self, i: int) -> np.ndarray:
        start = int(self.pointers[i]) // self.dtype.itemsize
        return self._bin[start:start + int(self.lengths[i])]

    @cached_property
    def doc_ids(self) -> list[str]:
        return Path(f"{self.prefix}.ids").read_text(encoding="utf-8").splitlines()

    @property
    def num_tokens(self) -> int:
        return int(self.lengths.sum(dtype=np.int64))


class TokenCorpus:
    """``RUN/tokens/`` (or its ``val/``): the shards in manifest order, addressed as one sequence list."""

    def __init__(self, directory: str | os.PathLike):
        self.dir = Path(directory)
        path = self.dir / MANIFEST
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: tokenize the run first (thresher tokenize RUN)")
        self.manifest_bytes = path.read_bytes()
        self.manifest: dict[str, Any] = orjson.loads(self.manifest_bytes)
        self.shards = [Shard(self.dir / s["name"]) for s in self.manifest["shards"]]
        self.offsets = np.cumsum([0] + [len(s) for s in self.shards])

    @property
    def manifest_sha256(self) -> str:
        return hashlib.sha256(self.manifest_bytes).hexdigest()

    @property
    def eos_id(self) -> int:
        return int(self.manifest["eos_id"])

    @property
    def vocab_size(self) -> int:
        return int(self.manifest["vocab_size"])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def locate(self, i: int) -> tuple[Shard, int]:
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
        for shard in self.shards:
            ids = shard.doc_ids
            for j in range(len(shard)):
                yield ids[j], shard[j]

    @property
    def val(self) -> TokenCorpus | None:
        d = self.dir / VAL_DIR
        return TokenCorpus(d) if (d / MANIFEST).exists() else None


def open_tokens(directory: str | os.PathLike) -> TokenCorpus:
    return TokenCorpus(directory)
