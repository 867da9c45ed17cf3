"""Shard writers: ``.jsonl.zst`` (default) or Parquet, rolling over at a size, each shard atomic.

A shard is written under a temp name and renamed only when complete, so ``data/`` never holds half a
shard. Output bytes depend only on the documents and their order (fixed compression level, no
timestamps), which makes a resumed run byte-identical to an unbroken one.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import orjson
import zstandard

from corpus.document import Document
from corpus.io.atomic import commit, tmp_path

ZSTD_LEVEL = 3
_FLUSH_BYTES = 1 << 20
FORMATS = ("jsonl.zst", "parquet")


def _default(obj: Any) -> Any:
    """Encode values JSON has no type for (bytes, decimals, numpy scalars from Parquet) as text."""
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    return str(obj)


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, default=_default)


class ShardWriter:
    """Writes documents to ``<dir>/<prefix>-NNN.<ext>``, a new shard every ``shard_size_mb``."""

    def __init__(self, directory: Path, prefix: str, fmt: str = "jsonl.zst", shard_size_mb: float = 256):
        if fmt not in FORMATS:
            raise ValueError(f"unknown output format {fmt!r}")
        self.dir, self.prefix, self.fmt = Path(directory), prefix, fmt
        self.limit = int(shard_size_mb * (1 << 20))
        self.shards: list[tuple[Path, int]] = []
        self._index = 0
        self._count = 0
        self._tmp: Path | None = None
        self._file = None
        self._sink = None
        self._buf = bytearray()
        self._rows: list[dict] = []
        self._row_bytes = 0

    def _path(self) -> Path:
        return self.dir / f"{self.prefix}-{self._index:03d}.{self.fmt}"

    def _open(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._tmp = tmp_path(self._path())
        self._file = open(self._tmp, "wb")
        if self.fmt == "jsonl.zst":
            cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True)
            self._sink = cctx.stream_writer(self._file, closefd=False)

    def write(self, doc: Document) -> None:
        if self._file is None:
            self._open()
        self._count += 1
        if self.fmt == "jsonl.zst":
            self._buf += dumps(doc.to_dict())
            self._buf += b"\n"
            if len(self._buf) >= min(_FLUSH_BYTES, self.limit // 4 + 1):
                self._flush()
        else:
            self._rows.append({"id": doc.id, "text": doc.text, "source": doc.source,
                               "metadata": dumps(doc.metadata).decode()})
            self._row_bytes += len(doc.text)
            if len(self._rows) >= 10_000 or self._row_bytes >= 32 << 20:
                self._flush()
        if self._size() >= self.limit:
            self._close_shard()

    def _size(self) -> int:
        return self._file.tell() if self._file is not None else 0

    def _flush(self) -> None:
        if self.fmt == "jsonl.zst":
            if self._buf:
                self._sink.write(bytes(self._buf))
                self._sink.flush(zstandard.FLUSH_BLOCK)
                self._buf.clear()
        elif self._rows:
            from corpus.io.parquet import write_rows

            self._sink = write_rows(self._file, self._sink, self._rows)
            self._rows, self._row_bytes = [], 0

    def _close_shard(self) -> None:
        self._flush()
        if self._sink is not None:
            self._sink.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        path = self._path()
        commit(self._tmp, path)
        self.shards.append((path, self._count))
        self._index += 1
        self._count = 0
        self._file = self._sink = self._tmp = None

    def close(self) -> list[tuple[Path, int]]:
        """Finish the open shard; returns every shard written with its document count."""
        if self._file is not None:
            self._close_shard()
        return self.shards

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            with contextlib.suppress(FileNotFoundError):
                self._tmp.unlink()
            self._file = None
