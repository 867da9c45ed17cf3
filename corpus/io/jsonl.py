"""JSON Lines, plain or compressed with gzip or zstd, read as a stream of `Raw` records.

Plain files can be read by byte range (the planner aligns ranges to line starts), so one large file
becomes several tasks. Compressed streams are read whole; a truncated or corrupt stream keeps every
record before the damage and quarantines the rest as one entry naming the line where it broke.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import zlib
from collections.abc import Iterator
from typing import IO, Any

import orjson
import zstandard

from corpus.io.raw import Raw

_READ_BUF = 1 << 20
BOM = b"\xef\xbb\xbf"
# A bare number of 19 or more digits (not inside a word, a decimal or a quoted string's edge): it may
# lie outside the 64-bit range that orjson reads exactly.
_LONG_INT = re.compile(rb'(?<![\w."])[0-9]{19,}(?![\w."])')


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_INEXACT = 2.0**63  # orjson's float for an integer outside [-2**63, 2**64) is at least this large


def _holds_huge_float(value: Any) -> bool:
    """Whether ``value`` holds a float of magnitude >= 2**63, the only form in which orjson returns an
    integer it could not read exactly (a stack, not recursion: a record may nest as deep as orjson allows)."""
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is float:
            if abs(v) >= _INEXACT:
                return True
        elif t is dict:
            stack.extend(v.values())
        elif t is list:
            stack.extend(v)
    return False


def loads(line: bytes | str) -> Any:
    """Parse one JSON document. orjson reads an integer outside [-2**63, 2**64) as a float, so two ids
    that differ past the 17th digit would become the same id; a line holding such a number is read by
    the standard library instead, which keeps every integer exact (the writer's `dumps` writes it back).
    orjson parses first (about 30x faster than searching every line's bytes for a long number); the
    bytes are searched only when its result holds a float that large, or when it refused the line."""
    data = line.encode() if isinstance(line, str) else line
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        if _LONG_INT.search(data):
            return json.loads(data, parse_constant=_no_constant)
        raise
    if _holds_huge_float(value) and _LONG_INT.search(data):
        return json.loads(data, parse_constant=_no_constant)
    return value


def parse_error(data: bytes, e: Exception) -> str:
    """The quarantine reason for bytes that did not parse as JSON: bad UTF-8, or bad JSON."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as ue:
        return f"invalid UTF-8 at byte {ue.start}"
    return f"malformed JSON: {e}"


def _parse(file: str, lineno: int, line: bytes) -> Raw:
    try:
        rec = loads(line)
    except (ValueError, RecursionError) as e:  # orjson's and the standard library's decode errors
        return Raw(file, lineno, error=parse_error(line, e), raw=line)
    if not isinstance(rec, dict):
        return Raw(file, lineno, error=f"JSON value is a {type(rec).__name__}, not an object", raw=line)
    return Raw(file, lineno, record=rec)


def _lines(stream: IO[bytes], file: str, first_line: int, limit: int | None) -> Iterator[Raw]:
    """Yield records from ``stream``; stop after ``limit`` bytes when reading a byte range."""
    lineno = first_line - 1
    consumed = 0
    for line in stream:
        lineno += 1
        consumed += len(line)
        if lineno == 1 and line.startswith(BOM):  # a byte order mark opens the file, not its first record
            line = line[len(BOM):]
        if line.strip():
            yield _parse(file, lineno, line)
        if limit is not None and consumed >= limit:
            return


class _ZstdReader(io.RawIOBase):
    """Decompresses every frame of a zstd file and raises `EOFError` if the last frame is cut short.

    (``zstandard``'s own stream reader ends quietly on a truncated frame, which would drop records
    without a trace.)
    """

    def __init__(self, path: str):
        self._f = open(path, "rb")
        self._d = zstandard.ZstdDecompressor().decompressobj()
        self._pending = b""
        self._started = False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._pending:
            chunk = self._f.read(_READ_BUF)
            if not chunk:
                if self._started and not self._d.eof:
                    raise EOFError("zstd stream ended in the middle of a frame")
                return 0
            while chunk:
                self._started = True
                self._pending += self._d.decompress(chunk)
                chunk = self._d.unused_data if self._d.eof else b""
                if chunk or self._d.eof:
                    self._d = zstandard.ZstdDecompressor().decompressobj()
                    self._started = bool(chunk)
        n = min(len(b), len(self._pending))
        b[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        self._f.close()
        super().close()


def open_compressed(path: str) -> IO[bytes]:
    """A binary stream of the file's content, decompressing ``.gz`` and ``.zst``."""
    if path.endswith(".gz"):
        return gzip.open(path, "rb")
    if path.endswith((".zst", ".zstd")):
        return io.BufferedReader(_ZstdReader(path), _READ_BUF)
    return open(path, "rb", buffering=_READ_BUF)


def read_jsonl(path: str, file: str, start: int = 0, end: int | None = None, first_line: int = 1) -> Iterator[Raw]:
    """Read ``path`` (shown as ``file``) from byte ``start`` to ``end`` (plain files only)."""
    compressed = path.endswith((".gz", ".zst", ".zstd"))
    lineno = first_line - 1
    # An input that cannot be opened (vanished, no permission) is the machine's fault, not a record's:
    # the OSError stops the build with one line (corpus.errors.os_fault) and a rerun resumes.
    with open_compressed(path) as stream:
        if compressed:
            try:
                for rec in _lines(stream, file, first_line, None):
                    lineno = rec.line
                    yield rec
            except (EOFError, OSError, zlib.error, zstandard.ZstdError) as e:
                yield Raw(file, lineno + 1, error=f"truncated or corrupt compressed stream after line {lineno}: {e}")
        else:
            stream.seek(start)
            yield from _lines(stream, file, first_line, None if end is None else end - start)
