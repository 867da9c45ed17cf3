"""Shard writers: ``.jsonl.zst`` (default) or Parquet, rolling over at a size, each shard atomic.

A shard is written under a temp name and renamed only when complete, so ``data/`` never holds half a
shard. Output bytes depend only on the documents and their order (fixed compression level, no
timestamps), which makes a resumed run byte-identical to an unbroken one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Any

import orjson
import zstandard

from corpus.document import Document
from corpus.io.atomic import commit, tmp_path

ZSTD_LEVEL = 3
_FLUSH_BYTES = 1 << 20
FORMATS = ("jsonl.zst", "parquet")


_SHARD = re.compile(r"(?P<prefix>[^.].*)-(?P<index>[0-9]+)\.(?P<ext>jsonl\.zst|parquet)")


def shard_name(prefix: str, index: int, fmt: str) -> str:
    """``<prefix>-NNN.<fmt>``: the index is padded to three digits and grows past them (``-1000``)."""
    return f"{prefix}-{index:03d}.{fmt}"


def _match(path: Path) -> re.Match:
    m = _SHARD.fullmatch(path.name)
    if m is None:
        raise ValueError(f"{path.name} is not a shard name")
    return m


def shard_order(path: Path) -> tuple[int, int, str, int]:
    """Sort key of a shard: its task (numerically when the prefix is a task number), then its index.

    Never the name: ``-1000`` sorts before ``-101`` by name, and a pass that reads its task's shards
    back in another order than they were written breaks every position a global stage recorded.
    """
    m = _match(path)
    prefix = m["prefix"]
    return (0, int(prefix), "", int(m["index"])) if prefix.isdigit() else (1, 0, prefix, int(m["index"]))


def list_shards(directory: Path, prefix: str | None = None) -> list[Path]:
    """The shards a `ShardWriter` left in ``directory`` (only ``prefix``'s when given), in writing order:
    by task, then by index. Temp files and other names are not shards."""
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if p.is_file() and (m := _SHARD.fullmatch(p.name))
             and (prefix is None or m["prefix"] == prefix)]
    return sorted(found, key=shard_order)


def shard_prefix(path: Path) -> str:
    """The prefix (task id) of a shard's name."""
    return _match(path)["prefix"]


def _default(obj: Any) -> Any:
    """Encode values JSON has no type for (bytes, decimals, numpy scalars from Parquet) as text."""
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    return str(obj)


class UnserialisableError(ValueError):
    """A document has no JSON form (the writer's caller quarantines it)."""


def dumps(obj: Any) -> bytes:
    """JSON bytes of ``obj``; an integer orjson cannot write (outside 64 bits, kept exact by the reader's
    `corpus.io.jsonl.loads`) sends the object through the standard library instead."""
    try:
        return orjson.dumps(obj, default=_default)
    except orjson.JSONEncodeError as e:
        if "64-bit" not in str(e):
            raise
        return json.dumps(obj, default=_default, ensure_ascii=False, separators=(",", ":")).encode()


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
        return self.dir / shard_name(self.prefix, self._index, self.fmt)

    def _open(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._tmp = tmp_path(self._path())
        self._file = open(self._tmp, "wb")
        if self.fmt == "jsonl.zst":
            cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True)
            self._sink = cctx.stream_writer(self._file, closefd=False)

    def write(self, doc: Document) -> None:
        """Append ``doc``; raises `UnserialisableError`, having written nothing, if it has no JSON form."""
        try:
            line = dumps(doc.to_dict() if self.fmt == "jsonl.zst" else doc.metadata)
        except TypeError as e:  # orjson.JSONEncodeError: nested too deep, an int over 64 bits, ...
            raise UnserialisableError(str(e)) from None
        if self._file is None:
            self._open()
        self._count += 1
        if self.fmt == "jsonl.zst":
            self._buf += line
            self._buf += b"\n"
            if len(self._buf) >= min(_FLUSH_BYTES, self.limit // 4 + 1):
                self._flush()
        else:
            self._rows.append({"id": doc.id, "text": doc.text, "source": doc.source,
                               "metadata": line.decode()})
            self._row_bytes += len(doc.text) + len(line)
            # a row group per 10,000 rows, 32 MB, or a quarter of the shard size: the file grows only
            # when a row group is written, so a smaller shard size is honoured only with smaller groups
            if len(self._rows) >= 10_000 or self._row_bytes >= min(32 << 20, self.limit // 4 + 1):
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
