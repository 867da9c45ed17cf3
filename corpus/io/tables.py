"""CSV and TSV with a header row: one record per row, the columns named by the header.

Read whole (one task per file: a quoted field may span lines). ``line`` is the row's first physical
line. A row whose field count differs from the header's, or whose bytes are not UTF-8, is quarantined
on its own; the rows around it are read as usual.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator

from corpus.io.jsonl import open_compressed
from corpus.io.raw import MALFORMED_CSV as MALFORMED
from corpus.io.raw import RAW_KEEP_BYTES, Raw

DELIMITERS = {"csv": ",", "tsv": "\t"}


def _allow_huge_fields() -> None:
    """The csv module refuses fields over 128 KiB; a document may be megabytes."""
    limit = sys.maxsize
    while True:
        try:
            csv.field_size_limit(limit)
            return
        except OverflowError:
            limit //= 2


_allow_huge_fields()


def _raw_bytes(row: list[str], delimiter: str) -> bytes:
    return delimiter.join(row).encode("utf-8", "surrogateescape")[:RAW_KEEP_BYTES * 2]


def _not_utf8(row: list[str]) -> bool:
    try:
        for field in row:
            field.encode("utf-8")
    except UnicodeEncodeError:  # surrogateescape turned undecodable bytes into lone surrogates
        return True
    return False


def read_table(path: str, file: str, fmt: str) -> Iterator[Raw]:
    """Rows of ``path`` (``fmt``: csv or tsv), shown as ``file``."""
    delimiter = DELIMITERS[fmt]
    with open_compressed(path) as stream:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
        reader = csv.reader(text, delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            return
        last = reader.line_num
        while True:
            try:
                row = next(reader, None)
            except csv.Error as e:
                yield Raw(file, last + 1, error=f"{MALFORMED}: {e}")
                if reader.line_num == last:
                    return
                last = reader.line_num
                continue
            if row is None:
                return
            first, last = last + 1, reader.line_num
            if not row:
                continue  # a blank line
            if len(row) != len(header):
                yield Raw(file, first, error=f"{MALFORMED}: the row has {len(row)} field(s), the header "
                          f"{len(header)}", raw=_raw_bytes(row, delimiter))
            elif _not_utf8(row):
                yield Raw(file, first, error="invalid UTF-8 in the row", raw=_raw_bytes(row, delimiter))
            else:
                yield Raw(file, first, record=dict(zip(header, row, strict=True)))
