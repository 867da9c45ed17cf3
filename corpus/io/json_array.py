"""``.json`` files: a JSON array of objects (one record per element), or JSON Lines under that name.

An array is parsed whole (one task per file); ``line`` is the element's 1-based position. An element
that is not an object is quarantined alone; an array that does not parse is one quarantine entry for
the file, since its records cannot be told apart.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import zstandard

from corpus.io.jsonl import BOM, loads, open_compressed, parse_error, read_jsonl
from corpus.io.raw import RAW_KEEP_BYTES, Raw
from corpus.io.writers import dumps

_PEEK = 64 << 10


def _is_array(head: bytes) -> bool:
    return head.removeprefix(BOM).lstrip()[:1] == b"["


def read_json(path: str, file: str) -> Iterator[Raw]:
    with open_compressed(path) as stream:
        try:
            head = stream.read(_PEEK)
            if not _is_array(head):
                data = None
            else:
                data = head + stream.read()
        except (EOFError, OSError, zlib.error, zstandard.ZstdError) as e:
            yield Raw(file, 1, error=f"truncated or corrupt compressed stream after line 0: {e}")
            return
    if data is None:
        yield from read_jsonl(path, file)
        return
    try:
        items = loads(data.removeprefix(BOM))
    except (ValueError, RecursionError) as e:
        yield Raw(file, 1, error=parse_error(data, e), raw=data)
        return
    for i, item in enumerate(items, start=1):
        if isinstance(item, dict):
            yield Raw(file, i, record=item)
        else:
            try:
                raw = dumps(item)[:RAW_KEEP_BYTES * 2]
            except TypeError:
                raw = b""
            yield Raw(file, i, error=f"JSON value is a {type(item).__name__}, not an object", raw=raw)
